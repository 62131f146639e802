"""The consumer in time (kmodel/consumer/timed.py) and the channel's timers
(kmodel/consumer/timers.py): wake-ups, latency, bandwidth, the switch timer."""
from kmodel.perf.arrivals import Workload
from kmodel.relay.packet import HDR
from time_helpers import only, record_in_time, timestamps

S = 16384
PER_SUBBUF = (S - HDR) // 32                    # 32-byte events in a packet


def quiet_cpu1():
    """CPU 0 at 1M events a second; CPU 1 writes 3 events in its first 2 us
    (at 1M/s for a burst of 2.5 us every 10 s), then nothing."""
    return Workload(1e6, burst_on_ns=2_500, burst_off_ns=10**10,
                    cpu_rates=((0, 1e6),) + tuple((c, 0.0) for c in range(2, 8)))


def test_switch_timer_brings_a_quiet_cpus_events_within_period_plus_latency(tmp_path):
    """The bound: the period, the wake-up latency, and the consumer's reading
    of the packets it takes before that one in the same wake-up (CPU 0's, 16
    KiB, about 1 us on numa2)."""
    w = quiet_cpu1()
    rec, _, _ = record_in_time(tmp_path / "t", w, 1_000_000, switch_timer_us=100,
                               wakeup_latency_ns=20_000, consumer_cpu=3)
    got = [a for a in rec.time.arrivals if a[0] == 1]
    assert len(got) == 1
    cpu, seq, ts_begin, taken = got[0]
    assert ts_begin == 0 and 100_000 + 20_000 <= taken <= 100_000 + 20_000 + 2_500
    for cpu, seq, ts_begin, taken in rec.time.arrivals:     # every packet, CPU 0's too
        assert taken - ts_begin <= 100_000 + 20_000 + 2_500
    assert rec.time.switches == 8 * 9           # each online CPU's buffer, 100 .. 900 us
    # without the timer, CPU 1's packet stays open until the final flush
    rec, _, trace = record_in_time(tmp_path / "n", w, 1_000_000, wakeup_latency_ns=20_000,
                                   consumer_cpu=3)
    assert not [a for a in rec.time.arrivals if a[0] == 1]
    assert sum(len(p.events) for p in trace["channel0_1"]) == 3     # (written at the end)


def test_read_timer_wakes_the_consumer_on_its_period(tmp_path):
    w = only([0], 1e6)
    rec, _, _ = record_in_time(tmp_path / "r", w, 2_000_000, read_timer_us=300,
                               wakeup_latency_ns=5_000)
    assert rec.time.reads == 6
    firsts = sorted({taken for *_, taken in rec.time.arrivals})
    # each wake-up takes what was delivered since, one sub-buffer after another
    # (no bandwidth limit: at once), 5 us after the timer
    assert firsts and all((t - 5_000) % 300_000 < 2_000 for t in firsts)


def test_losses_when_the_consumer_is_slower_than_the_events(tmp_path):
    """32 MB/s of events (1M/s of 32 bytes) into a consumer of 16 MB/s for
    20 ms: the consumer takes a sub-buffer every S / 16 MB/s; it empties the
    buffer's n sub-buffers (and the one being written when the run ends
    reaches it at the final flush): what it reads is the sub-buffers it had
    time for plus those left in the buffer, the rest is lost (full)."""
    T, bw, n = 20_000_000, 16e6, 4
    rec, stats, _ = record_in_time(tmp_path / "l", only([0], 1e6), T, bandwidth=bw,
                                   consumer_cpu=1)
    s = stats[0]
    assert s.produced == 20_000
    drained = int(bw * T / 1e9 / S)                         # 19 sub-buffers written out
    predicted_read = (drained + n) * PER_SUBBUF
    assert abs(s.read - predicted_read) <= PER_SUBBUF, (s.read, predicted_read)
    assert s.lost == s.lost_full == s.produced - s.read
    assert abs(s.lost / s.produced - (1 - predicted_read / 20_000)) < 0.03
    # a consumer as fast as the events: nothing lost
    _, stats, _ = record_in_time(tmp_path / "f", only([0], 1e6), T, bandwidth=40e6)
    assert stats[0].lost == 0


def test_consumer_work_is_charged_to_its_cpu(tmp_path):
    w = only([0], 1e6)
    rec, _, a = record_in_time(tmp_path / "a", w, 2_000_000, consumer_cpu=5)
    assert rec.time.consumer_ns > 0
    assert rec.time.tracing_ns[5] == rec.time.consumer_ns   # its reads, nothing else
    rec0, _, b = record_in_time(tmp_path / "b", w, 2_000_000, consumer_cpu=0)
    assert rec0.time.tracing_ns[5] == 0 and rec0.time.consumer_ns > 0
    assert rec0.time.tracing_ns[0] > rec0.time.consumer_ns
    # on the writer's CPU the consumer finds the lines in its own cache; from
    # CPU 5 (the other node) it takes them across, and the writer takes them back
    assert rec0.time.consumer_ns < rec.time.consumer_ns
    assert rec.time.tracing_ns[0] > rec0.time.tracing_ns[0] - rec0.time.consumer_ns


def test_the_consumer_writes_out_packets_padded_to_a_page(tmp_path):
    """As LTTng's kernel consumer (RING_BUFFER_GET_PADDED_SUBBUF_SIZE): a
    packet's content rounded up to a page, not the whole sub-buffer.  The
    quiet CPU's packet (64-byte header, 3 events of 32) costs a page; CPU 0's
    full ones the sub-buffer."""
    from kmodel.consumer.timed import padded_size
    from kmodel.relay.packet import PACKET_MAGIC, PacketHeader

    def hdr(content):
        return PacketHeader(PACKET_MAGIC, 0, 0, content * 8, S * 8, 0, 0, 0)
    assert [padded_size(hdr(c), S) for c in (64, 4096, 4097, S)] == [4096, 4096, 8192, S]
    rec, _, _ = record_in_time(tmp_path / "t", quiet_cpu1(), 600_000, switch_timer_us=100,
                               consumer_cpu=3, bandwidth=4096e6)    # a page a microsecond
    assert sorted(a[0] for a in rec.time.arrivals) == [0, 1]     # 3 events each
    assert rec.drain.out_bytes == 2 * 4096
    # (full packets cost the whole sub-buffer: the losses' arithmetic above)


def test_busy_is_within_the_recording_and_what_runs_past_it_is_said(tmp_path, capsys):
    """A 100 B/s output: the one packet the switch timer closes at 100 us
    takes 4096 / 100 = 40.96 s to write out.  The consumer is busy from then
    to the end, 90% of the 1 ms, and 40.96 s - 0.9 ms after it; the report
    said 4,096,000% (a write-out counted whole at its start)."""
    from kmodel.cli.main import main
    assert main(["trace", "record", str(tmp_path / "t"), "--time", "1ms", "--bandwidth", "100",
                 "--switch-timer", "100", "--cpu-rates", "1:0,2:0,3:0,4:0,5:0,6:0,7:0"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("consumer"))
    assert "busy 90.0% of the time and 40.96s after it, writing out;" in line, line


def test_consumer_and_events_share_one_cpu_worked_by_hand(tmp_path):
    """CPU 0 reaches a tracepoint every 100 ns (10M/s, 32-byte events, 7 ns
    each: test_time.event_ns), and the consumer runs on CPU 0 too.  The
    first packet holds 509 events (0 .. 50,800 ns); the event at 50,900
    opens the next one and delivers the first: that event's write ends at
    50,923 (7 ns and the packet switch), when it wakes the consumer.  With a
    wake-up latency of 80 ns the consumer wants the CPU at 51,003, but CPU 0
    is writing the event that arrived at 51,000 until 51,007: the consumer
    starts then.  Its slice takes the sub-buffer and reads the 16 KiB out
    of CPU 0's L2 (16,384 B at 32 GB/s: 512 ns), to 51,519.  The events due
    at 51,100 .. 51,500 wait for it (the application is not running), then
    are written back to back, 7 ns apart, from the slice's end: delayed 419,
    326, 233, 140 and 47 ns; the one at 51,600 is on time.  The consumer's latency: 84 ns from its wake-up
    (80 of them its own), 51,007 ns after the packet's first event (at 0).
    (Its write-out, 16 KiB at 1 GB/s, ends after the recording: the
    sub-buffer's put, more CPU time, comes then.)"""
    w = only([0], 1e7)
    rec, _, trace = record_in_time(tmp_path / "h", w, 60_000, consumer_cpu=0,
                                   wakeup_latency_ns=80, bandwidth=1e9)
    assert rec.drain.slices == [[51_007, 51_519]]
    ts = timestamps(trace, 0)
    assert ts[:509] == list(range(0, 50_900, 100)) and ts[509:511] == [50_900, 51_000]
    assert ts[511:517] == [51_519, 51_526, 51_533, 51_540, 51_547, 51_600]
    assert [t - a for t, a in zip(ts[511:516], range(51_100, 51_600, 100))] == \
        [419, 326, 233, 140, 47]
    assert ts[517:] == list(range(51_700, 60_000, 100))
    assert rec.time.arrivals == [(0, 0, 0, 51_007)] and rec.time.worst_latency_ns == 51_007


def test_interrupts_preempt_the_consumer_tasks_wait_for_it(tmp_path):
    """As above, with interrupts (2M/s Poisson, 50 ns handlers) on CPU 0:
    one that arrives during the consumer's slice runs at its arrival (its
    entry event stamped then, not at the slice's end), and the slice ends
    later by the handlers' time; a task event due in a slice is written
    after it."""
    from kmodel.perf.arrivals import irq_times
    w = only([0], 1e7, irq_rate=2e6, irq_duration_ns=50)
    rec, _, trace = record_in_time(tmp_path / "i", w, 1_200_000, consumer_cpu=0)
    d = rec.drain
    assert d.preempted_ns > 0
    entries = timestamps(trace, 0, "irq_handler_entry")
    arrivals = list(irq_times(w, 0, 0, 1_200_000))
    assert len(entries) == len(arrivals)
    inside = [(a, ts) for a, ts in zip(arrivals, entries)
              if any(s <= a < e - 100 for s, e in d.slices)]
    assert len(inside) >= 3
    for a, ts in inside:                # on time (or behind an event, or a handler, of its CPU)
        assert int(a) <= ts < a + 100, (a, ts)
    blobs = timestamps(trace, 0, "blob")
    for s, e in d.slices:               # no task event within a slice
        assert not [t for t in blobs if s < t < int(e)], (s, e)
