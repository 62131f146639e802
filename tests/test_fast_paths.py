"""The written-out fast paths of a stream (the page list's page turn and runs,
stream.account_run, the contiguous backends' run of page changes in _account)
against the page-by-page loop they replace.

With a tracepoint attached, every backend takes its page-by-page path; without,
the fast one.  The same script of writes and reads on two kernels must leave
the same bytes, the same cache pointers and the same modeled counters."""
from hypothesis import given, settings, strategies as st

from hw import PAGE_SIZE
from kmodel.core.tracepoint import tracing
from kmodel.kernel import boot
from kmodel.relay.relay_alloc import ltt_relay_read, ltt_relay_write
from kmodel.relay.relay_trace import trace_relay_copy
from relay_helpers import RelayEnv

SIZE = 64 * PAGE_SIZE
OPS = st.lists(st.tuples(st.booleans(), st.integers(0, SIZE - 1),
                         st.integers(1, 6 * PAGE_SIZE), st.integers(0, 255)),
               min_size=1, max_size=15)


def fragment(k, nid, n):
    """Leave n free frames on node nid with no two adjacent: take 2n frames,
    give back every other one (its buddy is held, so nothing merges).  The
    next allocations on the node take them."""
    pages = [k.alloc_pages_node(nid, 0, 0) for _ in range(2 * n)]
    for p in pages[1::2]:
        k.__free_page(p)
    return pages[0::2]


def run(machine, backend, script, traced, scattered=False):
    k = boot(machine)
    try:
        env = RelayEnv(k)
        if scattered:
            fragment(k, k.cpu_to_node(1), 1024)     # enough for every CPU of the node
        chan = env.open(SIZE // 4, 4, backend=backend)
        buf = chan.buf[1]
        if scattered:
            assert all(d.run_end == d.offset + PAGE_SIZE for d in buf.descs)
        reads = []
        probes = {trace_relay_copy: lambda *a: None} if traced else {}
        with tracing(probes):
            for is_write, offset, length, fill in script:
                length = min(length, SIZE - offset)     # never past the end
                if is_write:
                    ltt_relay_write(buf, offset, bytes([fill]) * length, length)
                else:
                    out = bytearray(length)
                    ltt_relay_read(buf, offset, out, length)
                    reads.append(bytes(out))
        t = k.timing.totals()
        dtlb = buf.cost.dtlb                # the LRU order too, not only the counts
        t["tlb_state"] = ([l1.keys() for l1 in dtlb.l1], dtlb.stlb.keys())
        whole = bytearray(SIZE)
        for off in range(0, SIZE, PAGE_SIZE):
            ltt_relay_read(buf, off, memoryview(whole)[off:off + PAGE_SIZE], PAGE_SIZE)
        pointers = (buf.wpage.offset, buf.rpage.offset)
        return reads, t, pointers, bytes(whole)
    finally:
        k.shutdown()


@settings(max_examples=60, deadline=None)
@given(script=OPS, backend=st.sampled_from(["pagelist", "vmap", "static"]),
       machine=st.sampled_from(["numa2", "nehalem-2009"]))
def test_fast_paths_count_what_the_page_loop_counts(script, backend, machine):
    assert run(machine, backend, script, False) == run(machine, backend, script, True)


@settings(max_examples=25, deadline=None)
@given(script=OPS)
def test_a_page_list_of_scattered_frames_counts_what_the_page_loop_counts(script):
    """No two frames of the buffer are adjacent: every run is one page, so a
    copy across pages must not be one slice (it would write other frames)."""
    assert run("numa2", "pagelist", script, False, True) == \
        run("numa2", "pagelist", script, True, True)


def test_runs_follow_the_frames():
    """buf_page.run covers exactly the following pages whose frames are next
    to each other in the node's linear map, and its bytes are theirs."""
    k = boot("numa2")
    try:
        env = RelayEnv(k)
        held = fragment(k, k.cpu_to_node(0), 40)      # CPU 0's buffer comes first:
        buf = env.open(SIZE // 4, 4).buf[0]           # scattered frames, then a run
        descs = buf.descs
        for i, d in enumerate(descs):
            j = i + 1
            while j < len(descs) and descs[j].paddr == descs[j - 1].paddr + PAGE_SIZE:
                j += 1
            assert d.run_end == j * PAGE_SIZE and len(d.run) == (j - i) * PAGE_SIZE
            assert d.next is descs[(i + 1) % len(descs)]
        assert sum(d.run_end == d.offset + PAGE_SIZE for d in descs) >= 3   # the breaks
        assert len({d.run_end for d in descs}) >= 2
        for d in descs[::7]:
            d.run[:PAGE_SIZE] = bytes([d.offset >> 12 & 0xFF]) * PAGE_SIZE
            assert bytes(d.virtual[:PAGE_SIZE]) == bytes([d.offset >> 12 & 0xFF]) * PAGE_SIZE
        for p in held:
            k.__free_page(p)
    finally:
        k.shutdown()


def across_a_2m_page(backend, pick, writes):
    """On nehalem-2009 (2 MiB linear-map pages), open a 4 MiB buffer, and run
    writes(buf, at) where at = pick(buf), with the fast paths and through the
    page loop: ((2 MiB lookups, 2 MiB entries looked up, cycles), same traced)."""
    def once(traced):
        k = boot("nehalem-2009")
        try:
            buf = RelayEnv(k).open(1 << 20, 4, backend=backend).buf[1]
            at = pick(buf)
            with tracing({trace_relay_copy: lambda *a: None} if traced else {}):
                writes(buf, at)
            t = k.timing.totals()
            return t["tlb_lookups_2M"], t["tlb_misses_2M"] + t["stlb_hits_2M"], t["cycles"]
        finally:
            k.shutdown()
    return once(False), once(True)


def test_a_page_list_copy_across_a_large_page_boundary_probes_both():
    """A run of adjacent frames that crosses a 2 MiB page of the linear map:
    a write across it looks up both entries, fast path or not."""
    def pick(buf):
        d = next(d for d in buf.descs[:-1] if d.next.vpn != d.vpn and
                 d.next.paddr == d.paddr + PAGE_SIZE)
        assert d.run_end > d.offset + PAGE_SIZE
        return d.offset

    def writes(buf, at):        # the stream comes to the page before, then runs across
        ltt_relay_write(buf, at - PAGE_SIZE, b"x", 1)
        ltt_relay_write(buf, at - PAGE_SIZE + 1, bytes(2 * PAGE_SIZE), 2 * PAGE_SIZE)
    fast, slow = across_a_2m_page("pagelist", pick, writes)
    assert fast == slow and fast[1] == 2


def test_a_static_copy_across_a_large_page_boundary_probes_both():
    """A 4 MiB static block holds two 2 MiB pages: a write across the middle
    touches both entries, fast path or not."""
    fast, slow = across_a_2m_page(
        "static", lambda buf: 2 << 20,
        lambda buf, at: ltt_relay_write(buf, at - 3 * PAGE_SIZE, bytes(6 * PAGE_SIZE),
                                        6 * PAGE_SIZE))
    assert fast == slow and fast[1] == 2


def test_a_stream_turning_pages_counts_what_the_page_loop_counts():
    """Sequential streams, where the page turn is taken at the top of
    ltt_relay_write and ltt_relay_read: a page at a time, and 64 bytes at a
    time across page boundaries."""
    script = ([(True, i * PAGE_SIZE, PAGE_SIZE, i) for i in range(12)] +
              [(False, i * PAGE_SIZE, PAGE_SIZE, 0) for i in range(12)] +
              [(True, 5 * PAGE_SIZE + i * 64, 64, i) for i in range(200)] +
              [(False, 5 * PAGE_SIZE + i * 64, 64, 0) for i in range(200)])
    for backend in ("pagelist", "vmap"):
        assert run("numa2", backend, script, False) == run("numa2", backend, script, True)


def test_a_run_from_the_cached_page_after_another_stream_moved_the_tlb():
    """The read stream looks up another page between two writes; the second
    write runs on from the write stream's cached page.  A contiguous backend
    does not look its cached page up again (its page loop starts
    at the next page); the page list's loop does.  Same LRU order either way."""
    script = [(True, 0, 100, 1), (False, 5 * PAGE_SIZE, 10, 0), (True, 100, 8000, 2)]
    for backend in ("pagelist", "vmap", "static"):
        assert run("numa2", backend, script, False) == run("numa2", backend, script, True)


def test_a_stream_round_the_ring_counts_what_the_page_loop_counts():
    """Runs of whole pages that follow each other round the ring, lap after lap
    (one pending tally of pages, stream.flush_tally), then runs that break it:
    from the middle of a page, and back."""
    laps = [(True, (i * 4 * PAGE_SIZE) % SIZE, 4 * PAGE_SIZE, i) for i in range(50)]
    breaks = [(True, 5 * PAGE_SIZE + 100, 2 * PAGE_SIZE, 7), (True, 0, 4 * PAGE_SIZE, 8),
              (False, 0, 5 * PAGE_SIZE, 0), (False, 5 * PAGE_SIZE, 2 * PAGE_SIZE, 0)]
    for backend in ("pagelist", "vmap", "static"):
        assert run("numa2", backend, laps + breaks, False) == \
            run("numa2", backend, laps + breaks, True)
