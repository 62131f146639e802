"""The buddy page allocator, one zone per node (mm/page_alloc.c).

Each node has one zone (ZONE_NORMAL) with ``MAX_ORDER`` free areas.  A free
block of order k is 2^k frames whose first PFN is a multiple of 2^k; it sits in
``free_area[k]`` and its head PFN is recorded in ``free_order`` (the kernel's
PageBuddy flag plus page_order()).

Allocating order k (``__rmqueue_smallest``) takes the most recently freed block
of the smallest order >= k that has one, and ``expand()`` gives back the upper
halves: splitting an order-3 block for an order-0 request leaves one free
block each of orders 2, 1 and 0.

Freeing (``__free_one_page``) merges: the buddy of a block at PFN p and order k
is at ``p ^ (1 << k)``.  If the buddy is free, in the same zone, and of the same
order (``page_is_buddy``), the two leave their free list, become one block of
order k+1 at ``p & ~(1 << k)``, and the test repeats one order up.

Python mangles names that start with two underscores inside a class, so the
methods are ``free_pages``/``free_page``; the kernel object exports them under
the C names ``__free_pages``/``__free_page`` too.

Free lists are insertion-ordered dicts used as stacks: O(1) removal of a buddy
from the middle, LIFO order like the kernel's list_add at the head, and the
same choices run after run.

Seeding differs.  At boot, Linux 2.6.29 gives a node's free pages to the
buddy allocator in blocks of BITS_PER_LONG pages, or page by page where some
are reserved (free_all_bootmem_core, mm/bootmem.c), and they merge up to
MAX_ORDER-1 as they go: work in proportion to the memory.  Here a zone is
seeded with the largest aligned blocks at once, and its whole top-order
blocks are not even listed: they stay a range (``Zone.pristine``), which
``_rmqueue`` takes from, highest block first, once ``free_area[top]`` is
empty.  That is the order a list seeded block by block gives out (the last
seeded first), so every choice is the same; but a node of terabytes boots in
constant work, not a dict entry (and seconds) per 4 MiB.  A pristine block is
never a buddy to look up: merging stops below the top order.

Debug checks (CONFIG_DEBUG_VM): freeing a free page, a page never allocated, a
tail page, or with the wrong order is an oops, raised before anything changes.
"""
import sys

from hw import PAGE_SHIFT, PAGE_SIZE
from kmodel.core.printk import KERN_WARNING
from kmodel.mm.fault_inject import FaultAttr, should_fail_alloc_page
from kmodel.mm.gfp import GFPF_NOWARN, GFPF_THISNODE, GFPF_ZERO
from kmodel.mm.page import Page

NUMA_NO_NODE = -1


class Zone:
    """struct zone: one node's free areas and counters."""
    __slots__ = ("nid", "start_pfn", "end_pfn", "free_area", "free_order",
                 "free_pages", "present_pages", "pristine")

    def __init__(self, nid, start_pfn, end_pfn, max_order):
        self.nid = nid
        self.start_pfn = start_pfn
        self.end_pfn = end_pfn
        self.free_area = [dict() for _ in range(max_order)]
        self.free_order = {}
        self.free_pages = 0
        self.present_pages = end_pfn - start_pfn
        # [start, end) pfn ranges of whole top-order blocks seeded and never
        # taken, in seeding order (not in free_area[top]: see the module's doc)
        self.pristine = []

    def nr_free(self, order):
        n = len(self.free_area[order])
        if order == len(self.free_area) - 1:
            n += sum(end - start for start, end in self.pristine) >> order
        return n

    def free_blocks(self):
        """free_blocks - {pfn: order} of every free block, the pristine ones
        too (a walk of all of them: for checks, not for the allocator)."""
        top = len(self.free_area) - 1
        out = dict(self.free_order)
        for start, end in self.pristine:
            out.update((pfn, top) for pfn in range(start, end, 1 << top))
        return out

    def take_pristine(self, order):
        """The highest pristine block (of the top order), or None."""
        if not self.pristine:
            return None
        rng = self.pristine[-1]
        rng[1] -= 1 << order
        if rng[1] == rng[0]:
            self.pristine.pop()
        return rng[1]


class Allocation:
    """What the allocator remembers of a live block: order and caller."""
    __slots__ = ("order", "caller")

    def __init__(self, order, caller):
        self.order = order
        self.caller = caller


def caller_name(code):
    return code.co_name if code is not None else "?"


class PageAllocator:
    """The page allocator of one kernel: a zone per node and the zonelists."""

    def __init__(self, kernel):
        self.k = kernel
        self.physmem = kernel.physmem
        self.log = kernel.log
        self.bug = kernel.bug
        self.MAX_ORDER = kernel.config["CONFIG_FORCE_MAX_ZONEORDER"]
        spec = kernel.spec
        self.zones = []
        r = kernel.reserved_mem         # memblock_reserve()d: never seeded
        for node in self.physmem.nodes:
            z = Zone(node.nid, node.start_pfn, node.end_pfn, self.MAX_ORDER)
            if r is not None and node.start_pfn <= r.start_pfn < node.end_pfn:
                self._free_range(z, node.start_pfn, r.start_pfn)
                self._free_range(z, r.start_pfn + r.nr_pages, node.end_pfn)
                z.present_pages -= r.nr_pages
            else:
                self._free_range(z, node.start_pfn, node.end_pfn)
            self.zones.append(z)
        # build_zonelists(): every node, nearest first, ties by node id.
        self.zonelists = [
            [self.zones[m] for m in sorted(range(spec.nr_nodes),
                                           key=lambda m, n=n: (spec.distance[n][m], m))]
            for n in range(spec.nr_nodes)]
        self.nr_nodes = len(self.zones)
        self.allocated = {}         # head pfn -> Allocation
        self.freed_by = {}          # head pfn -> code that freed it, until reused
        self.mem_map = {}           # pfn -> Page, for frames in use
        self.fail_page_alloc = FaultAttr("fail_page_alloc", seed=kernel.seed)
        self.pgalloc = 0
        self.pgfree = 0
        self.alloc_failures = 0

    def _free_range(self, zone, start, end):
        """Seed a zone with the largest aligned blocks that fit [start, end):
        the whole top-order blocks as one pristine range, the pieces before
        and after them block by block."""
        top = self.MAX_ORDER - 1
        lo = -(-start >> top) << top                # the first and last whole
        hi = end >> top << top                      # top-order block's bounds
        if lo >= hi:
            self._free_blocks(zone, start, end)
            return
        self._free_blocks(zone, start, lo)
        zone.pristine.append([lo, hi])
        zone.free_pages += hi - lo
        self._free_blocks(zone, hi, end)

    def _free_blocks(self, zone, start, end):
        """Put the largest aligned blocks that fit [start, end) on the free lists."""
        pfn = start
        top = self.MAX_ORDER - 1
        while pfn < end:
            order = top
            while order and (pfn & ((1 << order) - 1) or pfn + (1 << order) > end):
                order -= 1
            zone.free_area[order][pfn] = None
            zone.free_order[pfn] = order
            zone.free_pages += 1 << order
            pfn += 1 << order

    # --- allocation ---------------------------------------------------------
    def _rmqueue(self, zone, order):
        """__rmqueue_smallest + expand: take a block of exactly order, or None."""
        free_area = zone.free_area
        free_order = zone.free_order
        top = self.MAX_ORDER - 1
        for current in range(order, self.MAX_ORDER):
            area = free_area[current]
            if area:
                pfn, _ = area.popitem()
                del free_order[pfn]
            elif current == top and zone.pristine:
                pfn = zone.take_pristine(top)
            else:
                continue
            # expand(): hand back the upper half at each order on the way down.
            while current > order:
                current -= 1
                half = pfn + (1 << current)
                free_area[current][half] = None
                free_order[half] = current
            zone.free_pages -= 1 << order
            return pfn
        return None

    def alloc_pages_internal(self, gfp, order, nid, caller):
        """alloc_pages_internal - __alloc_pages_internal(), the heart of the allocator.

        Mirrors mm/page_alloc.c of 2.6.29 without reclaim, watermarks or
        per-CPU lists: a failed pass over the zonelist is final.  Returns a Page
        or None (and logs a page allocation failure unless __GFP_NOWARN).
        """
        if order >= self.MAX_ORDER:
            self.bug.WARN(not gfp & GFPF_NOWARN,
                          f"alloc_pages: order {order} >= MAX_ORDER ({self.MAX_ORDER})",
                          depth=3)
            self.alloc_failures += 1
            return None
        if self.fail_page_alloc.probability and should_fail_alloc_page(
                self.fail_page_alloc, gfp, order, nid, self.log):
            pfn = None
        else:
            zonelist = [self.zones[nid]] if gfp & GFPF_THISNODE else self.zonelists[nid]
            pfn = None
            for zone in zonelist:
                pfn = self._rmqueue(zone, order)
                if pfn is not None:
                    break
        if pfn is None:
            self.alloc_failures += 1
            if not gfp & GFPF_NOWARN:
                self.log.printk(KERN_WARNING + f"{self.k.current_comm()}: page allocation "
                                f"failure. order:{order}, mode:{gfp:#x}")
            return None
        node = self.physmem.nodes[zone.nid]
        off = (pfn - node.start_pfn) << PAGE_SHIFT
        page = Page(pfn, zone.nid, order, node.view[off:off + (PAGE_SIZE << order)])
        self.mem_map[pfn] = page
        self.allocated[pfn] = Allocation(order, caller)
        self.freed_by.pop(pfn, None)
        self.pgalloc += 1 << order
        if gfp & GFPF_ZERO:
            self.physmem.zero(pfn, 1 << order)
        return page

    def _check_nid(self, nid, fn):
        if nid == NUMA_NO_NODE:
            return self.k.numa_node_id()
        if not isinstance(nid, int) or not 0 <= nid < len(self.zones):
            self.bug.BUG(f"{fn}: node {nid} out of range (0-{len(self.zones) - 1})", depth=3)
        return nid

    def alloc_pages_node(self, nid, gfp, order):
        """alloc_pages_node - allocate 2^order pages, preferably on node nid.

        Falls back to other nodes by distance unless __GFP_THISNODE; nid -1
        means the current CPU's node.  Returns the head Page or None.
        """
        if nid.__class__ is not int or not 0 <= nid < self.nr_nodes:
            nid = self._check_nid(nid, "alloc_pages_node")
        return self.alloc_pages_internal(gfp, order, nid, sys._getframe(1).f_code)

    def alloc_pages(self, gfp, order):
        """alloc_pages - allocate 2^order pages on the current CPU's node first."""
        return self.alloc_pages_internal(gfp, order, self.k.numa_node_id(), sys._getframe(1).f_code)

    def alloc_page(self, gfp):
        """alloc_page - one page on the current CPU's node first."""
        return self.alloc_pages_internal(gfp, 0, self.k.numa_node_id(), sys._getframe(1).f_code)

    # --- freeing ------------------------------------------------------------
    def _bad_page(self, pfn, reason):
        self.bug.oops(f"BUG: Bad page state in process {self.k.current_comm()}  pfn:{pfn:05x}",
                      (reason,), depth=3)

    def free_pages(self, page, order):
        """free_pages - __free_pages(): give back 2^order pages headed by page.

        Checks first (double free, never allocated, tail page, wrong order),
        then __free_one_page() merges with free buddies.
        """
        self.free_pages_internal(page, order, sys._getframe(1).f_code)

    def free_pages_internal(self, page, order, caller):
        pfn = page.pfn
        a = self.allocated.get(pfn)
        if a is None:
            if self.mem_map.get(pfn) is not page and page.head is not None:
                self._bad_page(pfn, f"freeing a tail page of the block at pfn:{page.head.pfn:05x}")
            if pfn in self.freed_by:
                self._bad_page(pfn, "freeing a free page (double free); it was freed by "
                               f"{caller_name(self.freed_by[pfn])}()")
            self._bad_page(pfn, "freeing a page that was never allocated")
        if a.order != order:
            self._bad_page(pfn, f"freeing an order-{a.order} block with order {order}")
        if self.mem_map[pfn] is not page:
            self._bad_page(pfn, "freeing through a page descriptor the allocator did not give")
        del self.allocated[pfn]
        del self.mem_map[pfn]
        self.freed_by[pfn] = caller
        self.pgfree += 1 << order
        zone = self.zones[page.nid]
        zone.free_pages += 1 << order
        # __free_one_page(): merge with the buddy while it is free and whole.
        # page_is_buddy() also asks that the buddy be in the same zone: a zone's
        # free_order only holds its own blocks, so the lookup answers both.
        free_area = zone.free_area
        free_order = zone.free_order
        top = self.MAX_ORDER - 1
        while order < top:
            buddy = pfn ^ (1 << order)
            if free_order.get(buddy) != order:
                break
            del free_area[order][buddy]
            del free_order[buddy]
            pfn &= buddy
            order += 1
        free_area[order][pfn] = None
        free_order[pfn] = order

    def free_page(self, page):
        """free_page - __free_page(): give back one page."""
        self.free_pages_internal(page, 0, sys._getframe(1).f_code)

    def pfn_to_page(self, pfn):
        """pfn_to_page - the descriptor of a frame in use (tail pages made on demand)."""
        page = self.mem_map.get(pfn)
        if page is not None:
            return page
        for order in range(1, self.MAX_ORDER):
            head = pfn & ~((1 << order) - 1)
            a = self.allocated.get(head)
            if a is not None and a.order >= order:
                hp = self.mem_map[head]
                return Page(pfn, hp.nid, 0, hp.virtual[(pfn - head) << PAGE_SHIFT:], head=hp)
        return None

    # --- reporting ----------------------------------------------------------
    def nr_free_pages(self, nid=None):
        zs = self.zones if nid is None else [self.zones[nid]]
        return sum(z.free_pages for z in zs)

    def leaks(self):
        """leaks - {caller name: (blocks, pages)} of what is still allocated."""
        out = {}
        for a in self.allocated.values():
            n, p = out.get(caller_name(a.caller), (0, 0))
            out[caller_name(a.caller)] = (n + 1, p + (1 << a.order))
        return out
