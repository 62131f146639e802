from hw import PAGE_SIZE
from kmodel.mm.gfp import GFP_KERNEL


def test_bytes_are_shared_between_linear_map_memfd_and_alias(k):
    a = k.alloc_pages_node(0, GFP_KERNEL, 0)
    b = k.alloc_pages_node(1, GFP_KERNEL, 0)
    area = k.vmap([a, b], 2)
    data = bytes(range(200))
    # One slice assignment across the page boundary of the alias...
    area.view[PAGE_SIZE - 100: PAGE_SIZE + 100] = data
    # ...lands at the end of frame a and the start of frame b, on two nodes.
    assert bytes(a.virtual[PAGE_SIZE - 100:PAGE_SIZE]) == data[:100]
    assert bytes(b.virtual[:100]) == data[100:]
    import os
    fd, off = k.physmem.frame_file(b.pfn)
    assert os.pread(fd, 100, off) == data[100:]
    # and the other way: the linear map writes, the alias reads
    b.virtual[500:504] = b"kmod"
    assert bytes(area.view[PAGE_SIZE + 500:PAGE_SIZE + 504]) == b"kmod"
    k.vunmap(area)
    k.__free_page(a)
    k.__free_page(b)
    assert k.mmu.live == {}


def test_big_machine_boots_without_touching_its_memory(kernel_factory):
    """1 TiB of emulated RAM, and not one page of it backed on the host: the
    memfds hold no blocks until something writes.  (The RSS goal is in bench/.)"""
    import os
    k = kernel_factory("big-16n")
    assert k.page_alloc.nr_free_pages() == 1 << 28
    assert sum(n.nr_pages for n in k.physmem.nodes) << 12 == 1 << 40
    assert all(os.fstat(n.fd).st_blocks == 0 for n in k.physmem.nodes)
    p = k.alloc_pages_node(7, 0xd0, 0)
    p.virtual[:1] = b"x"
    assert os.fstat(k.physmem.nodes[7].fd).st_blocks > 0
    assert os.fstat(k.physmem.nodes[6].fd).st_blocks == 0
