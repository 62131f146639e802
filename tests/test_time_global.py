"""A global buffer (Scope.GLOBAL: one buffer, one stream, every CPU writing
into it) in a recording in time (kmodel/consumer/timed_record.py), and in
ticks (kmodel/consumer/record.py)."""
import shutil
import subprocess

import pytest

from kmodel.consumer.ctf import read_trace
from kmodel.consumer.record import Recorder, RecordOptions
from kmodel.consumer.timed_record import TimedOptions, TimedRecorder
from kmodel.perf.arrivals import Arrival, Workload
from kmodel.relay.rb_config import Scope
from time_helpers import NCPUS

BT2 = shutil.which("babeltrace2")


def two_cpus_poisson(**kw):
    return Workload(1e6, Arrival.POISSON,
                    cpu_rates=tuple((c, 0.0) for c in range(2, NCPUS)), **kw)


def test_a_global_buffer_in_time_is_one_stream_in_time_order(tmp_path):
    """CPUs 0 and 1 at 1M events a second each (Poisson: their events come
    close together at times) into one global buffer for 3 ms, the consumer
    on CPU 1 woken by a read timer: one stream, every event written in it
    and read (no loss at this rate), its timestamps in order across the
    CPUs, and babeltrace2 reads it without a word."""
    rec = TimedRecorder(RecordOptions(scope=Scope.GLOBAL),
                        TimedOptions(two_cpus_poisson(), 3_000_000, consumer_cpu=1,
                                     read_timer_us=100), str(tmp_path))
    stats = rec.run()
    trace = read_trace(str(tmp_path))
    assert list(trace) == ["channel0_global"]
    packets = trace["channel0_global"]
    ts = [t for p in packets for t, _, _ in p.events]
    assert len(packets) > 8 and len(ts) > 5000
    assert ts == sorted(ts)
    for a, b in zip(packets, packets[1:]):
        assert a.ts_end <= b.ts_begin <= (b.events[0][0] if b.events else b.ts_end)
    assert list(stats) == [None]                # the global buffer's (cpu_id NO_CPU) counts
    assert stats[None].produced == stats[None].read == len(ts) and stats[None].lost == 0
    assert rec.drain.taken > 8
    if BT2:
        p = subprocess.run([BT2, str(tmp_path)], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0 and not p.stderr.strip(), p.stderr[-2000:]
        assert p.stdout.count(" blob: ") == len(ts)


@pytest.mark.parametrize("workload, timed, says", [
    (two_cpus_poisson(irq_rate=2e4, irq_duration_ns=2000), {}, "takes no interrupts"),
    (two_cpus_poisson(), {"clock_skew": {1: 500}}, "takes no clock skew"),
    (two_cpus_poisson(), {"switch_timer_us": 20}, "takes no switch timer"),
])
def test_what_a_global_buffer_in_time_cannot_order_is_refused(tmp_path, workload, timed, says):
    """Each would put one stream's timestamps out of order (check_scope says
    why): refused before anything boots or is written."""
    with pytest.raises(ValueError, match=f"a global buffer in time {says}"):
        TimedRecorder(RecordOptions(scope=Scope.GLOBAL), TimedOptions(workload, 1_000_000, **timed),
                      str(tmp_path))
    assert not list(tmp_path.iterdir())
    # per-CPU buffers take each of them
    TimedRecorder(RecordOptions(), TimedOptions(workload, 1_000, **timed), str(tmp_path))


def test_a_global_buffer_in_ticks(tmp_path):
    """The same channel in a recording in ticks: one stream, its counts under
    None (its packets' cpu_id is NO_CPU), what was read the events in it."""
    rec = Recorder(RecordOptions(events=64, scope=Scope.GLOBAL), str(tmp_path))
    stats = rec.run()
    trace = read_trace(str(tmp_path))
    assert list(trace) == ["channel0_global"] and list(stats) == [None]
    n = sum(len(p.events) for p in trace["channel0_global"])
    assert n == stats[None].read > 0 and stats[None].packets == len(trace["channel0_global"])
    if BT2:
        p = subprocess.run([BT2, str(tmp_path)], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0 and len(p.stdout.splitlines()) == n




def test_a_global_buffer_in_time_stays_in_order_across_sockets(tmp_path):
    """Every CPU, both sockets, at the same constant rate: their events arrive
    at the same instants and run whole one after another, and a reservation
    reads the clock after its line came across, later from the other socket
    than from this one.  The stream's timestamps still never go back: a CPU
    behind the last read waits for it (hw.clock's in_order)."""
    rec = TimedRecorder(RecordOptions(scope=Scope.GLOBAL),
                        TimedOptions(Workload(1e5), 1_000_000), str(tmp_path))
    rec.run()
    trace = read_trace(str(tmp_path))
    stamps = [e[0] for p in trace["channel0_global"] for e in p.events]
    assert len(stamps) >= NCPUS * 100 - NCPUS
    assert all(a <= b for a, b in zip(stamps, stamps[1:]))
    if BT2:
        p = subprocess.run([BT2, str(tmp_path)], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-300:]
