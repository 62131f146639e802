"""Modeled time: the clock per CPU (hw/clock.py), the workloads in time
(kmodel/perf/arrivals.py) and what the trace shows of them."""
import re
import shutil
import subprocess

import pytest

from hw.clock import ClockMode
from hw.time_units import parse_bandwidth, parse_duration, parse_rate
from hw.topology import load_preset
from kmodel.perf.arrivals import Arrival, SizeDist, Workload, task_times
from kmodel.relay.packet import HDR
from time_helpers import only, record_in_time, timestamps

SPEC = load_preset("numa2")
T = SPEC.timing


def event_ns():
    """The modeled cost of one 32-byte event through the lockless layer, in
    a 4 x 16 KiB buffer, worked from the preset: a local_cmpxchg of offset and
    a local_add_return of the sub-buffer's commit count (local_op_cycles
    each), and the 32 bytes copied in a 64 KiB working set, which the L2
    holds (stream_gbps L2: cpu_ghz / GB/s cycles a byte)."""
    assert T.cache_kib["L1"] * 1024 < 65536 <= T.cache_kib["L2"] * 1024
    cycles = 2 * T.local_op_cycles + 32 * T.cpu_ghz / T.stream_gbps["L2"]
    return cycles / T.cpu_ghz           # numa2: (12 + 2) cycles at 2 GHz = 7 ns


def test_units():
    assert parse_duration("10ms") == 10_000_000 and parse_duration("500us") == 500_000
    assert parse_rate("2M") == 2e6 and parse_rate("500k/s") == 5e5
    assert parse_bandwidth("100MB/s") == 1e8 and parse_bandwidth("1Gb/s") == 1.25e8
    assert parse_bandwidth("64MiB/s") == 64 << 20
    for bad in ("10 parsecs", "-1ms", ""):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


def test_gaps_worked_by_hand(tmp_path):
    """One CPU at 1M events a second: each gap is the 1000 ns between two
    arrivals (7 ns of the tracer's work, 993 of the workload's own).  The
    same CPU asked for more than it can do: each gap is the modeled cost of
    one event, 7 ns, the CPU never idle, within a packet."""
    per = event_ns()
    assert per == 7.0
    _, _, trace = record_in_time(tmp_path / "slow", only([0], 1e6), 20_000)
    ts = timestamps(trace, 0)
    assert len(ts) == 20
    assert {b - a for a, b in zip(ts, ts[1:])} == {1000}
    # kmodel's 16-byte record header keeps the hand-worked event 32 bytes
    _, _, trace = record_in_time(tmp_path / "busy", only([0], 1e9), 2_000,
                                 rec_kw={"header": "kmodel"})
    first = trace["channel0_0"][0].events
    gaps = {i: b[0] - a[0] for i, (a, b) in enumerate(zip(first, first[1:]))}
    assert len(gaps) > 256
    # an event whose record enters a page (records are packed after the
    # packet's 84-byte header, so some straddle two) pays the page list's step
    # to it, a dependent load in L1 (cache_cycles), after its timestamp: the
    # gap to the next event is longer
    step = T.cache_cycles["L1"] / T.cpu_ghz
    for i, g in gaps.items():
        if i == 0:
            continue                    # the first event's packet header and cold lines
        at = HDR + 32 * i
        starts_page = at % 4096 == 0 or at // 4096 != (at + 31) // 4096
        assert g == per + (step if starts_page else 0), (i, g)


def test_rate_in_timestamps_within_one_percent(tmp_path):
    """2M events a second on two CPUs, Poisson on one of them: the rate the
    timestamps show, (n - 1) / (last - first), is the one asked (1%)."""
    w = Workload(2e6, cpu_rates=tuple((c, 0.0) for c in range(2, 8)))
    _, _, trace = record_in_time(tmp_path / "c", w, 2_000_000)
    for cpu in (0, 1):
        ts = timestamps(trace, cpu)
        rate = (len(ts) - 1) / ((ts[-1] - ts[0]) * 1e-9)
        assert abs(rate / 2e6 - 1) < 0.01, (cpu, rate)
    wp = Workload(2e6, Arrival.POISSON, cpu_rates=tuple((c, 0.0) for c in range(1, 8)))
    _, _, trace = record_in_time(tmp_path / "p", wp, 5_000_000)
    ts = timestamps(trace, 0)
    # 10,000 arrivals: the count's standard deviation is 1%; three of them
    assert abs(len(ts) / 10_000 - 1) < 0.03
    gaps = sorted(b - a for a, b in zip(ts, ts[1:]))
    assert gaps[len(gaps) // 2] == pytest.approx(500 * 0.693, rel=0.05)  # exponential median


@pytest.mark.skipif(shutil.which("babeltrace2") is None, reason="babeltrace2 is not installed")
def test_babeltrace2_sees_the_rate(tmp_path):
    w = Workload(2e6, cpu_rates=tuple((c, 0.0) for c in range(2, 8)))
    record_in_time(tmp_path / "t", w, 1_000_000)
    p = subprocess.run(["babeltrace2", "--clock-cycles", str(tmp_path / "t")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    by_cpu = {}
    for m in re.finditer(r"^\[(\d+)\].*cpu_id = (\d+)", p.stdout, re.M):
        by_cpu.setdefault(int(m.group(2)), []).append(int(m.group(1)))
    assert sorted(by_cpu) == [0, 1]
    for cpu, ts in by_cpu.items():
        assert len(ts) == 2000
        rate = (len(ts) - 1) / ((ts[-1] - ts[0]) * 1e-9)
        assert abs(rate / 2e6 - 1) < 0.01, (cpu, rate)


def test_bursts_imbalance_and_sizes(tmp_path):
    w = Workload(1e6, burst_on_ns=100_000, burst_off_ns=300_000,
                 cpu_rates=((1, 5e5),) + tuple((c, 0.0) for c in range(2, 8)),
                 size=SizeDist.parse("32-200"))
    assert w.mean_rate(0) == 2.5e5 and w.mean_rate(1) == 1.25e5
    _, stats, trace = record_in_time(tmp_path / "b", w, 800_000)
    ts0 = timestamps(trace, 0)
    assert len(ts0) == 200 and len(timestamps(trace, 1)) == 100
    assert all(t % 400_000 < 100_000 + 1_000 for t in ts0)       # in the on windows
    lens = [v["len"] for p in trace["channel0_0"] for _, _, v in p.events]
    # records of 32..200 bytes with the compact header (4): data of 12..180
    assert min(lens) >= 12 and max(lens) <= 180 and len(set(lens)) > 50
    assert not timestamps(trace, 5)


def test_nested_irqs_with_durations(tmp_path):
    """Interrupts of 20 us at 20k a second nest; each handler's exit comes
    its duration after its entry, plus what the handlers nested in it took."""
    w = only([0], 0.0, irq_rate=2e4, irq_duration_ns=20_000)
    rec, _, trace = record_in_time(tmp_path / "i", w, 2_000_000)
    assert rec.time.irqs > 50 and rec.time.nested_irqs > 0
    stack, depth_max = [], 0
    for p in trace["channel0_0"]:
        for ts, name, v in p.events:
            if name == "irq_handler_entry":
                stack.append([ts, 0, 0])
                depth_max = max(depth_max, len(stack))
            else:
                t0, inner, n = stack.pop()
                took = ts - t0          # + the tracer's ns: tens a handler
                assert 20_000 + inner <= took <= 20_000 + inner + 40 * (n + 1)
                if stack:
                    stack[-1][1] += took
                    stack[-1][2] += n + 1
    assert depth_max >= 2 and not stack


def test_same_options_same_trace(tmp_path):
    w = Workload(5e5, Arrival.POISSON, irq_rate=2e4, irq_duration_ns=3000,
                 size=SizeDist.parse("exp:64"))
    outs = []
    for name in ("a", "b"):
        record_in_time(tmp_path / name, w, 300_000, bandwidth=5e7, switch_timer_us=50)
        outs.append({str(f.relative_to(tmp_path / name)): f.read_bytes()
                     for f in (tmp_path / name).rglob("*") if f.is_file()})
    assert outs[0] == outs[1]


def test_clock_skew_moves_one_cpu(tmp_path):
    w = Workload(1e6, cpu_rates=tuple((c, 0.0) for c in range(2, 8)))
    _, _, a = record_in_time(tmp_path / "a", w, 20_000)
    _, _, b = record_in_time(tmp_path / "b", w, 20_000, clock_skew={1: 2_500})
    assert timestamps(a, 0) == timestamps(b, 0)
    assert [t + 2_500 for t in timestamps(a, 1)] == timestamps(b, 1)


def test_frozen_clock_reads_the_workload_time_only(tmp_path):
    from kmodel.session import Session
    s = Session("numa2", (), 0, "", None)
    try:
        clk = s.k.timing.clock
        assert clk.mode is ClockMode.MODELED        # the machine's, from its boot
        s.k.timing.reset()
        clk.in_order = False                        # (each CPU on its own clock)
        s.k.timing.cpus[1].cycles += 2000
        clk.wait_until(1, 500.0)            # busy past it: no wait
        assert clk.read(1) == 1000
        clk.wait_until(1, 1500.0)
        assert clk.read(1) == 1500
        clk.mode = ClockMode.FROZEN
        assert clk.read(1) == 500           # the idle time alone
    finally:
        s.close()


@pytest.mark.parametrize("argv, says", [
    (["--time", "0"], "--time 0: must be more than 0"),
    (["--time", "1ms", "--event-rate", "fast"], "--event-rate: not a rate: 'fast'"),
    (["--time", "1ms", "--consumer-cpu", "99"], "--consumer-cpu 99: not a present CPU"),
    (["--time", "1ms", "--hotplug", "/nonexistent"], "--hotplug scripts name ticks: not "
     "with --time"),
    (["--time", "1ms", "--consumer-cpu", "3", "--cmdline", "maxcpus=1"],
     "the consumer's CPU 3 is not online (the boot's command line: maxcpus=1)"),
    (["--time", "1ms", "--consumer", "read"], "--consumer read takes no sub-buffer at a time"),
    (["--time", "1ms", "--events", "5"], "not with --events or --duration"),
    (["--bandwidth", "1MB/s", "--events", "5"], "--bandwidth needs --time"),
    (["--time", "1ms", "--clock-skew", "1:-5us"], "--clock-skew: not a duration"),
    # an option of one kind of recording given to the other is refused by name, not
    # ignored (each had a default, so that a value given was silently dropped)
    (["--events", "5", "--event-rate", "2M"], "--event-rate needs --time"),
    (["--events", "5", "--arrivals", "poisson"], "--arrivals needs --time"),
    (["--events", "5", "--event-size", "64"], "--event-size needs --time"),
    (["--events", "5", "--irq-rate", "1k"], "--irq-rate needs --time"),
    (["--events", "5", "--irq-duration", "1us"], "--irq-duration needs --time"),
    (["--events", "5", "--wakeup-latency", "5us"], "--wakeup-latency needs --time"),
    (["--events", "5", "--switch-timer", "0"], "--switch-timer needs --time"),
    (["--time", "1ms", "--rate", "16"], "--rate counts per tick: with --time, --event-rate"),
    (["--time", "1ms", "--consumer-rate", "1"], "--consumer-rate counts per tick: with "
     "--time, --bandwidth"),
])
def test_bad_options_in_time_are_refused_before_anything(tmp_path, capsys, argv, says):
    import io

    from kmodel.cli.main import main
    try:                                # (argparse refuses a bad number itself)
        rc = main(["trace", "record", str(tmp_path / "t")] + argv, out=io.StringIO())
    except SystemExit as e:
        rc = e.code
    assert rc == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def last_packets(trace):
    """{cpu: (ts_begin, ts_end, events) of its stream's last packet}."""
    return {int(name.rsplit("_", 1)[1]): (p[-1].ts_begin, p[-1].ts_end, len(p[-1].events))
            for name, p in trace.items() if name.startswith("channel0_")}


def babeltrace2_reads_quietly(path):
    """The blob events babeltrace2 prints of a trace it reads with no warning."""
    p = subprocess.run(["babeltrace2", str(path)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and not p.stderr.strip(), p.stderr[-2000:]
    return [line for line in p.stdout.splitlines() if " blob: " in line]


def test_quiet_cpus_reach_the_end_of_the_time_line(tmp_path):
    """--cpu-rates 0:2M,1:0 (and the others 0) for 1 ms: at the stop every
    online CPU's clock is at 1 ms at least, so a quiet CPU's stop packet (an
    empty packet) and CPU 0's last one end there, not where each CPU last
    did something (a quiet CPU: at 0).  The flush costs a quiet CPU a few
    hundred ns of its own (the other node's CPUs, more)."""
    _, _, trace = record_in_time(tmp_path / "q", only([0], 2e6), 1_000_000)
    last = last_packets(trace)
    assert sorted(last) == list(range(8))
    assert 1_000_000 <= last[0][1] < 1_001_000 and last[0][2] > 0
    for cpu in range(1, 8):
        begin, end, n = last[cpu]
        assert n == 0 and 1_000_000 <= begin <= end < 1_001_000, (cpu, last[cpu])
    if shutil.which("babeltrace2"):
        assert len(babeltrace2_reads_quietly(tmp_path / "q")) == 2000


def test_a_cpu_whose_events_end_early_and_the_switch_timer_on_it(tmp_path):
    """CPUs 0 and 1 write 3 events in their first 2 us, then nothing.  CPU 1's packet
    ends at the stop (1 ms), not at its third event; with a 100 us switch
    timer, the timer closes that packet at 100 us: stamped with the timer's
    time (plus the switch's own ns), and the stop packet after it at 1 ms."""
    w = Workload(1e6, burst_on_ns=2_500, burst_off_ns=10**10,
                 cpu_rates=((0, 1e6),) + tuple((c, 0.0) for c in range(2, 8)))
    _, _, trace = record_in_time(tmp_path / "e", w, 1_000_000)
    (p,) = trace["channel0_1"]
    assert len(p.events) == 3 and p.events[-1][0] < 3_000
    assert 1_000_000 <= p.ts_end < 1_001_000
    _, _, trace = record_in_time(tmp_path / "s", w, 1_000_000, switch_timer_us=100)
    first, *rest = trace["channel0_1"]
    assert len(first.events) == 3 and 100_000 <= first.ts_end < 101_000
    assert rest and all(not p.events for p in rest)
    assert 1_000_000 <= rest[-1].ts_begin <= rest[-1].ts_end < 1_001_000
    if shutil.which("babeltrace2"):
        for d in ("e", "s"):
            assert len(babeltrace2_reads_quietly(tmp_path / d)) == 6
