import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw import PAGE_SIZE
from kmodel.core.bug import Oops
from kmodel.core.list import list_for_each_entry, list_for_each_entry_reverse
from kmodel.core.tracepoint import tracing
from kmodel.kernel import boot
from kmodel.relay.pagelist import HPAGE0, RPAGE, WPAGE, ltt_relay_cache_page
from kmodel.relay.pagelist import _set_cache as set_cache
from kmodel.relay.relay_alloc import (ltt_relay_close, ltt_relay_offset_address,
                                      ltt_relay_read, ltt_relay_read_get_page,
                                      ltt_relay_write)
from kmodel.relay.relay_trace import trace_relay_walk
from relay_helpers import RelayEnv
import backend_suite
from backend_suite import SIZE

BACKENDS = ["pagelist", "vmap", "static"]


@pytest.fixture
def env(k):
    return RelayEnv(k)


# --- the backend conformance suite (tests/backend_suite.py) ----------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=backend_suite.OPS)
def test_round_trips_match_a_bytearray_model_for_every_backend(kernel_factory, script):
    backend_suite.round_trips(kernel_factory("numa2"), BACKENDS, script)


@pytest.mark.parametrize("check", backend_suite.CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("backend", BACKENDS)
def test_backend_conformance(env, backend, check):
    check(env, backend)


# --- placement and structure ---------------------------------------------------
def test_pagelist_pages_are_node_local_and_linked(env):
    k = env.k
    chan = env.open(4096, 8)
    for cpu in range(8):
        buf = chan.buf[cpu]
        node = k.cpu_to_node(cpu)
        pages = list(list_for_each_entry(buf.pages))
        assert [bp.offset for bp in pages] == [i * PAGE_SIZE for i in range(8)]
        assert all(bp.page.nid == node and k.slab.kobj_to_nid(bp) == node for bp in pages)
        assert all(bp.page.private is bp for bp in pages)      # set_page_private
        assert list(list_for_each_entry_reverse(buf.pages)) == pages[::-1]
        assert k.slab.kobj_to_nid(buf) == node                 # erratum: rchan_buf local too
        assert buf.wpage is buf.rpage is buf.hpage[0] is buf.hpage[1] is pages[0]
        assert buf.page_count == 8
    assert chan.buf[8] is None                                 # not present


def test_vmap_placements(env):
    k = env.k
    k.current.cpu = 0                                          # the opener runs on node 0
    local = env.open(4096, 4, backend="vmap", name="local")
    opener = env.open(4096, 4, backend="vmap", placement="opener", name="opener")
    assert {p.nid for p in local.buf[6].priv.pages} == {1}
    assert {p.nid for p in opener.buf[6].priv.pages} == {0}
    assert "pages=4 vmap N1=4" in k.fs.read("/proc/vmallocinfo")


def test_vmap_page_array_is_vmalloced_beyond_a_page(env):
    k = env.k
    chan = env.open(1 << 20, 4, backend="vmap")                # 1024 pages: 8 KiB array
    assert hasattr(chan.buf[0].priv.mem, "addr")
    info = k.fs.read("/proc/vmallocinfo")       # one 2-page vmalloc'ed array per buffer
    assert info.count("relay_alloc_page_array pages=2 vmalloc") == k.num_online_cpus()
    ltt_relay_close(chan)
    small = env.open(4096, 4, backend="vmap")
    assert isinstance(small.buf[0].priv.mem, bytearray)   # kzalloc'ed
    assert "relay_alloc_page_array" not in k.fs.read("/proc/vmallocinfo")


# --- the four-pointer cache and walks -------------------------------------------
def walk(env, chan, fn, cpu=0):
    before = env.k.timing.totals()
    fn(chan.buf[cpu])
    after = env.k.timing.totals()
    return after["walk_steps"] - before["walk_steps"], after["list_iters"] - before["list_iters"]


def test_forward_walk_updates_cache_backward_does_not(env):
    chan = env.open(4096, 8)                                   # 8 pages
    buf = chan.buf[0]
    pages = list(list_for_each_entry(buf.pages))
    assert walk(env, chan, lambda b: ltt_relay_write(b, 3 * PAGE_SIZE, b"a", 1)) == (2, 3)
    assert buf.wpage is pages[3]
    assert walk(env, chan, lambda b: ltt_relay_write(b, 1 * PAGE_SIZE, b"b", 1)) == (1, 2)
    assert buf.wpage is pages[3]                               # backward: cache unchanged
    # half-buffer wraparound: from page 3, page 7 is 4 ahead = exactly half: forward
    assert walk(env, chan, lambda b: ltt_relay_write(b, 7 * PAGE_SIZE, b"c", 1)) == (3, 4)
    assert buf.wpage is pages[7]
    # from page 7, page 1 is 2 ahead across the wrap (the head is skipped)
    assert walk(env, chan, lambda b: ltt_relay_write(b, 1 * PAGE_SIZE, b"d", 1)) == (1, 2)
    assert buf.wpage is pages[1]
    # from page 1, page 6 is 5 ahead or 3 behind: backwards, no cache update
    assert walk(env, chan, lambda b: ltt_relay_write(b, 6 * PAGE_SIZE, b"e", 1)) == (2, 3)
    assert buf.wpage is pages[1]


# The walk's direction (ltt_relay_cache_page): the signed distance from the
# cached page to the offset, taken modulo the buffer size into
# (-alloc_size/2, alloc_size/2] as the patch's two tests do, so a distance of
# exactly half the buffer, either way, walks forward ("When at the exact
# opposite of the buffer, bias towards forward search because it will be
# cached").  A forward walk of d pages takes d list steps and caches the page
# it finds; a backward one takes d steps and caches nothing.  The port first
# takes the page at hand when it holds the offset (erratum E4); so does the
# patch on any buffer of two pages or more, where half the buffer is at least
# a page.  On a one-page buffer the patch walks back from the page to itself,
# finds nothing, WARNs and oopses.
def expected_walk(n_pages, cached, offset, errata):
    """(forward, steps, page): the walk the patch's ltt_relay_cache_page makes
    from page cached to offset (forward None: no walk; page None: not found)."""
    alloc = n_pages * PAGE_SIZE
    target = offset // PAGE_SIZE
    if target == cached and not errata:
        return None, 0, cached
    ahead = (offset - cached * PAGE_SIZE) % alloc          # the distance forward, in bytes
    forward = ahead <= alloc // 2
    steps = (target - cached) % n_pages if forward else (cached - target) % n_pages
    if forward and ahead < PAGE_SIZE:
        return None, 0, cached                             # the page at hand
    if steps == 0:
        return forward, None, None                         # back round to itself
    return forward, steps, target


WALK_PAGES = [1, 2, 4, 8, 16, 64]


@pytest.fixture(scope="module")
def rings():
    """Per-CPU buffers of 1 to 64 pages under the port and under the patch's
    own code (CONFIG_LTT_RELAY_ERRATA=y): {(errata, pages): CPU 0's buffer}."""
    kernels, bufs = [], {}
    for errata in (False, True):
        k = boot("numa2", config=[f"CONFIG_LTT_RELAY_ERRATA={'y' if errata else 'n'}"])
        kernels.append(k)
        env = RelayEnv(k)
        for n in WALK_PAGES:
            bufs[errata, n] = env.open(n * PAGE_SIZE // 2, 2, name=f"r{n}").buf[0]
    yield bufs
    for k in kernels:
        k.shutdown()


def get_cache(buf, which):
    return buf.wpage if which == WPAGE else buf.rpage if which == RPAGE else buf.hpage[which - HPAGE0]


def lookup_from(buf, pages, which, cached, offset):
    """ltt_relay_cache_page from page cached, its cache pointer set there:
    (walk directions seen, list steps, page found, the cache pointer after)."""
    set_cache(buf, which, pages[cached])
    walks = []
    before = buf.chan.k.timing.totals()["list_iters"]
    with tracing({trace_relay_walk: lambda b, forward: walks.append(forward) if b is buf else None}):
        found = ltt_relay_cache_page(buf, which, pages[cached], offset)
    steps = buf.chan.k.timing.totals()["list_iters"] - before
    return walks, steps, found, get_cache(buf, which)


@settings(max_examples=300, deadline=None)
@given(errata=st.booleans(), n=st.sampled_from(WALK_PAGES), which=st.integers(0, 3),
       data=st.data())
def test_every_distance_walks_the_short_way_ties_forward(rings, errata, n, which, data):
    """Any cached page (of any of the four pointers) and any offset, the ties
    and a byte either side of them drawn often: direction, list steps, the
    page found and the cache pointer, as expected_walk says."""
    buf = rings[errata, n]
    k = buf.chan.k
    pages = list(list_for_each_entry(buf.pages))
    cached = data.draw(st.integers(0, n - 1), label="cached page")
    half = n * PAGE_SIZE // 2
    offset = data.draw(st.one_of(
        st.integers(0, n * PAGE_SIZE - 1),                 # anywhere
        st.sampled_from([(cached * PAGE_SIZE + d) % (n * PAGE_SIZE)
                         for d in (half, -half, half + 1, -half + 1, half - 1, -half - 1)])),
        label="offset")
    forward, steps, page = expected_walk(n, cached, offset, errata)
    warnings = len(k.bug.warnings)
    walks, iters, found, cache = lookup_from(buf, pages, which, cached, offset)
    if page is None:                                       # the patch, one page: E4
        assert found is None and walks == [forward]
        assert [w.func for w in k.bug.warnings[warnings:]] == ["ltt_relay_cache_page"]
        return
    assert found is pages[page] and pages[page].offset <= offset < pages[page].offset + PAGE_SIZE
    assert walks == ([] if forward is None else [forward])
    assert iters == steps
    assert cache is (found if forward else pages[cached]), "only a forward walk caches"
    assert len(k.bug.warnings) == warnings
    # The same distance through ltt_relay_write and ltt_relay_read, untraced:
    # the port's written-out paths (a page turn, a run) walk as the loop does.
    for stream, op in ((WPAGE, lambda: ltt_relay_write(buf, offset, b"w", 1)),
                       (RPAGE, lambda: ltt_relay_read(buf, offset, bytearray(1), 1))):
        set_cache(buf, stream, pages[cached])
        before = k.timing.totals()["list_iters"]
        op()
        assert k.timing.totals()["list_iters"] - before == steps
        assert get_cache(buf, stream) is (pages[page] if forward else pages[cached])


@pytest.mark.parametrize("errata", [False, True], ids=["port", "patch"])
@pytest.mark.parametrize("cached,offset,walk", [
    (0, 4 * PAGE_SIZE, (True, 4, 4)),            # exactly half ahead: forward, cached
    (4, 0, (True, 4, 0)),                        # exactly half behind: forward too, over the head
    (0, 4 * PAGE_SIZE + 1, (False, 4, 4)),       # a byte more than half ahead: backward
    (4, 1, (False, 4, 0)),                       # a byte less than half behind: backward
    (5, 1, (True, 3, 0)),                        # more than half behind: forward, over the head
    (1, 2 * PAGE_SIZE - 1, (None, 0, 1)),        # the page at hand: no walk
])
def test_the_half_buffer_tie_goes_forward(rings, errata, cached, offset, walk):
    """Eight pages, so half the buffer is four: the two ties and their neighbours."""
    buf = rings[errata, 8]
    pages = list(list_for_each_entry(buf.pages))
    assert expected_walk(8, cached, offset, errata) == walk
    walks, iters, found, cache = lookup_from(buf, pages, WPAGE, cached, offset)
    forward, steps, page = walk
    assert (walks, iters, found) == ([] if forward is None else [forward], steps, pages[page])
    assert cache is (found if forward else pages[cached])


def test_sequential_writes_take_no_walk_steps(env):
    chan = env.open(4096, 8)
    steps, iters = walk(env, chan, lambda b: [ltt_relay_write(b, off, b"x" * 64, 64)
                                              for off in range(0, 3 * 8 * PAGE_SIZE, 64)], 2)
    assert steps == 0 and iters == 3 * 8 - 1                   # one iteration per page change


def test_random_access_warning_text(kernel_factory):
    k = kernel_factory("numa2", config=["CONFIG_LTT_RELAY_CHECK_RANDOM_ACCESS=y"])
    env = RelayEnv(k)
    chan = env.open(4096, 8)
    ltt_relay_write(chan.buf[0], 3 * PAGE_SIZE + 5, b"z", 1)
    assert ("Forward random access detected in ltt_relay. Iterations 3, offset 12293, "
            "orig iter->off 0, iter->off 12288 diff_offset 12293.") in k.log.text()
    ltt_relay_write(chan.buf[0], 1 * PAGE_SIZE, b"z", 1)
    assert ("Backward random access detected in ltt_relay. Iterations 2, offset 4096, "
            "orig iter->off 12288, iter->off 4096 diff_offset -8192.") in k.log.text()
    assert [w.func for w in k.bug.warnings] == ["ltt_relay_find_next_page", "ltt_relay_find_prev_page"]


def test_no_warning_without_the_config(env):
    chan = env.open(4096, 8)
    ltt_relay_write(chan.buf[0], 3 * PAGE_SIZE + 5, b"z", 1)
    assert "random access" not in env.k.log.text() and not env.k.bug.warnings


def test_read_get_page_and_offset_address(env):
    chan = env.open(8192, 4)                   # 8 pages, sub-buffers of 2 pages
    buf = chan.buf[0]
    pages = list(list_for_each_entry(buf.pages))
    assert ltt_relay_read_get_page(buf, 2 * PAGE_SIZE + 7) is pages[2]
    assert buf.rpage is pages[2]               # forward: cached
    assert ltt_relay_read_get_page(buf, 7 * PAGE_SIZE) is pages[7]
    assert buf.rpage is pages[2]               # 5 ahead = 3 behind: backward, not cached
    hdr = ltt_relay_offset_address(buf, 8192 + 16)             # odd sub-buffer header
    assert buf.hpage[1] is pages[2] and buf.hpage[0] is pages[0]
    hdr[:4] = b"HDR!"
    out = bytearray(4)
    ltt_relay_read(buf, 8192 + 16, out, 4)
    assert out == b"HDR!" and len(hdr) == PAGE_SIZE - 16


# --- lifetimes ------------------------------------------------------------------
def test_open_file_holds_the_buffer(env):
    k = env.k
    before = env.counters()
    chan = env.open(4096, 2)
    ltt_relay_write(chan.buf[3], 0, b"kept", 4)
    h = k.fs.open("/sys/kernel/debug/ltt/cpu3")
    assert k.modules.rmmod("ltt_relay_alloc") == -16           # channel open
    ltt_relay_close(chan)
    assert k.modules.rmmod("ltt_relay_alloc") == -16           # file still open
    assert k.fs.listdir("/sys/kernel/debug/ltt") == ["cpu3"]   # the held buffer's file stays
    assert h.read().startswith(b"kept")                         # the raw bytes
    h.close()
    assert env.counters() == before
    assert k.modules.rmmod("ltt_relay_alloc") == 0
    assert k.hotplug.cpu_chain.head is None


def test_module_registers_at_priority_5(env):
    nb = env.k.hotplug.cpu_chain.head
    assert nb.name == "relay_hotcpu_callback" and nb.priority == 5


# --- write past the end ------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_write_past_the_end_warns_then_oopses_and_corrupts_nothing(env, backend):
    k = env.k
    chan = env.open(4096, 4, backend=backend)
    buf = chan.buf[0]
    other = chan.buf[1]
    ltt_relay_write(other, 0, b"O" * 16, 16)
    cache = (buf.wpage, buf.rpage, list(buf.hpage))
    with pytest.raises(Oops, match="NULL pointer" if backend == "pagelist" else "paging request"):
        ltt_relay_write(buf, SIZE - 10, b"E" * 30, 30)
    # The patch's WARN_ON(offset >= alloc_size) in its loop first; the page
    # list then looks the offset up, finds no page, and its WARN_ON(!page) fires.
    assert [w.func for w in k.bug.warnings] == (
        ["_ltt_relay_copy", "ltt_relay_cache_page"] if backend == "pagelist" else ["contig_write"])
    out = bytearray(10)
    ltt_relay_read(buf, SIZE - 10, out, 10)
    assert out == b"E" * 10                                    # what fits was written
    first = bytearray(20)
    ltt_relay_read(buf, 0, first, 20)
    assert first == bytes(20)                                  # no wrap-around scribble
    o = bytearray(16)
    ltt_relay_read(other, 0, o, 16)
    assert o == b"O" * 16
    if backend == "pagelist":                  # the C would have stored NULL in wpage
        assert buf.wpage is cache[0] and buf.rpage is not None and buf.hpage == cache[2]
    ltt_relay_close(chan)
    assert k.leaks() == {}


def test_closing_a_channel_twice_is_an_oops_not_a_crash(env):
    from kmodel.core.list import LIST_POISON1, list_head, list_del
    e = list_head()
    h = list_head()
    from kmodel.core.list import list_add
    list_add(e, h)
    list_del(e)
    assert e.next is LIST_POISON1
    with pytest.raises(Oops, match="LIST_POISON"):
        list_del(e)
    chan = env.open(4096, 2)
    ltt_relay_close(chan)
    with pytest.raises(Oops):
        ltt_relay_close(chan)


# --- the write checks its source before the backend sees it ----------------------
@pytest.mark.parametrize("backend", ["pagelist", "vmap", "static"])
@pytest.mark.parametrize("offset,length", [(100, 3996), (4000, 200), (0, 9000), (8, 64)])
def test_a_longer_source_is_written_and_counted_once(kernel_factory, backend, offset, length):
    """memcpy takes the first length bytes of a longer source: one access,
    counted once (ops and bytes), as with a source of exactly length."""
    costs = []
    for extra in (0, 4096):
        k = kernel_factory("numa2")
        env = RelayEnv(k)
        buf = env.open(4096, 4, backend=backend).buf[0]
        src = bytes((i * 13 + 5) & 0xFF for i in range(length + extra))
        k.timing.reset()
        assert ltt_relay_write(buf, offset, src, length) == length
        t = k.timing.totals()
        costs.append((t["ops"], t["bytes_local"] + t["bytes_remote"], t["cycles"]))
        out = bytearray(length)
        ltt_relay_read(buf, offset, out, length)
        assert out == src[:length]
    assert costs[0] == costs[1]
    assert costs[0][1] == length


def test_a_short_source_oopses_before_a_byte_is_written(env):
    buf = env.open(4096, 4).buf[0]
    ltt_relay_write(buf, 0, b"\x11" * 8192, 8192)
    ops = env.k.timing.totals()["ops"]
    with pytest.raises(Oops, match="source of 5000 bytes for 6000"):
        ltt_relay_write(buf, 100, b"\x22" * 5000, 6000)
    assert env.k.timing.totals()["ops"] == ops
    out = bytearray(8192)
    ltt_relay_read(buf, 0, out, 8192)
    assert out == b"\x11" * 8192


@pytest.mark.parametrize("backend", ["pagelist", "vmap", "static"])
def test_a_source_of_wider_items_is_written_as_its_bytes_once(kernel_factory, backend):
    """A source whose items are not bytes (array('H'), a memoryview of format
    'I') is its bytes: written and counted once, whatever its length in items."""
    from array import array
    costs = []
    for src in (array("H", range(3000)).tobytes(), array("H", range(3000))):
        k = kernel_factory("numa2")
        buf = RelayEnv(k).open(4096, 4, backend=backend).buf[0]
        k.timing.reset()
        assert ltt_relay_write(buf, 3000, src, 5000) == 5000
        t = k.timing.totals()
        costs.append((t["ops"], t["bytes_local"] + t["bytes_remote"]))
        out = bytearray(5000)
        ltt_relay_read(buf, 3000, out, 5000)
        assert out == array("H", range(3000)).tobytes()[:5000]
    assert costs[0] == costs[1] and costs[0][1] == 5000


def test_a_source_that_is_no_buffer_oopses(env):
    buf = env.open(4096, 4).buf[0]
    with pytest.raises(Oops, match="a source of str is not a contiguous buffer of bytes"):
        ltt_relay_write(buf, 0, "text", 4)
