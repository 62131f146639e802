import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw import PAGE_SHIFT, PAGE_SIZE
from kmodel.core.bug import Oops
from kmodel.kernel import Kernel
from kmodel.mm.gfp import GFP_KERNEL, GFPF_NOWARN
from kmodel.mm.pgtable import PGDIR_SIZE
from kmodel.mm.slab import ZERO_SIZE_PTR
from kmodel.mm.vmalloc import VMALLOC_START
from mm_helpers import buddyinfo, meminfo_kb, run_script, vmstat, zonelist


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
    assert [(w.func, w.message) for w in k.bug.warnings] == \
        [("test_kmalloc_limits", "kmalloc: size 4194305 > KMALLOC_MAX_SIZE (4194304)")]
    assert k.kmalloc((4 << 20) + 1, GFP_KERNEL | GFPF_NOWARN) is None
    assert len(k.bug.warnings) == 1                             # __GFP_NOWARN: quiet


def test_double_kfree_is_an_oops(k):
    a = k.kmalloc(100, GFP_KERNEL)
    k.kfree(a)
    with pytest.raises(Oops, match="kfree of an object that is not allocated"):
        k.kfree(a)
    assert k.slab.live == {}


# --- a model of kmalloc and kfree: live objects and the slab pages they hold ------
# kmodel's general caches (docs/mm.md): include/linux/kmalloc_sizes.h's list
# (checked in 2.6.32) with 96 and 192, which the kernel has only where
# L1_CACHE_BYTES is below 64 and 128, up to KMALLOC_MAX_SIZE: 4 MiB with
# MAX_ORDER 11.
CLASSES = [32, 64, 96, 128, 192] + [256 << i for i in range(15)]


def size_class(size):
    return next(c for c in CLASSES if c >= size)


def slab_order(cls):
    """kmodel's slab is the smallest block that holds one object (order 0 up to a page)."""
    return max(0, (cls - 1).bit_length() - PAGE_SHIFT)


def per_slab(cls):
    return max(1, (PAGE_SIZE << slab_order(cls)) // cls)


class SlabModel:
    """The live objects (with their size, size class and node), and so the
    slabs and pages they hold.  Which slab an object lands in is the
    allocator's choice, read from its record; the model checks the choice is
    one the allocator may make: a new slab only when none of the cache's
    slabs has room, on the requested node while that node has a block of the
    slab's order."""

    def __init__(self, k):
        self.k = k
        self.free0 = [z.free_pages for z in k.page_alloc.zones]
        self.live = {}              # id(obj) -> (obj, size, class, node)

    def slabs(self):
        """{head pfn of a slab: (class, node, [objects])}, as the allocator placed them."""
        out = {}
        for key, (obj, size, cls, nid) in self.live.items():
            pfn = self.k.slab.live[key].slab.page.pfn
            out.setdefault(pfn, (cls, nid, []))[2].append(obj)
        return out

    def alloc(self, size, nid):
        k = self.k
        cls = size_class(size)
        order = slab_order(cls)
        room = any(c == cls and n == nid and len(objs) < per_slab(cls)
                   for c, n, objs in self.slabs().values())
        counts = buddyinfo(k)
        nodes = [n for n in zonelist(k.spec, nid) if any(counts[n][order:])]
        before = set(self.slabs())
        obj = k.kmalloc_node(size, GFP_KERNEL | GFPF_NOWARN, nid)
        if obj is None:
            assert not room and not nodes, "kmalloc failed with room for the object"
            return
        assert len(obj) == size and k.slab.ksize(obj) == cls
        where = nid if room else nodes[0]
        assert k.slab.kobj_to_nid(obj) == where
        self.live[id(obj)] = (obj, size, cls, where)
        if room:
            assert set(self.slabs()) == before, "a new slab while the cache had room"

    def free(self, pick):
        keys = sorted(self.live)
        obj = self.live.pop(keys[pick % len(keys)])[0]
        self.k.kfree(obj)

    def check(self):
        k = self.k
        pa = k.page_alloc
        pages = [0] * len(pa.zones)
        for pfn, (cls, nid, objs) in self.slabs().items():
            assert len(objs) <= per_slab(cls)
            assert pa.allocated[pfn].order == slab_order(cls), "the slab's pages"
            assert k.pfn_to_page(pfn).nid == nid
            pages[nid] += 1 << slab_order(cls)
        assert set(pa.allocated) == set(self.slabs()), "a page not given back"
        assert k.slab.slab_pages == pages
        assert [z.free_pages for z in pa.zones] == [f - p for f, p in zip(self.free0, pages)]
        assert vmstat(k)["nr_slab"] == sum(pages)
        assert meminfo_kb(k, "Slab") == sum(pages) * PAGE_SIZE // 1024
        objs = [(size, cls) for _, size, cls, _ in self.live.values()]
        assert k.leaks() == ({"alloc": (0, len(objs), sum(s for s, _ in objs))} if objs else {})


SIZES = st.one_of(st.integers(1, PAGE_SIZE), st.integers(PAGE_SIZE + 1, 4 << 20),
                  st.integers(2 << 20, 4 << 20), st.integers(2 << 20, 4 << 20),
                  st.sampled_from([c + d for c in CLASSES for d in (-1, 0, 1) if 0 < c + d <= 4 << 20]))
ALLOC = st.tuples(st.just("alloc"), SIZES, st.integers(0, 2))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(ALLOC, ALLOC, ALLOC, st.tuples(st.just("free"), st.integers(0, 10**6))),
                min_size=20, max_size=50))
def test_kmalloc_matches_a_model_of_objects_and_pages(buddy_spec, script):
    """Mixed sizes, up to KMALLOC_MAX_SIZE (slabs of up to 1024 pages), on
    nodes of 12 to 14 MiB: slabs land on other nodes when one is full, and
    allocations fail when none has the block.  After every step the slab
    pages, the node accounting, meminfo, vmstat and the leak report agree
    with the model; kfree of the last object of a slab gives all its pages
    back."""
    k = Kernel(buddy_spec)
    try:
        run_script(SlabModel(k), script)
        assert k.page_alloc.allocated == {} and k.slab.slab_pages == [0, 0, 0]
    finally:
        k.shutdown()


def test_largest_kmalloc_falls_back_by_distance_then_fails(buddy_spec):
    """4 MiB objects for node 0: a 1024-page slab each, three from node 0,
    then node 1's two and node 2's three (the zonelist), then a failure."""
    k = Kernel(buddy_spec)
    try:
        objs = []
        for _ in range(8):
            objs.append(k.kmalloc_node(4 << 20, GFP_KERNEL, 0))
        assert [k.slab.kobj_to_nid(o) for o in objs] == [0, 0, 0, 1, 1, 2, 2, 2]
        assert k.slab.slab_pages == [3072, 2048, 3072]
        assert [z.nr_free(10) for z in k.page_alloc.zones] == [0, 0, 0]
        assert k.kmalloc_node(4 << 20, GFP_KERNEL, 0) is None
        assert "kmalloc failure. size:4194304, node:0" in k.log.text()
        assert k.leaks() == {"test_largest_kmalloc_falls_back_by_distance_then_fails":
                             (0, 8, 8 << 22)}
        for o in objs[::2]:
            k.kfree(o)
        assert k.slab.slab_pages == [1024, 1024, 2048]
        for o in objs[1::2]:
            k.kfree(o)
        assert k.slab.slab_pages == [0, 0, 0] and k.page_alloc.allocated == {}
        assert [z.nr_free(10) for z in k.page_alloc.zones] == [3, 2, 3]
    finally:
        k.shutdown()


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
    assert [(w.func, w.message) for w in k.bug.warnings] == \
        [("test_vfree_of_nothing_warns", "Trying to vfree() nonexistent vm area (0xffffc20000123000)")]
    assert "Trying to vfree() nonexistent vm area" in k.log.text()


def test_vmalloc_faults_on_lazy_sync_preset(kernel_factory):
    """An area in the boot-time slot is in every address space; one in a slot
    init_mm gains later is not, until each CPU's address space faults it in
    (once per slot: a touch spanning 3 pages takes 1 fault), or
    vmalloc_sync_all() copies it everywhere."""
    k = kernel_factory("nehalem-2009")
    area = k.vmalloc(4 * PAGE_SIZE)
    assert not area.lazy
    used = area.addr + area.size
    k.vm.get_vm_area(VMALLOC_START + PGDIR_SIZE - used - PAGE_SIZE, 0, None)
    far = k.vmalloc(4 * PAGE_SIZE)
    assert far.addr == VMALLOC_START + PGDIR_SIZE and far.lazy
    c0, c4 = k.timing.cpus[0], k.timing.cpus[4]
    assert k.vm.vmalloc_touch(far, 100, 2 * PAGE_SIZE) == 1       # CPU 0: slot 389
    assert k.vm.vmalloc_touch(far, 0, 10) == 0                     # already there
    with k.on_cpu(4):
        assert k.vm.vmalloc_touch(far, 0, 10) == 1                 # another address space
    assert c0.vmalloc_faults == 1 and c4.vmalloc_faults == 1
    k.vmalloc_sync_all()
    assert not far.lazy and all(389 in mm.pgd for mm in k.vm.pgd_list.values())
    modern = kernel_factory("numa2").vmalloc(PAGE_SIZE)
    assert not modern.lazy
