"""The written-out fast paths of multi-page copies (pagelist._next_pages, the
contiguous backends' touch_run) against the page-by-page loop they replace.

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


def run(machine, backend, script, traced):
    k = boot(machine)
    try:
        env = RelayEnv(k)
        chan = env.open(SIZE // 4, 4, backend=backend)
        buf = chan.buf[1]
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


def test_a_static_copy_across_a_large_page_boundary_probes_both():
    """A 4 MiB static block holds two 2 MiB pages of nehalem-2009's linear map:
    a write across the middle touches both entries, fast path or not."""
    def once(traced):
        k = boot("nehalem-2009")
        try:
            chan = RelayEnv(k).open(1 << 20, 4, backend="static")
            buf = chan.buf[1]
            probes = {trace_relay_copy: lambda *a: None} if traced else {}
            with tracing(probes):
                mid = 2 << 20
                ltt_relay_write(buf, mid - 3 * PAGE_SIZE, bytes(6 * PAGE_SIZE), 6 * PAGE_SIZE)
            t = k.timing.totals()
            return t["tlb_lookups_2M"], t["tlb_misses_2M"] + t["stlb_hits_2M"], t["cycles"]
        finally:
            k.shutdown()
    fast, slow = once(False), once(True)
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
