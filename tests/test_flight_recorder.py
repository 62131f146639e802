"""The flight recorder's experiment: a reader holds a packet of a 4 x 4 KiB
overwrite buffer while 1,200 events are written (issue 22).

Worked by hand.  A kmodel_irq_entry event is 16 bytes of payload, 32 with
kmodel's record header; a packet holds (4096 - 84) // 32 = 125 after its
84-byte header.  Events 0..124 fill packet 0, which is delivered when event
125 opens packet 1; the reader takes packet 0 then.  1,200 events fill
packets 0..8 (1,125) and 75 of packet 9.
Entering packet k >= 4 pushes the reader past packet k - 4, so at the end
consumed is at packet 6.

- 2.x (the sub-buffer table): the get swapped the spare (backend sub-buffer 4)
  into the table for packet 0, so packet 4 went there and packet 0 stayed
  the reader's.  records_overrun is counted at delivery, from the backend
  sub-buffer's records left unread: packets 5, 6, 7 land on backend
  sub-buffers 1, 2, 3 (packets 1, 2, 3 unread: 375), packet 8 on 4 (packet
  4: 125), packet 9 on 1 (packet 5: 125): 625.  records_count is every record
  delivered: 1,200.  No record is lost full (overwrite mode never is).  The
  put says 0; the trace holds packet 0 and packets 6..9: 125 + 3 * 125 + 75 =
  575 events, 575 + 625 = 1,200.  The packet sequence numbers jump from 0 to
  6: babeltrace2 says the tracer discarded 5 packets; no packet header counts
  discarded events (events_discarded counts full, wrap and big losses only).
- 2009: no spare; the writer entering packet 4 wrote over packet 0 while the
  reader held it, and pushed consumed; the put's cmpxchg fails: -EIO,
  corrupted_subbuffers 1, and the consumer drops the packet.  records_overrun
  is counted at each push (packets 0..5: 750); the trace holds packets 6..9:
  450 events, 450 + 750 = 1,200.
"""
import os
import shutil
import subprocess

import pytest

from kmodel.consumer.ctf import EVENT_CLASSES, encode, metadata, read_trace
from kmodel.consumer.splice import SpliceConsumer, splice_subbuf
from kmodel.core.errno import EIO
from kmodel.relay.layer_channel import ring_buffer_close, ring_buffer_open
from kmodel.relay.packet import HDR, unpack_packet_header
from kmodel.relay.rb_config import Era, SwitchMode
from kmodel.relay.ring_buffer import read_packet, subbuf_read_offset

IRQ = next(c for c in EVENT_CLASSES if c.name == "kmodel_irq_entry")
PER = (4096 - HDR) // 32                # 125


def experiment(k, outdir, era):
    """The experiment; (rb, the put's return, the trace's CPU 0 packets, the consumer)."""
    k.modules.insmod("ltt_relay_alloc")
    rbc, err = ring_buffer_open(k, "fr", 4096, 4, "pagelist", "local", "lockless",
                                "overwrite", "per-cpu", era=era)
    assert rbc is not None, err
    rb = rbc.buf_for(0)
    with open(os.path.join(outdir, "metadata"), "w") as f:
        f.write(metadata())
    cons = SpliceConsumer(k, rbc, str(outdir))

    def events(lo, hi):
        with k.on_cpu(0):
            for i in range(lo, hi):
                assert rbc.layer.write__straight(rb, encode(IRQ, {"seq": i, "irq": 1,
                                                                  "vector": 2}), IRQ.id) >= 0
    try:
        events(0, PER + 1)                              # packet 0 delivered
        pos = rbc.get_subbuf__straight(rb)
        assert pos == 0
        events(PER + 1, 1200)                           # the writers lap the reader
        fd = cons.stream_fd(0)
        splice_subbuf(k, rb.rbuf, subbuf_read_offset(rb, pos), 4096, fd)
        put = rbc.put_subbuf__straight(rb, pos)
        if put == -EIO:
            cons.drop_torn(0, 0)
        with k.on_cpu(0):
            rbc.layer.flush__straight(rb, SwitchMode.FLUSH)
        cons.drain()
        cons.close()
        packets = read_trace(str(outdir))["channel0_0"]
        return rb, put, packets, cons
    finally:
        ring_buffer_close(rbc, "fr")


def test_2x_keeps_the_held_packet_and_the_newest(k, tmp_path):
    rb, put, packets, cons = experiment(k, tmp_path, Era.V2)
    assert put == 0 and cons.torn == 0
    assert [p.seq for p in packets] == [0, 6, 7, 8, 9]
    seqs = [e[2]["seq"] for p in packets for e in p.events]
    assert seqs == list(range(0, PER)) + list(range(6 * PER, 1200))
    assert len(seqs) == PER + 3 * PER + 75 == 575
    assert rb.records_overrun.counter == 3 * PER + PER + PER == 625
    assert rb.records_count.counter == 1200
    assert rb.records_lost_full.counter == rb.corrupted_subbuffers.counter == 0
    assert rb.bufb.records_read == PER + 575 - PER     # every packet put: 575 records
    assert all(p.events_discarded == 0 for p in packets)
    assert sorted(rb.bufb.ids()) == [0, 1, 2, 3, 4]     # the table: a permutation


def test_2009_tears_the_held_packet_and_put_says_eio(k, tmp_path):
    rb, put, packets, cons = experiment(k, tmp_path, Era.V2009)
    assert put == -EIO and cons.torn == 1 and rb.corrupted_subbuffers.counter == 1
    assert [p.seq for p in packets] == [6, 7, 8, 9]
    seqs = [e[2]["seq"] for p in packets for e in p.events]
    assert seqs == list(range(6 * PER, 1200)) and len(seqs) == 450
    assert rb.records_overrun.counter == 6 * PER == 750
    assert rb.records_lost_full.counter == 0


@pytest.mark.skipif(shutil.which("babeltrace2") is None,
                    reason="babeltrace2 is not installed (Debian: apt install babeltrace2)")
def test_babeltrace2_reports_discarded_packets_not_events(k, tmp_path):
    experiment(k, tmp_path, Era.V2)
    r = subprocess.run(["babeltrace2", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("kmodel_irq_entry") == 575
    said = r.stdout + r.stderr
    assert "discarded 5 packets" in said
    assert "discarded" not in said.replace("discarded 5 packets", "")


@pytest.mark.parametrize("consumer", ["splice", "mmap", "read"])
def test_packets_on_disk_take_their_padded_size(tmp_path, consumer):
    """2.x: each packet on disk is its content PAGE_ALIGNed (the header's
    packet_size, what splice sends and every consumer writes); 2009: whole
    sub-buffers.  A recording whose last packets are partial shows both."""
    from kmodel.consumer.record import Recorder, RecordOptions
    sizes = {}
    for era in ("2.x", "2009"):
        out = tmp_path / era
        out.mkdir()
        rec = Recorder(RecordOptions(machine="numa2", events=60, rate=16, subbuf_size=16384,
                                     seed=3, consumer=consumer, era=era), str(out))
        stats = rec.run()
        assert all(s.produced == s.read + s.lost for s in stats.values())
        packets = [p for ps in read_trace(str(out)).values() for p in ps]
        got = []
        for name in os.listdir(out):
            if name in ("metadata", "index"):
                continue
            data = (out / name).read_bytes()
            pos = 0
            while pos < len(data):
                h = unpack_packet_header(data, pos)
                n = h.packet_size // 8
                assert n == (((h.content_size // 8) + 4095) & ~4095 if era == "2.x" else 16384)
                got.append(n)
                pos += n
            assert pos == len(data)
        assert len(got) == len(packets)
        sizes[era] = got
    assert any(n < 16384 for n in sizes["2.x"]) and set(sizes["2009"]) == {16384}


@pytest.mark.parametrize("era", list(Era))
def test_a_dying_cpus_last_partial_packet(k, era):
    """2.x flushes a CPU's buffer at CPU_DEAD (lttng_cpuhp_rb_frontend_dead):
    its last partial packet is delivered at once.  2009 leaves it to the
    final flush."""
    k.modules.insmod("ltt_relay_alloc")
    rbc, err = ring_buffer_open(k, "hp", 4096, 4, "pagelist", "local", "lockless",
                                "discard", "per-cpu", era=era)
    assert rbc is not None, err
    rb = rbc.buf_for(3)
    with k.on_cpu(3):
        for i in range(5):
            rbc.layer.write__straight(rb, encode(IRQ, {"seq": i, "irq": 1, "vector": 2}),
                                      IRQ.id)
    assert rbc.get_subbuf__straight(rb) < 0                 # open, not delivered
    assert k.hotplug.cpu_down(3) == 0
    pos = rbc.get_subbuf__straight(rb)
    if era is Era.V2:
        assert pos == 0
        h, records = read_packet(rb, pos)
        assert len(records) == 5 and rbc.put_subbuf__straight(rb, pos) == 0
    else:
        assert pos < 0
    ring_buffer_close(rbc, "hp")
    assert k.hotplug.cpu_up(3) == 0                         # the notifier is gone


@pytest.mark.parametrize("era", list(Era))
def test_a_quiet_stream_ends_with_an_empty_packet(tmp_path, era):
    """At stop (the recorder's final flush), 2.x flushes every buffer with
    SwitchMode.EMPTY (RING_BUFFER_FLUSH_EMPTY): a CPU that wrote nothing (it
    went offline before the first tick) still delivers a packet, with no
    event, so its stream says how far it got; 2009 writes nothing there."""
    from kmodel.consumer.record import Recorder, RecordOptions
    from kmodel.session import ScriptedWrite
    path = "/sys/devices/system/cpu/cpu3/online"
    off = ScriptedWrite(0, "0", path, f"0 echo 0 > {path}", "test:1")
    out = tmp_path / str(era)
    out.mkdir()
    Recorder(RecordOptions(machine="numa2", events=20, hotplug=[off], era=era),
             str(out)).run()
    trace = read_trace(str(out))
    quiet = trace.get("channel0_3", [])
    if era is Era.V2:
        assert len(quiet) == 1 and quiet[0].events == [] and quiet[0].cpu == 3
    else:
        assert quiet == []
    assert all(len(trace[f"channel0_{c}"]) >= 1 for c in (0, 1, 2))


def test_a_snapshot_while_writers_run_is_a_suffix_per_cpu(tmp_path):
    """trace record --snapshot-at: at the end of tick 5 of an overwrite
    recording whose consumer takes nothing, the buffers are written out as a
    CTF trace of their own, consuming nothing; for each CPU its events are
    the newest ones written by then, consecutive, whole, and the recording
    goes on (its own trace is read as usual)."""
    from kmodel.consumer.record import Recorder, RecordOptions
    out = tmp_path / "t"
    out.mkdir()
    rec = Recorder(RecordOptions(machine="numa2", duration=10, rate=40, mode="overwrite",
                                 subbuf_size=4096, n_subbufs=4, consumer_rate=0,
                                 snapshot_at=5, seed=2), str(out), keep=True)
    stats = rec.run()
    assert all(s.produced == s.read + s.lost for s in stats.values())
    snap = read_trace(str(out / "snapshot-5"))
    assert set(snap) == {f"channel0_{c}" for c in stats}
    for name, packets in snap.items():
        cpu = int(name.rsplit("_", 1)[1])
        seqs = [e[2]["seq"] for p in packets for e in p.events]
        upto = rec.snapshot_seq[cpu]
        assert seqs and seqs == list(range(upto - len(seqs), upto)), cpu   # a suffix
        for p in packets:                                   # each event as written
            for ts, ename, values in p.events:
                assert rec.expected[cpu][values["seq"]][0] == ename
        assert len(seqs) < upto                             # the buffer lapped: a suffix
    if shutil.which("babeltrace2"):
        r = subprocess.run(["babeltrace2", str(out / "snapshot-5")], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
        assert len(r.stdout.splitlines()) == sum(len(p.events) for ps in snap.values()
                                                for p in ps)


def test_a_hotplug_storm_loses_nothing_committed(tmp_path):
    """CPUs 1 to 3 go down and up every few ticks while every CPU writes.  In
    2.x each CPU_DEAD flushes the dying CPU's buffer, so its partial packet
    is delivered then, and the CPU starts a new one when it comes back; in
    2009 the packet stays open across the CPU's absence.  Either way every
    record written is read, none lost (discard mode, a buffer the consumer
    drains each tick), in order."""
    from kmodel.consumer.record import Recorder, RecordOptions
    from kmodel.session import ScriptedWrite
    script = []
    for i, tick in enumerate(range(1, 19, 3)):
        for cpu in (1, 2, 3):
            path = f"/sys/devices/system/cpu/cpu{cpu}/online"
            value = "0" if i % 2 == 0 else "1"
            script.append(ScriptedWrite(tick, value, path, f"{tick} echo {value} > {path}",
                                        f"storm:{len(script) + 1}"))
    packets = {}
    for era in Era:
        out = tmp_path / str(era)
        out.mkdir()
        rec = Recorder(RecordOptions(machine="numa2", duration=20, rate=8, hotplug=script,
                                     subbuf_size=16384, seed=4, era=era), str(out))
        stats = rec.run()
        assert not rec.refused
        for cpu, s in stats.items():
            assert s.produced == s.read and s.lost == 0, (era, cpu, s)
        trace = read_trace(str(out))
        for cpu in (1, 2, 3):
            seqs = [e[2]["seq"] for p in trace[f"channel0_{cpu}"] for e in p.events]
            assert seqs == list(range(stats[cpu].produced))
        packets[era] = {cpu: len(trace[f"channel0_{cpu}"]) for cpu in (1, 2, 3)}
    # three deaths each: packets closed at CPU_DEAD in 2.x (measured: 1 to 3
    # more a CPU with LTTng's compact header; a death with nothing written
    # since the last packet closes none)
    assert all(packets[Era.V2][c] > packets[Era.V2009][c] for c in (1, 2, 3)), packets


def test_read2_in_2009_learns_at_the_put_that_a_packet_tore(k):
    """read(2) on a 2009 overwrite buffer file: the reader holds packet 0
    half read while the writers lap it; the put at the end of the packet
    says -EIO, and the file's reader state counts the packet torn (the read
    consumer drops it); in 2.x the same reads are whole and nothing tears."""
    k.modules.insmod("ltt_relay_alloc")
    for era in Era:
        name = f"rd{era}".replace(".", "")
        rbc, err = ring_buffer_open(k, name, 4096, 4, "pagelist", "local", "lockless",
                                    "overwrite", "per-cpu", era=era)
        assert rbc is not None, err
        rb = rbc.buf_for(0)

        def events(lo, hi):
            with k.on_cpu(0):
                for i in range(lo, hi):
                    rbc.layer.write__straight(rb, encode(IRQ, {"seq": i, "irq": 1,
                                                               "vector": 2}), IRQ.id)
        events(0, PER + 1)
        h = k.fs.open(f"/sys/kernel/debug/ltt/{name}/cpu0")
        first = h.read(100)                                 # packet 0 held, half read
        events(PER + 1, 600)                                # the writers lap it
        rest = h.read(1 << 20)
        assert len(first) + len(rest) > 4000
        assert h.private_data.torn == (1 if era is Era.V2009 else 0)
        h.close()
        ring_buffer_close(rbc, name)
