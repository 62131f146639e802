"""One executor for the sweeps: sizing points, bench grids, explorer chunks.

``run_map(fn, items, jobs, scheduler)`` is a generator of ``fn(item)`` in the
order of items, whoever runs them:

- one item at a time in this process (``jobs`` 1, or one item);
- local worker processes (concurrent.futures.ProcessPoolExecutor), at most
  one a core and one an item;
- a Dask distributed cluster (``scheduler="tcp://HOST:PORT"``): its Client
  is a concurrent.futures-like executor; ``pip install 'kmodel[cluster]'``.

fn and the items must be picklable (module-level functions, functools.partial
of them, dataclasses), and fn a function of its item alone: seeded, no host
time, no shared state.  Then the results are the same, bit for bit, on any
executor: that is the contract, and tests/test_executor.py holds the sweeps
to it.

Stopping: an exception in the caller (Ctrl-C, SIGTERM turned into one by the
CLI), or closing the generator (the caller has what it needs), ends the
local workers at once (terminated and reaped; the pool then fails the items
not done, none of them cancelled: cancelling a future the pool is failing
raised InvalidStateError in its thread, a traceback, on Python 3.11); on a
cluster, both cancel the futures; a local worker that dies is a WorkerDied
naming the signal that killed it.
"""
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool


class WorkerDied(RuntimeError):
    """A worker process ended without its item's result (killed, out of memory)."""


class SchedulerError(ValueError):
    """A --scheduler that cannot be used (no dask, a bad address, unreachable)."""


def workers_for(jobs, nitems):
    """workers_for - how many worker processes: jobs (default: every core), but
    never more than the items or the cores."""
    cores = os.cpu_count() or 1
    return max(1, min(jobs or cores, nitems, cores))


def check_scheduler(address):
    """check_scheduler - refuse a scheduler address that is not tcp://HOST:PORT,
    or dask[distributed] that is not installed, before anything runs."""
    if address is None:
        return
    host, sep, port = address.removeprefix("tcp://").rpartition(":")
    if not address.startswith("tcp://") or not sep or not host or not port.isdigit():
        raise SchedulerError(f"--scheduler {address!r}: tcp://HOST:PORT")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise SchedulerError("--scheduler needs dask's distributed: "
                             "pip install 'kmodel[cluster]'") from None


def reach_scheduler(address):
    """reach_scheduler - check_scheduler, then connect to the scheduler and
    leave: a SchedulerError if it cannot be reached, before a job spends its
    time on work that would be sent there (kmodel bench measures first)."""
    if address is not None:
        _connect(address).close()


def _connect(address):
    """A Client of the scheduler at address (checked first), or SchedulerError."""
    check_scheduler(address)
    from distributed import Client
    try:
        return Client(address, timeout=10)
    except (OSError, TimeoutError) as e:
        raise SchedulerError(f"--scheduler {address}: {e}") from None


def run_map(fn, items, jobs=None, scheduler=None):
    """run_map - fn(item) for each item, in order, on the executor chosen
    (see the module doc)."""
    items = list(items)
    if scheduler is not None:
        yield from _on_cluster(fn, items, scheduler)
        return
    workers = workers_for(jobs, len(items))
    if workers == 1:
        for it in items:
            yield fn(it)
        return
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_init)
    procs, whole = [], False
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)    # see _worker_init
        try:
            futures = [pool.submit(fn, it) for it in items]
        finally:                                # all forked by the first submit (or
            procs = list((pool._processes or {}).values())  # broken in them)
            signal.pthread_sigmask(signal.SIG_SETMASK, old)     # (one that came: raised here)
        for f in futures:
            yield f.result()
        whole = True
    except BrokenProcessPool:
        raise WorkerDied(f"a worker process {_died(procs)}") from None
    finally:
        if not whole:       # stopped, failed, or the caller has what it needs: the
            _end_workers(procs)     # results are not wanted, the workers end now
        pool.shutdown(wait=True)


def _on_cluster(fn, items, scheduler):
    client = _connect(scheduler)
    futures = []
    try:
        futures = client.map(fn, items, pure=False)
        for f in futures:
            yield f.result()
    finally:
        client.cancel(futures)
        client.close()


HELD = {signal.SIGINT, signal.SIGTERM}


def _worker_init():
    """A worker leaves Ctrl-C to the parent (the terminal sends it to the whole
    process group), which ends the workers itself, and dies of SIGTERM.  It is
    forked with both signals held: until this runs it has the parent's Python
    handlers, and a signal then (a stop while the workers start) would raise
    in its bootstrap and print a traceback; held, it waits for these."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)


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
