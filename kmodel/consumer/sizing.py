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
a worker that dies is a WorkerDied, naming the signal that killed it.
"""
import os
import shutil
import signal
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import product, repeat

from kmodel.consumer.record import Recorder, RecordOptions

MAX_POINTS = 400
MAX_EVENTS = 4_000_000          # about a minute of one core (60k events/s)


class WorkerDied(RuntimeError):
    """A worker process ended without its point's result (killed, out of memory)."""


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


def workers_for(jobs, npoints):
    """workers_for - how many worker processes: jobs (default: every core), but
    never more than the points or the cores."""
    cores = os.cpu_count() or 1
    return max(1, min(jobs or cores, npoints, cores))


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


def _worker_init():
    """A worker leaves Ctrl-C to the parent (the terminal sends it to the whole
    process group), which ends the workers itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _end_workers(procs):
    """Terminate the workers and reap them: ProcessPoolExecutor has no public
    way to stop workers that are running a task (terminate_workers() came in
    Python 3.14)."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(1)
        if p.is_alive():
            p.kill()
            p.join(1)


def _died(procs):
    """How a worker ended, for the message: its signal, or its exit status.  A
    dead process closes its pipes a moment before it can be waited for, so
    this waits for its status (a second at most).  The executor ends the other
    workers with SIGTERM once one is gone: another status is the cause."""
    deadline = time.monotonic() + 1
    while True:
        codes = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
        codes.sort(key=lambda c: c == -signal.SIGTERM)
        if (codes and codes[0] != -signal.SIGTERM) or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    if codes and codes[0] < 0:
        return f"was killed by {signal.Signals(-codes[0]).name}"
    return f"ended with exit status {codes[0]}" if codes else "ended abruptly"


def sweep(points, machine=None, events=200, seed=0, layer="lockless", mode="discard",
          jobs=None):
    """sweep - a generator of (point, produced, lost, bytes per record), in the
    order of points.

    Runs in a scratch directory of its own, removed when the generator ends
    (or is closed, or an exception, such as KeyboardInterrupt, goes through
    it), after its workers are gone.
    """
    args = (machine, events, seed, layer, mode)
    workers = workers_for(jobs, len(points))
    scratch = tempfile.mkdtemp(prefix="kmodel-sizing-")
    try:
        if workers == 1:
            for p in points:
                yield run_point(p, scratch, *args)
            return
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init)
        procs = []
        try:
            results = pool.map(run_point, points, repeat(scratch),
                               *[repeat(a) for a in args])
            procs = list((pool._processes or {}).values())  # all forked by map's submits
            yield from results
        except BrokenProcessPool:
            raise WorkerDied(f"a worker process {_died(procs)}") from None
        except BaseException:
            _end_workers(procs)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            _end_workers(procs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
