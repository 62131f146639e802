"""The conformance suite every relay backend passes (kmodel/relay/backend.py).

test_relay.py runs it on the built-in backends; a new backend's test file
runs it on that backend alone (see test_backend_contract.py), so adding a
backend changes no other file.  Each check takes a RelayEnv and backend names.
"""
from hypothesis import strategies as st

from hw import PAGE_SIZE
from kmodel.relay.relay_alloc import (ltt_relay_close, ltt_relay_offset_address,
                                      ltt_relay_read, ltt_relay_read_get_page,
                                      ltt_relay_write)
from relay_helpers import RelayEnv

SIZE = 4 * PAGE_SIZE                     # 16 KiB: 4 pages, 2 sub-buffers of 8 KiB
OPS = st.lists(st.tuples(st.booleans(),
                         st.one_of(st.integers(0, SIZE - 1),                     # anywhere
                                   st.integers(0, 3).map(lambda p: p * PAGE_SIZE - 3),
                                   st.sampled_from([0, PAGE_SIZE - 1, SIZE - 64])),
                         st.one_of(st.integers(0, 70), st.integers(0, 2 * PAGE_SIZE + 10)),
                         st.integers(0, 255)),
               min_size=1, max_size=25)


def round_trips(k, backends, script):
    """Writes and reads at every class of offset and length, on the backends at
    once: the bytes read back must equal a bytearray model's, and nothing may be
    left allocated after the close."""
    env = RelayEnv(k)
    chans = {be: env.open(8192, 2, backend=be, name=be) for be in backends}
    model = bytearray(SIZE)
    for is_write, offset, length, fill in script:
        offset %= SIZE
        length = min(length, SIZE - offset)    # the layer above never runs off the end
        if is_write:
            data = bytes((fill + i) % 256 for i in range(length))
            model[offset:offset + length] = data
            for chan in chans.values():
                assert ltt_relay_write(chan.buf[0], offset, data, length) == length
        else:
            for be, chan in chans.items():
                out = bytearray(length)
                assert ltt_relay_read(chan.buf[0], offset, out, length) == length
                assert out == model[offset:offset + length], be
    for be, chan in chans.items():
        whole = bytearray(SIZE)
        for off in range(0, SIZE, PAGE_SIZE):       # page by page: never crosses the end
            ltt_relay_read(chan.buf[0], off, memoryview(whole)[off:off + PAGE_SIZE], PAGE_SIZE)
        assert whole == model, be
    for chan in chans.values():
        ltt_relay_close(chan)
    assert k.leaks() == {}


def offsets_wrap(env, backend):
    chan = env.open(4096, 4, backend=backend)
    buf = chan.buf[1]
    ltt_relay_write(buf, 5 * SIZE + 100, b"wrapped", 7)
    out = bytearray(7)
    ltt_relay_read(buf, 100, out, 7)
    assert out == b"wrapped"


def zero_length_is_a_no_op(env, backend):
    chan = env.open(backend=backend)
    assert ltt_relay_write(chan.buf[0], 10, b"", 0) == 0
    assert ltt_relay_read(chan.buf[0], 10, bytearray(), 0) == 0


def pages_and_views(env, backend):
    """read_get_page finds the page of an offset; offset_address gives a view
    to the end of that page, and a write through it reads back; pages() lists
    every page once, in buffer order; describe() says something."""
    chan = env.open(4096, 4, backend=backend)
    buf = chan.buf[2]
    for off in (0, 5000, SIZE - 1):
        d = ltt_relay_read_get_page(buf, off)
        assert d.offset <= off < d.offset + PAGE_SIZE
        view = ltt_relay_offset_address(buf, off)
        assert len(view) == PAGE_SIZE - off % PAGE_SIZE
        view[:1] = b"\x5a"
        out = bytearray(1)
        ltt_relay_read(buf, off, out, 1)
        assert out == b"\x5a"
    offsets = [off for off, _ in buf.ops.pages(buf)]
    assert offsets == list(range(0, SIZE, PAGE_SIZE))
    assert buf.ops.describe(buf).mapping


def close_returns_everything(env, backend):
    before = env.counters()
    chan = env.open(16384, 4, backend=backend)
    assert env.counters() != before
    for cpu in range(8):
        ltt_relay_write(chan.buf[cpu], 100, b"data", 4)
    ltt_relay_close(chan)
    assert env.counters() == before
    assert env.k.fs.listdir("/sys/kernel/debug/ltt") == []


CHECKS = [offsets_wrap, zero_length_is_a_no_op, pages_and_views, close_returns_everything]
