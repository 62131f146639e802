import pytest

from hw import PAGE_SIZE
from kmodel.core.bug import Oops
from kmodel.mm.gfp import GFP_KERNEL
from kmodel.mm.slab import ZERO_SIZE_PTR


class buf_page_like:
    SIZEOF = 40
    __slots__ = ("x",)


def test_kmalloc_node_accounts_objects_to_nodes_and_slabs(k):
    a = k.kmalloc_node(buf_page_like, GFP_KERNEL, 1)
    assert isinstance(a, buf_page_like)
    assert k.slab.kobj_to_nid(a) == 1 and k.slab.ksize(a) == 64
    assert k.slab.slab_pages == [0, 1]
    b = k.kmalloc_node(buf_page_like, GFP_KERNEL, 1)
    assert k.slab.slab_pages == [0, 1]             # same slab: 64 objects per page
    assert "Slab:                  4 kB" in k.fs.read("/proc/meminfo")
    k.kfree(a)
    k.kfree(b)
    assert k.slab.slab_pages == [0, 0] and k.page_alloc.allocated == {}


def test_kmalloc_limits(k):
    assert k.kmalloc(0, GFP_KERNEL) is ZERO_SIZE_PTR
    k.kfree(ZERO_SIZE_PTR)
    k.kfree(None)
    assert k.slab.KMALLOC_MAX_SIZE == 4 << 20
    assert k.kmalloc(4 << 20, GFP_KERNEL) is not None
    assert k.kmalloc((4 << 20) + 1, GFP_KERNEL) is None
    assert "KMALLOC_MAX_SIZE" in k.log.text()


def test_double_kfree_is_an_oops(k):
    a = k.kmalloc(100, GFP_KERNEL)
    k.kfree(a)
    with pytest.raises(Oops, match="kfree of an object that is not allocated"):
        k.kfree(a)
    assert k.slab.live == {}


def test_vmalloc_page_array_kmalloc_then_vmalloc(k):
    small = k.vmalloc(16 * PAGE_SIZE)          # 16 pointers: kmalloc'd array
    big = k.vmalloc_node(1024 * PAGE_SIZE, 1)  # 8 KiB of pointers: vmalloc'd array
    assert small.nr_pages == 16 and big.nr_pages == 1024
    assert all(p.nid == 1 for p in big.pages)
    info = k.fs.read("/proc/vmallocinfo")
    assert "pages=1024 vmalloc vpages N1=1024" in info
    assert info.count("\n") == 3               # small, big, big's page array
    assert k.vmalloc_to_page(big.addr + 5 * PAGE_SIZE + 7) is big.pages[5]
    k.vfree(small)
    k.vfree(big.addr)
    assert k.fs.read("/proc/vmallocinfo") == ""
    assert k.page_alloc.allocated == {} and k.slab.live == {} and k.mmu.live == {}


def test_vmalloc_failure_frees_what_it_took(k):
    k.fs.write("/sys/kernel/debug/fail_page_alloc/min-order", "0")
    k.fs.write("/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N")
    k.fs.write("/sys/kernel/debug/fail_page_alloc/space", "10")
    k.fs.write("/sys/kernel/debug/fail_page_alloc/probability", "100")
    assert k.vmalloc(32 * PAGE_SIZE) is None
    assert k.page_alloc.allocated == {} and k.slab.live == {} and k.vm.vmlist == []


def test_vfree_of_nothing_warns(k):
    k.vfree(0xFFFFC20000123000)
    assert "Trying to vfree() nonexistent vm area" in k.log.text()


def test_vmalloc_faults_on_lazy_sync_preset(kernel_factory):
    k = kernel_factory("nehalem-2009")
    area = k.vmalloc(4 * PAGE_SIZE)
    c0, c4 = k.timing.cpus[0], k.timing.cpus[4]
    assert area.lazy
    assert k.vm.vmalloc_touch(area, c0, 100, 2 * PAGE_SIZE) == 3   # pages 0,1,2
    assert k.vm.vmalloc_touch(area, c0, 0, 10) == 0                 # already synced
    assert k.vm.vmalloc_touch(area, c4, 0, 10) == 1                 # other address space
    assert c0.vmalloc_faults == 3 and c4.vmalloc_faults == 1
    k.vmalloc_sync_all()
    assert not area.lazy
    modern = kernel_factory("numa2").vmalloc(PAGE_SIZE)
    assert not modern.lazy
