"""LTTng's own tools read a `kmodel trace record --workload sched` trace, and find
what the workload did (kmodel/consumer/sched_workload.py keeps the truth):
babeltrace2 with no warning and times as dates, a CTF copy that reads the
same, lttng-analyses' cputop (CPU time per task), irqstats (interrupts and
softirqs: counts and durations) and schedtop (each wakeup's latency to its
switch-in), and the switches.  Each tool that is absent
skips its tests with the reason."""
import json
import os
import re
import shutil
import subprocess

import pytest

from kmodel.consumer.ctf import BOOT_EPOCH_S, read_trace
from kmodel.consumer.record import Recorder, RecordOptions
from kmodel.consumer.sched_workload import TICK_NS, SchedModel

BT2 = shutil.which("babeltrace2")
ANALYSES = "/usr/bin/python3"               # the Debian package's modules are its own
needs_bt2 = pytest.mark.skipif(BT2 is None, reason="babeltrace2 is not installed (Debian: "
                               "apt-get install babeltrace2)")


def analysis(name):
    """The command line of an lttng-analyses MI tool, or a skip naming what is missing."""
    path = shutil.which(f"lttng-{name}-mi")
    if path is None or not os.path.exists(ANALYSES):
        pytest.skip(f"lttng-{name}-mi is not installed (Debian: apt-get install "
                    "python3-lttnganalyses)")
    check = subprocess.run([ANALYSES, "-c", "import lttnganalyses, babeltrace"],
                           capture_output=True)
    if check.returncode:
        pytest.skip(f"{ANALYSES} cannot import lttnganalyses and babeltrace (python3-babeltrace)")
    extra = [] if shutil.which("babeltrace") else ["--skip-validation"]
    return [ANALYSES, path, "--no-intersection", *extra]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A sched trace in SESSION/kernel, as LTTng lays out a kernel session (the
    analyses read the tracer's version from a directory named kernel)."""
    out = tmp_path_factory.mktemp("session") / "kernel"
    out.mkdir()
    rec = Recorder(RecordOptions(workload="sched", duration=120, seed=3), str(out))
    stats = rec.run()
    assert sum(s.lost for s in stats.values()) == 0
    return out, rec


@pytest.fixture(scope="module")
def traced(recorded):
    out, rec = recorded
    return out, rec.sched.truth


def bt2(*args):
    r = subprocess.run([BT2, *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


@needs_bt2
def test_babeltrace2_reads_it_without_a_warning_and_prints_dates(traced):
    path, truth = traced
    r = bt2(path)
    assert r.stderr == ""
    lines = r.stdout.splitlines()
    assert all(re.match(r"\[10:17:\d\d\.\d{9}\] ", line) for line in lines)
    assert bt2("--clock-date", path).stdout.startswith("[2009-03-24 10:17:00.")
    ours = sum(len(p.events) for ps in read_trace(str(path)).values() for p in ps)
    assert len(lines) == ours
    switches = sum(" sched_switch: " in line for line in lines)
    assert switches == sum(truth.switches_in.values()) > 0


@needs_bt2
def test_a_ctf_copy_reads_the_same_events(traced, tmp_path):
    path, _ = traced
    bt2(path, "--output-format=ctf", f"--output={tmp_path / 'copy'}")
    assert bt2(tmp_path / "copy").stdout == bt2(path).stdout


def mi(name, path, *extra):
    r = subprocess.run(analysis(name) + [*extra, str(path)], capture_output=True, text=True)
    assert r.returncode == 0, (r.stdout[-1000:], r.stderr[-2000:])
    return {t["class"]: t for t in json.loads(r.stdout)["results"]}


def test_cputop_finds_each_tasks_cpu_time(traced):
    path, truth = traced
    table = mi("cputop", path, "--limit", "1000")["per-process"]
    span = table["time-range"]["end"]["value"] - table["time-range"]["begin"]["value"]
    got = {row[0]["tid"]: (row[0]["name"], row[3]["value"]) for row in table["data"]
           if row[0]["tid"]}                # (0: the idle tasks, swapper/N)
    want = {tid: (truth.comm[tid], ns / span) for tid, ns in truth.cpu_ns.items() if ns}
    assert set(got) == set(want)
    for tid, (comm, ratio) in want.items():
        assert got[tid][0] == comm
        assert got[tid][1] == pytest.approx(ratio, abs=1e-4), (tid, comm)


def test_irqstats_finds_each_interrupt_and_softirq(recorded):
    path, rec = recorded
    truth = rec.sched.truth
    tables = mi("irqstats", path)
    late = max(lateness(path, rec))     # a handler's entry and exit, each as late
    for cls, count, total in (("hard-stats", truth.irqs, truth.irq_ns),
                              ("soft-stats", truth.softirqs, truth.softirq_ns)):
        rows = {row[0]["nr"]: (row[1]["value"], row[3]["value"])
                for row in tables[cls]["data"]}
        assert set(rows) == set(count)
        for nr, (n, avg) in rows.items():
            assert n == count[nr], (cls, nr)
            assert avg == pytest.approx(total[nr] / count[nr], abs=late + 1), (cls, nr)


def model_latencies(rec):
    """The scheduling latencies of the recorded run, from the model's own events
    (the model run again with the recording's seed, CPUs and start, for as many
    ticks: nothing of the ring buffer, the trace or its reader): each task's
    first wakeup since it last ran, to its next switch-in, as schedtop counts
    them.  {tid: [(wakeup ns, switch-in ns)]}, in modeled time."""
    model = SchedModel(rec.opts.seed, rec.sched.cpus, start_ns=rec.sched.start)
    events = model.next_events(model.start + rec.ticks * TICK_NS)
    for what in ("switches_in", "irqs", "softirqs", "comm"):  # the same run as recorded
        assert getattr(model.truth, what) == getattr(rec.sched.truth, what), what
    running, woken, out = {}, {}, {}
    for t, cpu, _ctx, name, values in events:
        if name == "sched_wakeup" and values["tid"] not in running.values():
            woken.setdefault(values["tid"], t)
        elif name == "sched_switch":
            running[cpu] = tid = values["next_tid"]
            if tid in woken:
                out.setdefault(tid, []).append((woken.pop(tid), t))
    return out


def lateness(path, rec):
    """How late the recorded events are on the model's times: each event's
    timestamp in the trace less its time in the model (run again, as in
    model_latencies), paired in order on each CPU.  The recorder writes an
    event when the model says, on its CPU's clock, so it is never early, and
    late by what tracing cost that CPU since it last waited."""
    model = SchedModel(rec.opts.seed, rec.sched.cpus, start_ns=rec.sched.start)
    want = {}
    for t, cpu, _ctx, name, _values in model.next_events(model.start + rec.ticks * TICK_NS):
        want.setdefault(cpu, []).append((t, name))
    late = []
    for ps in read_trace(str(path)).values():
        got = [(ts, name) for p in ps for ts, name, _ in p.events]
        if not got:
            continue
        model_cpu = want[ps[0].cpu]
        assert [n for _, n in got] == [n for _, n in model_cpu]
        late += [ts - t for (ts, _), (t, _) in zip(got, model_cpu)]
    return late


def test_the_recorded_events_are_at_the_models_times_or_a_little_later(recorded):
    path, rec = recorded
    late = lateness(path, rec)
    assert len(late) > 1000 and min(late) >= 0
    assert 0 < max(late) < TICK_NS              # (well within the tick it was due in)


def test_schedtop_finds_each_wakeups_latency(recorded):
    path, rec = recorded
    table = mi("schedtop", path, "--limit", "1000000")["top"]
    base = BOOT_EPOCH_S * 10**9                 # the trace clock: ns from the boot's date
    got = {}
    for row in table["data"]:
        wakee = row[5]
        assert wakee["name"] == rec.sched.truth.comm[wakee["tid"]]
        assert row[2]["value"] == row[1]["value"] - row[0]["value"]
        got.setdefault(wakee["tid"], []).append((row[0]["value"] - base,
                                                 row[1]["value"] - base))
    want = model_latencies(rec)
    assert sum(map(len, want.values())) > 500
    assert sum(1 for ws in want.values() for w, s in ws if s > w) > 300
    assert set(got) == set(want)
    # (a recorded event is late by what tracing cost its CPU, record.py's
    # _tick_sched: never early, at most the worst lateness of the trace)
    late = max(lateness(path, rec))
    for tid, pairs in want.items():
        mine = sorted(got[tid])
        assert len(mine) == len(pairs), tid
        for (gw, gs), (w, s) in zip(mine, sorted(pairs)):
            assert 0 <= gw - w <= late and 0 <= gs - s <= late, (tid, (gw, gs), (w, s))
        lat, ours = [s - w for w, s in mine], [s - w for w, s in pairs]
        assert min(lat) == pytest.approx(min(ours), abs=late), tid
        assert max(lat) == pytest.approx(max(ours), abs=late), tid
        assert sum(lat) / len(lat) == pytest.approx(sum(ours) / len(ours), abs=late), tid
