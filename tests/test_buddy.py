"""The buddy allocator against a simple model: the blocks each node has in use.

With eager merging, the free blocks of a buddy allocator are exactly the
maximal aligned power-of-two runs of free frames (up to MAX_ORDER-1) inside
each zone, whatever the history: from the frames the model has handed out we
compute every zone's free blocks, and so what /proc/buddyinfo must say, and
which blocks __rmqueue_smallest may take, and compare after every step.
"""
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw import PAGE_SIZE
from hw.topology import parse_machine
from kmodel.core.bug import Oops
from kmodel.kernel import Kernel
from kmodel.mm.gfp import (GFP_KERNEL, GFPF_NOWARN, GFPF_THISNODE, __GFP_NOWARN,
                           __GFP_THISNODE, __GFP_ZERO)
from mm_helpers import buddyinfo, free_pages, run_script, vmstat, zonelist


def model_free_blocks(start, end, used, max_order):
    """{pfn: order}: the free blocks of zone [start, end) with the blocks used
    ([(pfn, order)]) taken: each free run cut greedily into the largest
    aligned blocks that fit, as eager merging leaves it."""
    blocks = {}
    pfn = start
    for head, order in sorted(used) + [(end, 0)]:
        while pfn < head:
            o = max_order - 1
            while pfn % (1 << o) or pfn + (1 << o) > head:
                o -= 1
            blocks[pfn] = o
            pfn += 1 << o
        pfn = max(pfn, head + (1 << order))
    return blocks


class BuddyModel:
    """What a kernel's page allocator must hold: the blocks handed out, by node."""

    def __init__(self, k):
        self.k = k
        self.spec = k.spec
        self.max_order = k.page_alloc.MAX_ORDER
        self.zones = [(n.start_pfn, n.end_pfn) for n in k.physmem.nodes]
        self.live = []                  # [(page, order)]
        self.pgalloc = self.pgfree = self.failures = 0

    def free_blocks(self, nid):
        start, end = self.zones[nid]
        used = [(p.pfn, o) for p, o in self.live if p.nid == nid]
        return model_free_blocks(start, end, used, self.max_order)

    def expected(self, nid, order, thisnode):
        """(node, heads): the node an allocation must come from and the blocks
        it may take (the free blocks of the smallest order that serves it, in
        the first zone of the zonelist that has one), or None: it must fail."""
        for z in [nid] if thisnode else zonelist(self.spec, nid):
            blocks = self.free_blocks(z)
            fits = [o for o in blocks.values() if o >= order]
            if fits:
                return z, {p for p, o in blocks.items() if o == min(fits)}
        return None

    def check(self):
        pa = self.k.page_alloc
        counts = buddyinfo(self.k)
        total = 0
        for z in pa.zones:
            want = self.free_blocks(z.nid)
            got = z.free_blocks()
            assert got == want, f"node {z.nid}'s free blocks"
            for o in range(self.max_order):
                assert {p for p, w in got.items() if w == o} == \
                    {p for p, w in want.items() if w == o}
            assert counts[z.nid] == [list(want.values()).count(o) for o in range(self.max_order)]
            assert z.free_pages == sum(1 << o for o in want.values())
            total += z.free_pages
        assert vmstat(self.k) == {"nr_free_pages": total, "nr_slab": 0,
                                  "pgalloc_normal": self.pgalloc, "pgfree": self.pgfree,
                                  "pgalloc_fail": self.failures}

    def alloc(self, nid, order, thisnode):
        k = self.k
        want = self.expected(nid, order, thisnode)
        gfp = GFP_KERNEL | GFPF_NOWARN | (GFPF_THISNODE if thisnode else 0)
        page = k.alloc_pages_node(nid, gfp, order)
        if want is None:
            assert page is None, "allocated where no free block could serve"
            self.failures += 1
            return
        assert page is not None, "failed with a free block to take"
        assert (page.nid, page.order) == (want[0], order)
        assert page.pfn in want[1], "did not take a block of the smallest order that serves"
        assert len(page.virtual) == PAGE_SIZE << order
        self.live.append((page, order))
        self.pgalloc += 1 << order

    def free(self, pick):
        page, order = self.live.pop(pick % len(self.live))
        free_pages(self.k, page, order)
        self.pgfree += 1 << order


def run_against_model(k, script):
    initial = k.fs.read("/proc/buddyinfo")
    run_script(BuddyModel(k), script)   # at the end the blocks merge back, up to the top order
    assert k.fs.read("/proc/buddyinfo") == initial
    assert k.page_alloc.allocated == {}


def buddy_ops(nr_nodes, orders, min_size, max_size):
    alloc = st.tuples(st.just("alloc"), st.integers(0, nr_nodes - 1), orders, st.booleans())
    return st.lists(st.one_of(alloc, alloc, st.tuples(st.just("free"), st.integers(0, 10**6))),
                    min_size=min_size, max_size=max_size)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(buddy_ops(2, st.integers(0, 5), 0, 60))
def test_buddy_matches_model(tiny_spec, script):
    k = Kernel(tiny_spec)
    try:
        run_against_model(k, script)
    finally:
        k.shutdown()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(buddy_ops(3, st.one_of(st.integers(0, 10), st.integers(9, 10), st.just(10)), 20, 50))
def test_buddy_matches_model_at_the_top_order(buddy_spec, script):
    """Nodes of several top-order blocks, with unaligned starts and ends: a top
    block split for any order, merged back whole, and the blocks at the edges
    that never reach the top order."""
    k = Kernel(buddy_spec)
    try:
        assert [k.page_alloc.zones[n].nr_free(10) for n in range(3)] == [3, 2, 3]
        run_against_model(k, script)
    finally:
        k.shutdown()


def test_split_gives_back_upper_halves(tiny):
    pa = tiny.page_alloc
    z = pa.zones[1]                 # 130 pages at pfn 259: blocks 259,260..263,264..
    before = [z.nr_free(o) for o in range(pa.MAX_ORDER)]
    p = tiny.alloc_pages_node(1, GFP_KERNEL, 0)
    after = [z.nr_free(o) for o in range(pa.MAX_ORDER)]
    # it took the most recently seeded block and split it down to order 0
    assert sum((1 << o) * n for o, n in enumerate(before)) - 1 == \
        sum((1 << o) * n for o, n in enumerate(after))
    tiny.__free_page(p)
    assert [z.nr_free(o) for o in range(pa.MAX_ORDER)] == before


def test_fallback_follows_distance(kernel_factory):
    k = kernel_factory("epyc-rome-nps4")
    order = [z.nid for z in k.page_alloc.zonelists[0]]
    assert order == [0, 1, 2, 3, 4, 5, 6, 7]
    assert [z.nid for z in k.page_alloc.zonelists[5]] == [5, 4, 6, 7, 0, 1, 2, 3]


def test_exhausted_node_falls_back_unless_thisnode(tiny):
    pages = []
    while True:
        p = tiny.alloc_pages_node(1, GFP_KERNEL | __GFP_THISNODE | __GFP_NOWARN, 0)
        if p is None:
            break
        assert p.nid == 1
        pages.append(p)
    assert len(pages) == tiny.page_alloc.zones[1].present_pages
    q = tiny.alloc_pages_node(1, GFP_KERNEL, 0)
    assert q is not None and q.nid == 0
    tiny.__free_page(q)
    assert tiny.alloc_pages_node(1, GFP_KERNEL | __GFP_THISNODE, 0) is None
    assert "page allocation failure. order:0, mode:0x400d0" in tiny.log.text()
    for p in pages:
        tiny.__free_page(p)


def test_gfp_zero_zeroes_a_reused_dirty_page(k):
    p = k.alloc_pages_node(0, GFP_KERNEL, 0)
    p.virtual[:] = b"\xaa" * len(p.virtual)
    pfn = p.pfn
    k.__free_page(p)
    again = k.alloc_pages_node(0, GFP_KERNEL, 0)
    assert again.pfn == pfn and bytes(again.virtual[:16]) == b"\xaa" * 16   # reused, dirty
    k.__free_page(again)
    z = k.alloc_pages_node(0, GFP_KERNEL | __GFP_ZERO, 0)
    assert z.pfn == pfn and bytes(z.virtual) == bytes(len(z.virtual))
    k.__free_page(z)


def drain(k, nid):
    """Every free block of node nid, allocated: [(page, order)], largest first."""
    blocks = []
    for order in reversed(range(k.MAX_ORDER)):
        while (p := k.alloc_pages_node(nid, GFP_KERNEL | __GFP_THISNODE | __GFP_NOWARN,
                                       order)) is not None:
            blocks.append((p, order))
    return blocks


def frame_bytes(k, pfn):
    """A frame's bytes as the node's memfd holds them (not through the linear map)."""
    fd, off = k.physmem.frame_file(pfn)
    return os.pread(fd, PAGE_SIZE, off)


@pytest.mark.parametrize("fallback", [False, True], ids=["local", "fallback"])
@pytest.mark.parametrize("order", range(11))
def test_gfp_zero_zeroes_every_page_of_a_dirty_block(buddy_spec, order, fallback):
    """Node 1 (an odd first PFN) dirtied whole and freed: a __GFP_ZERO block of
    any order carved from it reads as zeroes on every page, through the
    linear map, each page's descriptor and the memfd; the frames around it
    stay dirty.  With node 2 full, a request for node 2 falls back to node 1."""
    k = Kernel(buddy_spec)
    try:
        dirty = drain(k, 1)
        assert sum(1 << o for _, o in dirty) == k.node_present_pages(1)
        for p, o in dirty:
            p.virtual[:] = b"\xa5" * len(p.virtual)
            free_pages(k, p, o)
        held = drain(k, 2) if fallback else []
        page = k.alloc_pages_node(2 if fallback else 1, GFP_KERNEL | __GFP_ZERO, order)
        assert page.nid == 1 and page.order == order
        assert bytes(page.virtual) == bytes(PAGE_SIZE << order)
        for pfn in range(page.pfn, page.pfn + (1 << order)):
            assert bytes(k.pfn_to_page(pfn).virtual[:PAGE_SIZE]) == bytes(PAGE_SIZE)
            assert frame_bytes(k, pfn) == bytes(PAGE_SIZE), f"frame {pfn - page.pfn} of the block"
        z = k.page_alloc.zones[1]
        for pfn in (page.pfn - 1, page.pfn + (1 << order)):
            if z.start_pfn <= pfn < z.end_pfn:
                assert frame_bytes(k, pfn) == b"\xa5" * PAGE_SIZE, "zeroed beyond the block"
        free_pages(k, page, order)
        for p, o in held:
            free_pages(k, p, o)
        assert k.page_alloc.allocated == {}
    finally:
        k.shutdown()


def test_order_above_max_order_warns_and_fails(k):
    assert k.alloc_pages_node(0, GFP_KERNEL, 11) is None
    assert [(w.func, w.message) for w in k.bug.warnings] == \
        [("test_order_above_max_order_warns_and_fails", "alloc_pages: order 11 >= MAX_ORDER (11)")]
    assert "alloc_pages: order 11 >= MAX_ORDER (11)" in k.log.text()
    assert k.alloc_pages_node(0, GFP_KERNEL | __GFP_NOWARN, 11) is None
    assert len(k.bug.warnings) == 1                             # __GFP_NOWARN: quiet


def test_nid_out_of_range_is_an_oops(k):
    with pytest.raises(Oops):
        k.alloc_pages_node(7, GFP_KERNEL, 0)
    assert "node 7 out of range (0-1)" in k.log.text()


@pytest.mark.parametrize("case", ["double", "never", "order", "tail"])
def test_debug_checks_oops_and_leave_free_lists_intact(k, case):
    p = k.alloc_pages_node(0, GFP_KERNEL, 2)
    keep = k.alloc_pages_node(0, GFP_KERNEL, 0)
    if case == "double":
        k.__free_pages(p, 2)
        victim, order, words = p, 2, "double free"
    elif case == "never":
        from kmodel.mm.page import Page
        victim, order, words = Page(12345, 0, 0, None), 0, "never allocated"
    elif case == "order":
        victim, order, words = p, 1, "order-2 block with order 1"
    else:
        victim, order, words = k.pfn_to_page(p.pfn + 1), 0, "tail page"
    before = k.fs.read("/proc/buddyinfo")
    with pytest.raises(Oops, match="Bad page state"):
        k.__free_pages(victim, order)
    assert words in k.log.text()
    assert k.fs.read("/proc/buddyinfo") == before
    if case != "double":
        k.__free_pages(p, 2)
    k.__free_page(keep)
    assert k.page_alloc.allocated == {}


def test_leak_report_names_the_caller(k):
    def relay_alloc_buf_like():
        return k.alloc_pages_node(0, GFP_KERNEL, 0)
    p = relay_alloc_buf_like()
    assert k.page_alloc.leaks() == {"relay_alloc_buf_like": (1, 1)}
    k.__free_page(p)
    assert k.page_alloc.leaks() == {}


def materialize(zone, top):
    """The free lists a zone seeded block by block would have: its pristine
    top-order blocks listed one by one, in seeding order."""
    for start, end in zone.pristine:
        for pfn in range(start, end, 1 << top):
            zone.free_area[top][pfn] = None
            zone.free_order[pfn] = top
    zone.pristine = []


ops_small = st.lists(st.tuples(st.sampled_from(["alloc", "free"]), st.integers(0, 1),
                               st.integers(0, 3), st.booleans(), st.integers(0, 10**6)),
                     max_size=80)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops_small, st.sampled_from(["", "reserve_mem=32K:32K:trace"]))
def test_pristine_seeding_gives_the_choices_of_seeding_block_by_block(tiny_spec, script,
                                                                      cmdline):
    """With MAX_ORDER 3 (blocks of 4 pages at the top), the tiny machine's
    zones hold many whole top-order blocks, kept as pristine ranges (two, with
    a region reserved in the middle).  A twin kernel whose pristine blocks are
    listed one by one, as the kernel seeds them, must give the same pages for
    the same requests, and both must match the free-frame model."""
    cfg = ["CONFIG_FORCE_MAX_ZONEORDER=3"]
    lazy, eager = Kernel(tiny_spec, cfg, cmdline=cmdline), Kernel(tiny_spec, cfg, cmdline=cmdline)
    try:
        top = lazy.page_alloc.MAX_ORDER - 1
        assert any(z.pristine for z in lazy.page_alloc.zones)
        for z in eager.page_alloc.zones:
            materialize(z, top)
        assert eager.fs.read("/proc/buddyinfo") == lazy.fs.read("/proc/buddyinfo")
        free = set(range(lazy.physmem.max_pfn))
        r = lazy.reserved_mem
        if r is not None:
            free -= set(range(r.start_pfn, r.start_pfn + r.nr_pages))
        live = []
        for op, nid, order, thisnode, pick in script:
            if op == "alloc":
                gfp = GFP_KERNEL | __GFP_NOWARN | (__GFP_THISNODE if thisnode else 0)
                got = [kk.alloc_pages_node(nid, gfp, order) for kk in (lazy, eager)]
                assert [p and p.pfn for p in got] == [got[0] and got[0].pfn] * 2
                if got[0] is not None:
                    free -= set(range(got[0].pfn, got[0].pfn + (1 << order)))
                    live.append((got, order))
            elif live:
                got, order = live.pop(pick % len(live))
                for kk, p in zip((lazy, eager), got):
                    kk.__free_pages(p, order)
                free |= set(range(got[0].pfn, got[0].pfn + (1 << order)))
            info = lazy.fs.read("/proc/buddyinfo")
            assert info == eager.fs.read("/proc/buddyinfo")
            for z in lazy.page_alloc.zones:
                used = [(p, 0) for p in range(z.start_pfn, z.end_pfn) if p not in free]
                want = model_free_blocks(z.start_pfn, z.end_pfn, used, top + 1)
                assert buddyinfo(lazy)[z.nid] == [list(want.values()).count(o)
                                                  for o in range(top + 1)]
        for got, order in live:
            for kk, p in zip((lazy, eager), got):
                kk.__free_pages(p, order)
    finally:
        lazy.shutdown()
        eager.shutdown()


def test_a_machine_of_terabytes_boots_in_constant_work():
    """16 TiB, the most 2.6.29 maps on x86-64: booting it seeds two pristine
    ranges, not four million blocks (it took 49 s and 2.2 GB at 64 TiB)."""
    import time
    spec = parse_machine('distance = [[10, 20], [20, 10]]\n'
                         '[[nodes]]\nmemory = "8T"\ncpus = "0"\n'
                         '[[nodes]]\nmemory = "8T"\ncpus = "1"\n'
                         '[timing]\ndram_ns = { "10" = 90, "20" = 140 }\n')
    t = time.perf_counter()
    k = Kernel(spec)
    try:
        assert time.perf_counter() - t < 2
        zones = k.page_alloc.zones
        assert [len(z.free_area[10]) for z in zones] == [0, 0]
        assert [z.nr_free(10) for z in zones] == [(8 << 40) >> 22] * 2
        p = k.alloc_pages_node(1, GFP_KERNEL, 0)
        assert p.pfn == zones[1].end_pfn - 1024          # the last block seeded, split
        k.__free_page(p)
        assert zones[1].nr_free(10) == (8 << 40) >> 22
    finally:
        k.shutdown()
