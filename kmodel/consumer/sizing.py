"""kmodel trace sizing: how big must the sub-buffers be before no event is lost?

Each point of the sweep records a trace (record.py, in a scratch directory)
with one sub-buffer size, sub-buffer count, event rate and consumer rate, and
reports the share of events lost.  Points run in worker processes; each is
seeded, so a sweep gives the same table on any host and with any number of
workers.

The work is bounded before it starts: at most MAX_POINTS points and
MAX_EVENTS events in all (each point's events on each CPU), and no more
workers than points or cores.  A sweep stops cleanly: on an exception in the
parent (Ctrl-C, SIGTERM turned into one by the CLI) its workers are
terminated and its scratch directory, where every point writes, is removed;
a worker that dies is a WorkerDied, naming the signal that killed it
(kmodel.perf.executor, which runs the points).
"""
import shutil
import tempfile
from dataclasses import dataclass
from functools import partial
from itertools import product

from kmodel.consumer.record import Recorder, RecordOptions
from kmodel.perf.executor import WorkerDied, run_map, workers_for  # noqa: F401 (the CLI's)

MAX_POINTS = 400
MAX_EVENTS = 4_000_000          # about a minute of one core (60k events/s)


@dataclass(frozen=True)
class Point:
    subbuf_size: int
    n_subbufs: int
    rate: int
    consumer_rate: int


def points_of(subbuf_sizes, n_subbufs, rates, consumer_rates):
    """points_of - the sweep's points, in the order of the product of the lists."""
    return [Point(*p) for p in product(subbuf_sizes, n_subbufs, rates, consumer_rates)]


def check_work(points, events, ncpus):
    """check_work - refuse a sweep past MAX_POINTS or MAX_EVENTS (a ValueError
    naming the cap), before anything runs.  A CPU writes whole ticks of
    rate events until it has written events, so a point's work is events
    rounded up to a multiple of its rate."""
    if len(points) > MAX_POINTS:
        raise ValueError(f"{len(points)} points: at most {MAX_POINTS} a sweep")
    total = ncpus * sum(-(-events // p.rate) * p.rate for p in points)
    if total > MAX_EVENTS:
        raise ValueError(f"{len(points)} points of {events} events (rounded up to whole "
                         f"ticks) on {ncpus} CPUs = {total:,} events: at most "
                         f"{MAX_EVENTS:,} a sweep (about a minute of one core)")


def run_point(point, scratch, machine, events, seed, layer, mode):
    """run_point - (point, produced, lost, bytes a record takes on average,
    header and payload) for one point of the sweep, its trace written under
    scratch."""
    d = tempfile.mkdtemp(prefix="point-", dir=scratch)
    try:
        stats = Recorder(RecordOptions(machine=machine, events=events, rate=point.rate,
                                       layer=layer, mode=mode, subbuf_size=point.subbuf_size,
                                       n_subbufs=point.n_subbufs,
                                       consumer_rate=point.consumer_rate, seed=seed),
                         d).run()
    finally:
        shutil.rmtree(d, ignore_errors=True)
    produced = sum(s.produced for s in stats.values())
    lost = sum(s.lost for s in stats.values())
    read = sum(s.read for s in stats.values())
    return point, produced, lost, sum(s.record_bytes for s in stats.values()) / max(read, 1)


def sweep(points, machine=None, events=200, seed=0, layer="lockless", mode="discard",
          jobs=None, scheduler=None):
    """sweep - a generator of (point, produced, lost, bytes per record), in
    the order of points, run by the executor (kmodel.perf.executor: jobs
    local workers, or the Dask cluster at scheduler).

    Runs in a scratch directory of its own, removed when the generator ends
    (or is closed, or an exception, such as KeyboardInterrupt, goes through
    it), after its workers are gone.
    """
    scratch = tempfile.mkdtemp(prefix="kmodel-sizing-")
    try:
        yield from run_map(partial(run_point, scratch=scratch, machine=machine, events=events,
                                   seed=seed, layer=layer, mode=mode),
                           points, jobs, scheduler)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
