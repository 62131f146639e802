"""LTTng's compact and large event headers (kmodel/relay/event_header.py): the
writer's rule and a reader's clock, against a simple model, alone and
through the ring buffer."""
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kmodel.consumer.ctf import EventClass, _packets
from kmodel.cpu.sched import run_now
from kmodel.relay.event_header import HEADERS, ClockUpdate, HeaderType, header_of
from kmodel.relay.layer import get_layer
from kmodel.relay.packet import HDR, unpack_packet_header
from kmodel.relay.rb_config import SwitchMode
from kmodel.relay.relay_alloc import ltt_relay_read
from kmodel.relay.relay_file import ltt_relay_open_debugfs
from kmodel.relay.ring_buffer import (lib_ring_buffer_get_subbuf, lib_ring_buffer_put_subbuf,
                                      rb_channel)

TWO27 = 1 << 27
# Gaps between records: small ones, and ones on either side of 2^27 and 2^32.
GAPS = st.one_of(st.integers(1, 5000), st.integers(TWO27 - 3, TWO27 + 3),
                 st.integers(1, 1 << 34), st.integers((1 << 32) - 2, (1 << 32) + 2))
IDS = st.integers(0, 70000)


def model_size(kind, event_id, delta):
    """The header's bytes as lttng-modules' record_header_size gives them, packed."""
    extended = delta >> 27 != 0 or event_id > (30 if kind == "compact" else 65534)
    return {"compact": (4, 13), "large": (6, 14)}[kind][extended]


@pytest.mark.parametrize("kind", ["compact", "large"])
@given(records=st.lists(st.tuples(IDS, GAPS, st.booleans()), min_size=1, max_size=60))
def test_headers_decode_to_the_ids_and_times_written(kind, records):
    """Encode a stream as the writer does (last_tsc kept across packets), read it
    back as a CTF reader does (the clock set at each packet's first record);
    every id and time comes back, and each header has the model's size."""
    fmt = header_of(kind)
    buf = bytearray(14 * len(records))
    at, tsc, last, clock = 0, 1000, 0, None
    written = []
    for event_id, gap, new_packet in records:
        tsc += gap
        ext = fmt.extended(event_id, tsc, last)
        n = fmt.pack_into(buf, at, event_id, tsc, ext)
        assert n == model_size(kind, event_id, tsc - last)
        written.append((at, event_id, tsc, new_packet))
        last = tsc
        at += n
    for at, event_id, tsc, new_packet in written:
        if clock is None or new_packet:        # a packet's timestamp_begin: its first tsc
            clock = ClockUpdate(tsc)
        got_id, ts, bits, size = fmt.unpack_from(buf, at)
        assert (got_id, clock.update(ts, bits)) == (event_id, tsc)


def test_the_extended_form_at_the_boundaries():
    c = HEADERS[HeaderType.COMPACT]
    assert not c.extended(30, TWO27 - 1, 0) and c.extended(31, 1, 0)
    assert c.extended(0, TWO27, 0) and not c.extended(0, 5 + TWO27 - 1, 5)
    assert header_of("kmodel") is None


# --- through the ring buffer -----------------------------------------------------
CLASSES = {i: EventClass(i, f"e{i}", (("len", "I"), ("data", "len"))) for i in range(40)}


@pytest.fixture
def chan(k):
    k.modules.insmod("ltt_relay_alloc")
    made = []

    def make(kind):
        c, err = ltt_relay_open_debugfs(k, f"hdr{len(made)}", 4096, 4, "pagelist")
        assert c is not None, err
        rbc = rb_channel(k, c, get_layer("lockless"), "discard", "per-cpu")
        rbc.header = header_of(kind)
        made.append(rbc)
        return rbc, rbc.add_buf(0)
    return make


def drain(k, rb, into):
    while (c := run_now(k, lib_ring_buffer_get_subbuf(rb))) >= 0:
        raw = bytearray(4096)
        ltt_relay_read(rb.rbuf, c, raw, 4096)
        (p,) = _packets(raw, "t", CLASSES, rb.rbc.header)
        into.append((unpack_packet_header(raw).content_size // 8, p))
        assert run_now(k, lib_ring_buffer_put_subbuf(rb, c)) == 0


@pytest.mark.parametrize("kind", ["compact", "large"])
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(st.tuples(st.integers(0, 39), GAPS, st.integers(0, 700)),
                        min_size=1, max_size=40))
def test_the_ring_buffer_writes_what_a_reader_decodes(k, chan, kind, records):
    """Records reserved with LTTng's header at chosen times, over packet
    switches, read back from the packets: the same ids, times and data, and
    each packet's content is its header and the model's record sizes."""
    rbc, rb = chan(kind)
    packets, want, sizes = [], [], {}
    last = 0
    with k.on_cpu(0):
        for i, (event_id, gap, n) in enumerate(records):
            k.timing.clock.spend(0, gap)         # the reservation reads gap later at least
            data = bytes([i & 0xFF]) * n
            payload = n.to_bytes(4, "little") + data
            slot = run_now(k, rbc.layer.write(rb, payload, event_id))
            tsc = k.trace_clock
            if slot >= 0:
                want.append((tsc, f"e{event_id}", {"len": n, "data": data}))
                sizes[tsc] = model_size(kind, event_id, tsc - last) + len(payload)
                last = tsc
            drain(k, rb, packets)
        run_now(k, rbc.layer.flush(rb, SwitchMode.FLUSH))
        drain(k, rb, packets)
    got = [e for _, p in packets for e in p.events]
    assert got == want
    for content, p in packets:
        assert content == HDR + sum(sizes[ts] for ts, _, _ in p.events)


@pytest.mark.parametrize("era", ["2009", "2.x"])
@pytest.mark.parametrize("kind", ["compact", "large"])
def test_a_record_too_big_is_judged_with_the_header_it_gets(k, kind, era):
    """The big-record test takes the record's size with the header its
    reservation writes (record_header_size()): a record that fills a
    sub-buffer after its packet header with the compact form is written,
    the same with one more byte is lost as big, and so is the one that fits
    only compact when its id needs the extended form."""
    k.modules.insmod("ltt_relay_alloc")
    c, err = ltt_relay_open_debugfs(k, "big", 4096, 4, "pagelist")
    assert c is not None, err
    rbc = rb_channel(k, c, get_layer("lockless"), "discard", "per-cpu", era=era)
    rbc.header = fmt = header_of(kind)
    rb = rbc.add_buf(0)
    fits = 4096 - HDR - fmt.size                # the payload that fills a sub-buffer
    assert fits + fmt.ext_size > 4096 - HDR     # (and would not with the extended form)
    written = []
    with k.on_cpu(0):
        for event_id, n in ((1, fits), (1, fits + 1), (fmt.max_id + 1, fits),
                            (fmt.max_id + 1, fits - (fmt.ext_size - fmt.size))):
            k.timing.clock.spend(0, 1)
            written.append(run_now(k, rbc.layer.write(rb, bytes(n), event_id)) >= 0)
    assert written == [True, False, False, True]
    assert rb.records_lost_big.counter == 2
