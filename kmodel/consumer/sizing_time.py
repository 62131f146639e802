"""kmodel trace sizing in real units: sub-buffer size x count x event rate x
event size x consumer bandwidth, each point a recording in modeled time.

Each point records ``time_ns`` of a constant workload (kmodel.perf.arrivals)
on ``cpus`` CPUs (the others quiet), with a consumer on the first quiet CPU
(or the last CPU) draining at the point's bandwidth, and reports:

- the fraction of events lost, by cause (full: the consumer was behind;
  wrap: a nested writer a lap behind; big: larger than a sub-buffer;
  overrun: overwritten in overwrite mode);
- tracing's CPU time, as a fraction of each tracing CPU (the worst) and of
  the consumer's CPU;
- the worst time from an event to the consumer;
- the memory the buffers take (sub-buffer size x count x CPUs) and the peak
  fill of a buffer (its most bytes written and not yet consumed).

``recommend`` answers "what should I choose": for each sub-buffer count
given, the smallest sub-buffer size (a power of two, at least a page) whose
buffers fit the memory budget and lose nothing over the run; the smallest of
these in memory, with its margin: the part of the buffer its peak fill left
free.  The points run on the executor (kmodel.perf.executor), seeded: the
same table on any executor and any number of workers.
"""
import shutil
import tempfile
from dataclasses import dataclass
from functools import partial
from itertools import product

from kmodel.consumer.record import RecordOptions
from kmodel.consumer.timed_record import TimedOptions, TimedRecorder
from kmodel.perf.arrivals import SizeDist, Workload
from kmodel.perf.executor import run_map

CAUSES = ("full", "wrap", "big", "overrun")


@dataclass(frozen=True)
class TimePoint:
    subbuf_size: int
    n_subbufs: int
    rate: float                 # events a second on each tracing CPU
    size: int                   # bytes an event takes in the buffer
    bandwidth: float | None     # the consumer's bytes a second (None: unlimited)


@dataclass(frozen=True)
class TimeSetup:
    """What every point of a sweep shares."""
    time_ns: int
    cpus: int = 1
    machine: str | None = None
    seed: int = 0
    layer: str = "lockless"
    mode: str = "discard"
    wakeup_latency_ns: int = 0
    switch_timer_us: int = 0
    read_timer_us: int = 0


@dataclass(frozen=True)
class TimeRow:
    point: TimePoint
    produced: int
    lost: dict                  # cause -> events
    cpu_frac: float             # the busiest tracing CPU's share spent tracing
    consumer_frac: float        # the consumer CPU's share spent consuming
    worst_latency_ns: int
    memory: int                 # bytes of buffers
    peak_fill: int              # bytes, the fullest a buffer was

    @property
    def lost_total(self):
        return sum(self.lost.values())

    @property
    def lost_frac(self):
        return self.lost_total / max(self.produced, 1)


def points_in_time(subbuf_sizes, n_subbufs, rates, sizes, bandwidths):
    """points_in_time - the product of the lists, in that order."""
    return [TimePoint(*p) for p in product(subbuf_sizes, n_subbufs, rates, sizes, bandwidths)]


def run_time_point(point, setup, scratch):
    """run_time_point - one point's TimeRow, its trace written under scratch."""
    from hw.topology import DEFAULT_PRESET, load_preset
    spec = load_preset(setup.machine or DEFAULT_PRESET)
    present = list(spec.present_cpus)
    tracing = present[:setup.cpus]
    quiet = [c for c in present if c not in tracing]
    consumer_cpu = quiet[0] if quiet else present[-1]
    w = Workload(point.rate, cpu_rates=tuple((c, 0.0) for c in quiet),
                 size=SizeDist.parse(str(point.size)))
    d = tempfile.mkdtemp(prefix="point-", dir=scratch)
    try:
        rec = TimedRecorder(
            RecordOptions(machine=setup.machine, layer=setup.layer, mode=setup.mode,
                          subbuf_size=point.subbuf_size, n_subbufs=point.n_subbufs,
                          seed=setup.seed),
            TimedOptions(w, setup.time_ns, consumer_cpu, setup.wakeup_latency_ns,
                         point.bandwidth, setup.switch_timer_us, setup.read_timer_us),
            d, track_fill=True)
        stats = rec.run()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    t = rec.time
    lost = {"full": 0, "wrap": 0, "big": 0, "overrun": 0}
    produced = 0
    for s in stats.values():
        produced += s.produced
        lost["full"] += s.lost_full
        lost["wrap"] += s.lost_wrap
        lost["big"] += s.lost_big
        lost["overrun"] += s.overrun
    busiest = max(t.tracing_ns[c] for c in tracing)
    return TimeRow(point, produced, lost, busiest / t.elapsed_ns,
                   t.consumer_ns / t.elapsed_ns, int(t.worst_latency_ns),
                   point.subbuf_size * point.n_subbufs * len(present), max(rec.peak_fill.values()))


def sweep_in_time(points, setup, jobs=None, scheduler=None):
    """sweep_in_time - a generator of TimeRows, in the order of points, on the
    executor; a scratch directory of its own, removed at the end."""
    scratch = tempfile.mkdtemp(prefix="kmodel-sizing-")
    try:
        yield from run_map(partial(run_time_point, setup=setup, scratch=scratch), points,
                           jobs, scheduler)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def candidates(memory, n_subbufs, ncpus, smallest=4096):
    """candidates - for each count in n_subbufs, the sub-buffer sizes from
    smallest up, doubling, whose buffers (all CPUs') fit memory bytes."""
    out = []
    for n in n_subbufs:
        s = smallest
        while s * n * ncpus <= memory:
            out.append((s, n))
            s *= 2
    return out


def recommend(rate, size, bandwidth, memory, n_subbufs, setup, ncpus, jobs=None,
              scheduler=None):
    """recommend - (the TimeRow of the smallest geometry that loses nothing, or
    None; the rows tried, in the order of candidates()).  Every candidate
    runs (on the executor), so the answer is the same on any of them."""
    geoms = candidates(memory, n_subbufs, ncpus)
    points = [TimePoint(s, n, rate, size, bandwidth) for s, n in geoms]
    rows = list(sweep_in_time(points, setup, jobs, scheduler))
    good = [r for r in rows if r.lost_total == 0 and followed(r, setup)]
    best = min(good, key=lambda r: (r.memory, r.point.n_subbufs)) if good else None
    return best, rows


def asked(rate, setup):
    """asked - the events rate asks of the setup's tracing CPUs in its time."""
    return rate * setup.time_ns / 1e9 * setup.cpus


def followed(row, setup):
    """followed - did the tracing CPUs write the events the rate asks for
    (within 1%)?  An event that comes while its CPU is still busy with the
    previous one waits, so a rate the tracer cannot follow is written slower,
    and nothing lost then says nothing of that rate."""
    return row.produced >= 0.99 * asked(row.point.rate, setup)


def margin(row):
    """margin - the part of a buffer its peak fill left free (0..1)."""
    cap = row.point.subbuf_size * row.point.n_subbufs
    return 1 - row.peak_fill / cap
