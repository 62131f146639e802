"""The sub-buffer layer, run straight through (no interleaving): packets, modes,
loss counters, the reader's get/put, flush (kmodel/relay/ring_buffer.py)."""
import pytest
from hypothesis import given, settings, strategies as st

from kmodel.core.step import Op
from kmodel.core.errno import EAGAIN, EBUSY, EINVAL, EIO, ENODATA
from kmodel.cpu.sched import run_now
from kmodel.relay.relay_file import ltt_relay_open_debugfs
from kmodel.relay.layer import get_layer
from kmodel.relay.packet import HDR, PACKET_MAGIC, record_size
from kmodel.relay.rb_config import DEFAULT_ERA, Era, SwitchMode
from kmodel.relay.ring_buffer import (PAGE, _page_chunks, check_geometry, extra_subbufs,
                                      lib_ring_buffer_get_subbuf, lib_ring_buffer_put_subbuf,
                                      rb_channel, read_packet, read_packet_steps)


@pytest.fixture
def make(k):
    k.modules.insmod("ltt_relay_alloc")

    def make(layer="lockless", mode="discard", subbuf=4096, n=2, scope="per-cpu",
             backend="pagelist", era=DEFAULT_ERA):
        chan, err = ltt_relay_open_debugfs(k, f"rb{len(made)}", subbuf, n, backend,
                                           extra_subbufs=extra_subbufs(era, mode))
        assert chan is not None, err
        rbc = rb_channel(k, chan, get_layer(layer), mode, scope, era=era)
        made.append(rbc)
        return rbc, rbc.add_buf(0)
    made = []
    return make


def write(k, rbc, rb, n, size, cpu=0):
    with k.on_cpu(cpu):
        return [run_now(k, rbc.layer.write(rb, bytes([i & 0xFF]) * size, i)) for i in range(n)]


def drain(k, rb):
    out = []
    while True:
        c = run_now(k, lib_ring_buffer_get_subbuf(rb))
        if c < 0:
            return out, c
        out.append(read_packet(rb, c))
        assert run_now(k, lib_ring_buffer_put_subbuf(rb, c)) == 0


@pytest.mark.parametrize("layer", ["locked", "lockless"])
def test_packets_hold_what_was_written(k, make, layer):
    rbc, rb = make(layer)
    slots = write(k, rbc, rb, 40, 100)
    assert slots[0] == HDR and slots[1] == HDR + record_size(100)
    packets, err = drain(k, rb)
    assert err == -EAGAIN and len(packets) == 1          # the second one is still open
    fields, records = packets[0]
    magic, ts_begin, ts_end, content, size, seq, disc, cpu = fields[:8]
    per = (4096 - HDR) // record_size(100)
    assert (magic, cpu, size, seq, disc) == (PACKET_MAGIC, 0, 4096 * 8, 0, 0)
    # content ends at the last record's last byte, not after its padding
    assert content == (HDR + (per - 1) * record_size(100) + 16 + 100) * 8
    assert [r[2] for r in records] == [bytes([i]) * 100 for i in range(per)]
    assert [r[1] for r in records] == list(range(per))
    assert ts_begin <= records[0][0] < records[-1][0] <= ts_end
    run_now(k, rbc.layer.flush(rb, SwitchMode.FLUSH))
    packets, err = drain(k, rb)
    assert err == -ENODATA and len(packets[0][1]) == 40 - per


@pytest.mark.parametrize("era", list(Era))
def test_discard_mode_counts_what_it_drops(k, make, era):
    rbc, rb = make(mode="discard", era=era)
    res = write(k, rbc, rb, 100, 100)
    kept = sum(1 for r in res if r >= 0)
    assert rb.records_lost_full.counter == 100 - kept > 0
    # too big for a sub-buffer, in a full buffer: 2009 checks the size first
    # (lost_big); 2.x (lib_ring_buffer_try_reserve_slow) after the full check
    assert write(k, rbc, rb, 1, 4096)[0] < 0
    if era is Era.V2:
        assert rb.records_lost_big.counter == 0
        assert rb.records_lost_full.counter == 100 - kept + 1
    else:
        assert rb.records_lost_big.counter == 1
    packets, _ = drain(k, rb)
    assert len(packets) == 1 and packets[0][0].events_discarded == 0  # closed before the losses
    run_now(k, rbc.layer.flush(rb, SwitchMode.FLUSH))
    last, err = drain(k, rb)
    assert err == -ENODATA and last[0][0].events_discarded == 100 - kept + 1   # full + big, while open
    assert len(packets[0][1]) + len(last[0][1]) == kept


def test_overwrite_never_overwrites_what_the_reader_holds(k, make):
    """2.x: the get swaps the reader's spare into the table; writers that lap
    the reader write the spare, never drop for the reader, and the put says 0."""
    rbc, rb = make(mode="overwrite")
    write(k, rbc, rb, 40, 100)                          # packet 0 delivered, 1 open
    c = run_now(k, lib_ring_buffer_get_subbuf(rb))
    assert c == 0 and run_now(k, lib_ring_buffer_get_subbuf(rb)) == -EBUSY
    assert sorted(rb.bufb.ids()) == [0, 1, 2] and rb.bufb.ids()[0] == 2   # swapped
    before = read_packet(rb, c)
    res = write(k, rbc, rb, 60, 100)                    # laps around to packet 0's room
    assert all(r >= 0 for r in res) and rb.records_lost_full.counter == 0
    assert rb.consumed.counter > c                      # pushed
    assert read_packet(rb, c) == before                 # intact
    assert run_now(k, lib_ring_buffer_put_subbuf(rb, c + 4096)) == -EINVAL
    assert run_now(k, lib_ring_buffer_put_subbuf(rb, c)) == 0
    assert rb.corrupted_subbuffers.counter == 0
    write(k, rbc, rb, 80, 100)                          # it laps again: overrun
    assert rb.records_overrun.counter > 0


def test_2009_overwrites_what_the_reader_holds_and_put_says_eio(k, make):
    """2009: no spare; the writer pushes the reader and writes the sub-buffer it
    reads; the put's cmpxchg fails: -EIO, corrupted_subbuffers."""
    rbc, rb = make(mode="overwrite", era=Era.V2009)
    write(k, rbc, rb, 40, 100)
    c = run_now(k, lib_ring_buffer_get_subbuf(rb))
    assert c == 0
    before = read_packet(rb, c)
    res = write(k, rbc, rb, 60, 100)
    assert all(r >= 0 for r in res) and rb.records_lost_full.counter == 0
    assert read_packet(rb, c) != before                 # torn
    assert run_now(k, lib_ring_buffer_put_subbuf(rb, c)) == -EIO
    assert rb.corrupted_subbuffers.counter == 1
    # 100 records of 34 a packet (after the 84-byte header): entering packet 2
    # pushed packet 0, the one read; its records count lost at the push
    assert rb.records_overrun.counter == len(before[1]) == 34


def test_flush_from_another_cpu_runs_on_the_owner(k, make):
    rbc, rb = make()
    write(k, rbc, rb, 3, 100)
    seen = []
    import kmodel.relay.ring_buffer as ring_buffer
    real = ring_buffer.lib_ring_buffer_switch_slow

    def spy(rb, finalize=False):
        seen.append((k.current.cpu, k.current.kind))
        yield from real(rb, finalize)
    ring_buffer.lib_ring_buffer_switch_slow = spy
    try:
        with k.on_cpu(5):
            run_now(k, rbc.layer.flush(rb))
    finally:
        ring_buffer.lib_ring_buffer_switch_slow = real
    assert seen == [(0, "hardirq")]                      # by IPI
    assert len(drain(k, rb)[0][0][1]) == 3


def test_geometry_checks(k, make):
    rbc, rb = make(n=2)
    assert check_geometry(rbc.chan, "overwrite", "per-cpu") is None
    assert "at least 2" in check_geometry(type("C", (), {"n_subbufs": 1, "k": None,
                                                          "subbuf_size": 4096})(),
                                          "overwrite", "per-cpu")[1]
    assert check_geometry(rbc.chan, "ring", "per-cpu")[0] == EINVAL


def test_one_sub_buffer_in_discard_mode_drops_the_closing_record_as_lttng_does(k, make):
    """With one sub-buffer, the record that would close it finds its own
    sub-buffer's previous lap still open (lttng-modules'
    lib_ring_buffer_try_reserve_slow books that as records_lost_wrap); the
    bookkeeping must not call those losses spurious, and a final flush tells
    them in the packet."""
    rbc, rb = make(n=1)
    write(k, rbc, rb, 200, 100)
    assert rb.records_lost_wrap.counter > 0 and rb.records_lost_full.counter == 0
    assert rb.book.spurious_wrap == 0
    with k.on_cpu(0):
        run_now(k, rbc.layer.flush(rb, SwitchMode.FLUSH))
    packets, err = drain(k, rb)
    assert packets[-1][0].events_discarded == rb.records_lost_wrap.counter


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 3 * PAGE), st.integers(0, 3 * PAGE))
def test_page_chunks_are_the_pages_a_range_touches(offset, n):
    """A copy of n bytes at offset goes a page at a time: the pieces follow
    each other, each stays in one page, and there is one per page touched."""
    chunks = _page_chunks(offset, n)
    pos = 0
    for done, chunk in chunks:
        assert done == pos and chunk > 0
        assert (offset + done) // PAGE == (offset + done + chunk - 1) // PAGE
        pos += chunk
    assert pos == n
    assert len(chunks) == (0 if n == 0 else (offset + n - 1) // PAGE - offset // PAGE + 1)


@pytest.mark.parametrize("backend", ["pagelist", "vmap", "static"])
def test_a_packet_read_a_page_at_a_time_is_the_packet(k, make, backend):
    """read_packet_steps yields once per page of the sub-buffer and reads what
    read_packet reads at once."""
    rbc, rb = make(subbuf=4 * PAGE, backend=backend)
    write(k, rbc, rb, 40, 1000)
    c = run_now(k, lib_ring_buffer_get_subbuf(rb))
    gen = read_packet_steps(rb, c)
    steps = []
    try:
        while True:
            steps.append(next(gen))
    except StopIteration as e:
        stepped = e.value
    assert [op for op, _ in steps] == [Op.READ] * 4
    assert stepped == read_packet(rb, c) and len(stepped[1]) == 16


@pytest.mark.parametrize("layer", ["locked", "lockless"])
def test_a_long_recording_keeps_counts_not_histories(k, make, layer):
    """Only the explorer's scenarios keep every reservation and delivery
    (rb_channel(..., history=True)); a recording of millions of events must
    not grow with them."""
    rbc, rb = make(layer, "overwrite", n=4)
    with k.on_cpu(0):
        for i in range(3000):
            rbc.layer.write__straight(rb, bytes(40), 1)
    assert rb.book.reserved == [] and rb.book.delivered == []
    assert rb.book.n_delivered >= 40 and rb.book.committed == 3000
    assert len(rb.book.inflight) <= 1 and len(rb.book.records_per_packet) <= rbc.n_subbufs + 1
