"""kmalloc and friends (mm/slab.c, include/linux/slab.h).

Objects are Python objects, but their memory is real: each size class keeps,
per node, slabs made of pages from the buddy allocator, and each object takes
one slot of a slab.  So kmalloc'd memory shows in /proc/meminfo's Slab line,
competes with page allocations for a node's memory, and can be failed by
failslab.  When a slab's last object is freed its pages go back at once (the
kernel keeps a few; giving them back makes leak checks exact).

``kmalloc_node(what, gfp, node)``: ``what`` is a size in bytes (you get a
zeroed bytearray of that size) or a structure class with a ``SIZEOF`` (you get
a new instance).  Sizes follow the kernel's general caches: 32, 64, 96, 128,
192, 256, ... up to KMALLOC_MAX_SIZE.
"""
import sys

from hw import PAGE_SHIFT, PAGE_SIZE
from kmodel.core.printk import KERN_WARNING
from kmodel.mm.fault_inject import FaultAttr, should_failslab
from kmodel.mm.gfp import GFPF_NOWARN
from kmodel.mm.page_alloc import NUMA_NO_NODE, caller_name


class _ZeroSizePtr:
    """ZERO_SIZE_PTR: what kmalloc(0) returns; kfree takes it, nothing else may."""
    __slots__ = ()

    def __repr__(self):
        return "ZERO_SIZE_PTR"


ZERO_SIZE_PTR = _ZeroSizePtr()


def get_order(size):
    """get_order - the smallest order whose block holds size bytes."""
    order = 0
    while (PAGE_SIZE << order) < size:
        order += 1
    return order


class Slab:
    __slots__ = ("page", "order", "capacity", "inuse")

    def __init__(self, page, order, capacity):
        self.page = page
        self.order = order
        self.capacity = capacity
        self.inuse = 0


class KmemCache:
    """One general cache (size class) on one node."""
    __slots__ = ("size", "nid", "order", "per_slab", "partial", "full")

    def __init__(self, size, nid):
        self.size = size
        self.nid = nid
        self.order = get_order(size)
        self.per_slab = max(1, (PAGE_SIZE << self.order) // size)
        self.partial = {}       # Slab -> None, slabs with a free slot
        self.full = {}

    @property
    def name(self):
        return f"size-{self.size}"


class SlabObject:
    __slots__ = ("obj", "cache", "slab", "size", "caller")

    def __init__(self, obj, cache, slab, size, caller):
        self.obj = obj
        self.cache = cache
        self.slab = slab
        self.size = size
        self.caller = caller


class SlabAllocator:
    def __init__(self, kernel, page_alloc):
        self.k = kernel
        self.pa = page_alloc
        self.bug = kernel.bug
        self.log = kernel.log
        max_order = page_alloc.MAX_ORDER
        self.KMALLOC_MAX_SIZE = 1 << min(max_order + PAGE_SHIFT - 1, 25)
        sizes = [32, 64, 96, 128, 192]
        s = 256
        while s <= self.KMALLOC_MAX_SIZE:
            sizes.append(s)
            s <<= 1
        self.sizes = sizes
        self.caches = {}            # (size, nid) -> KmemCache
        self.live = {}              # id(obj) -> SlabObject
        self.failslab = FaultAttr("failslab", seed=kernel.seed + 1)
        self.slab_pages = [0] * len(page_alloc.zones)

    def _size_class(self, size):
        for s in self.sizes:
            if size <= s:
                return s
        return None

    def _cache(self, size, nid):
        c = self.caches.get((size, nid))
        if c is None:
            c = self.caches[(size, nid)] = KmemCache(size, nid)
        return c

    def __kmalloc_node(self, what, gfp, nid, caller):
        if isinstance(what, int):
            size, make = what, None
        else:
            size, make = what.SIZEOF, what
        if size == 0:
            return ZERO_SIZE_PTR
        cls = self._size_class(size)
        if cls is None:
            self.bug.WARN(not gfp & GFPF_NOWARN,
                          f"kmalloc: size {size} > KMALLOC_MAX_SIZE ({self.KMALLOC_MAX_SIZE})",
                          depth=3)
            return None
        if nid == NUMA_NO_NODE:
            nid = self.k.numa_node_id()
        if self.failslab.probability > 0 and should_failslab(
                self.failslab, size, gfp, nid, self.log):
            return None
        cache = self._cache(cls, nid)
        if cache.partial:
            slab = next(iter(cache.partial))
        else:
            # cache_grow(): a new slab from the page allocator, on this node first.
            page = self.pa.alloc_pages_internal(gfp | GFPF_NOWARN, cache.order, nid, caller)
            if page is None:
                if not gfp & GFPF_NOWARN:
                    self.log.printk(KERN_WARNING + f"{self.k.current_comm()}: kmalloc failure. "
                                    f"size:{size}, node:{nid}, mode:{gfp:#x}")
                return None
            if page.nid != nid:
                # The slab landed elsewhere: account it to the node it is on.
                cache = self._cache(cls, page.nid)
            slab = Slab(page, cache.order, cache.per_slab)
            cache.partial[slab] = None
            self.slab_pages[page.nid] += 1 << cache.order
        slab.inuse += 1
        if slab.inuse == slab.capacity:
            del cache.partial[slab]
            cache.full[slab] = None
        obj = bytearray(size) if make is None else make()
        self.live[id(obj)] = SlabObject(obj, cache, slab, size, caller)
        return obj

    def kmalloc_node(self, what, gfp, nid):
        """kmalloc_node - an object of size (or type) what, from node nid's slabs."""
        return self.__kmalloc_node(what, gfp, nid, sys._getframe(1).f_code)

    def kmalloc(self, what, gfp):
        """kmalloc - kmalloc_node on the current CPU's node."""
        return self.__kmalloc_node(what, gfp, NUMA_NO_NODE, sys._getframe(1).f_code)

    kzalloc = kmalloc               # Python objects are born zeroed
    kzalloc_node = kmalloc_node

    def kfree(self, obj):
        """kfree - free an object from kmalloc; None and ZERO_SIZE_PTR are no-ops.

        Freeing something that is not a live kmalloc object (a double free, or
        something never allocated) is an oops; nothing changes.
        """
        if obj is None or obj is ZERO_SIZE_PTR:
            return
        so = self.live.get(id(obj))
        if so is None or so.obj is not obj:
            self.bug.oops("kernel BUG at mm/slab.c: kfree of an object that is not allocated",
                          (f"object: {type(obj).__name__} (double free or invalid pointer)",),
                          depth=2)
        del self.live[id(obj)]
        cache, slab = so.cache, so.slab
        if slab.inuse == slab.capacity:
            del cache.full[slab]
            cache.partial[slab] = None
        slab.inuse -= 1
        if slab.inuse == 0:
            del cache.partial[slab]
            self.slab_pages[cache.nid] -= 1 << slab.order
            self.pa.free_pages(slab.page, slab.order)

    def kobj_to_nid(self, obj):
        """kobj_to_nid - page_to_nid(virt_to_page(obj)): the node holding an object."""
        so = self.live.get(id(obj))
        return None if so is None else so.cache.nid

    def ksize(self, obj):
        so = self.live.get(id(obj))
        return 0 if so is None else so.cache.size

    def leaks(self):
        """leaks - {caller name: (objects, bytes)} still allocated."""
        out = {}
        for so in self.live.values():
            n, b = out.get(caller_name(so.caller), (0, 0))
            out[caller_name(so.caller)] = (n + 1, b + so.size)
        return out
