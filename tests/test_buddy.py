"""The buddy allocator against a simple model: a set of free frames per node.

With eager merging, the free blocks of a buddy allocator are exactly the
maximal aligned power-of-two runs of free frames (up to MAX_ORDER-1) inside
each zone, whatever the history.  So from the model's set of free frames we can
compute what /proc/buddyinfo must say, and compare after every step.
"""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw.topology import parse_machine
from kmodel.core.bug import Oops
from kmodel.kernel import Kernel
from kmodel.mm.gfp import GFP_KERNEL, __GFP_NOWARN, __GFP_THISNODE, __GFP_ZERO


def model_buddyinfo(free, start, end, max_order):
    counts = [0] * max_order
    pfn = start
    while pfn < end:
        if pfn not in free:
            pfn += 1
            continue
        order = max_order - 1
        while order and (pfn % (1 << order) or pfn + (1 << order) > end
                         or not all(p in free for p in range(pfn, pfn + (1 << order)))):
            order -= 1
        counts[order] += 1
        pfn += 1 << order
    return counts


def buddyinfo_counts(text):
    return [[int(x) for x in line.split()[4:]] for line in text.splitlines()]


ops = st.lists(st.tuples(st.sampled_from(["alloc", "free"]), st.integers(0, 1),
                         st.integers(0, 5), st.booleans(), st.integers(0, 10**6)),
               max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops)
def test_buddy_matches_model(tiny_spec, script):
    k = Kernel(tiny_spec)
    try:
        zones = k.page_alloc.zones
        free = set(range(0, k.physmem.max_pfn))
        initial = buddyinfo_counts(k.fs.read("/proc/buddyinfo"))
        live = []
        for op, nid, order, thisnode, pick in script:
            if op == "alloc":
                gfp = GFP_KERNEL | __GFP_NOWARN | (__GFP_THISNODE if thisnode else 0)
                page = k.alloc_pages_node(nid, gfp, order)
                if page is None:
                    # failure is only allowed when no aligned free block could serve it
                    cands = [z for z in zones if z.nid == nid or not thisnode]
                    for z in cands:
                        assert not any(model_buddyinfo(free, z.start_pfn, z.end_pfn,
                                                       k.page_alloc.MAX_ORDER)[order:])
                    continue
                frames = set(range(page.pfn, page.pfn + (1 << order)))
                assert page.pfn % (1 << order) == 0
                assert frames <= free, "allocated a frame that was not free"
                z = zones[page.nid]
                assert z.start_pfn <= page.pfn and page.pfn + (1 << order) <= z.end_pfn
                if thisnode:
                    assert page.nid == nid
                free -= frames
                live.append((page, order))
            elif live:
                page, order = live.pop(pick % len(live))
                k.__free_pages(page, order)
                free |= set(range(page.pfn, page.pfn + (1 << order)))
            got = buddyinfo_counts(k.fs.read("/proc/buddyinfo"))
            for z in zones:
                assert got[z.nid] == model_buddyinfo(free, z.start_pfn, z.end_pfn,
                                                     k.page_alloc.MAX_ORDER)
            assert k.page_alloc.nr_free_pages() == len(free)
        for page, order in live:
            k.__free_pages(page, order)
        assert buddyinfo_counts(k.fs.read("/proc/buddyinfo")) == initial
        assert k.page_alloc.allocated == {}
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


def test_order_above_max_order_warns_and_fails(k):
    assert k.alloc_pages_node(0, GFP_KERNEL, 11) is None
    assert "order 11 >= MAX_ORDER (11)" in k.log.text()
    assert k.bug.warnings


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
                assert buddyinfo_counts(info)[z.nid] == model_buddyinfo(
                    free, z.start_pfn, z.end_pfn, top + 1)
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
