"""One executor (kmodel/perf/executor.py): the same results, bit for bit,
from one process, two local workers and a Dask cluster started here."""
import pytest

from kmodel.consumer.sizing import Point, sweep
from kmodel.consumer.sizing_time import TimeSetup, points_in_time, sweep_in_time
from kmodel.perf.executor import SchedulerError, check_scheduler, run_map

POINTS = points_in_time([4096, 8192], [2, 4], [1e6], [32, 64], [16e6])
SETUP = TimeSetup(1_000_000, wakeup_latency_ns=50_000)
TICKS = [Point(4096, 2, 16, 1), Point(4096, 4, 64, 1)]


def _square(x):
    return x * x


def test_local_workers_give_the_same_rows_as_one_process():
    one = list(sweep_in_time(POINTS, SETUP, jobs=1))
    assert list(sweep_in_time(POINTS, SETUP, jobs=2)) == one
    assert any(r.lost_total for r in one) and any(not r.lost_total for r in one)
    assert list(sweep(TICKS, events=64, jobs=2)) == list(sweep(TICKS, events=64, jobs=1))
    assert list(run_map(_square, range(5), jobs=2)) == [0, 1, 4, 9, 16]


def test_scheduler_address_checked_before_anything_runs():
    for bad in ("localhost:8786", "tcp://:8786", "tcp://host:port"):
        with pytest.raises(SchedulerError, match="tcp://HOST:PORT"):
            check_scheduler(bad)


def test_a_dask_cluster_gives_the_same_rows():
    distributed = pytest.importorskip("distributed", reason="dask[distributed] is not "
                                      "installed (pip install 'kmodel[cluster]')")
    one = list(sweep_in_time(POINTS, SETUP, jobs=1))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        rows = list(sweep_in_time(POINTS, SETUP, scheduler=cluster.scheduler_address))
        ticks = list(sweep(TICKS, events=64, scheduler=cluster.scheduler_address))
    assert rows == one
    assert ticks == list(sweep(TICKS, events=64, jobs=1))


def run(*argv):
    import io

    from kmodel.cli.main import main
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


@pytest.mark.parametrize("argv", [
    ("explore", "builtin:lost-update", "--runs", "200"),                     # fails in run 1
    ("explore", "builtin:lost-update-fixed", "--strategy", "pct", "--runs", "120"),
    ("explore", "builtin:rb-conformance", "--runs", "12", "--seed", "3"),
    ("explore", "builtin:lost-update", "--strategy", "exhaustive"),          # fails
    ("explore", "builtin:spinlock-irq-fixed", "--strategy", "exhaustive", "--bound", "3"),
    ("explore", "builtin:rb-conformance", "--strategy", "exhaustive", "--runs", "40"),
    ("explore", "builtin:spinlock-irq-fixed", "--strategy", "exhaustive", "--bound", "3",
     "--runs", "341"),                                                      # one short
])
def test_explore_split_over_workers_is_the_search_in_one_process(argv):
    one = run(*argv)
    assert run(*argv, "--jobs", "2") == one
    assert "steps" in one[1]


def test_explore_on_a_dask_cluster_is_the_search_in_one_process():
    distributed = pytest.importorskip("distributed", reason="dask[distributed] is not "
                                      "installed (pip install 'kmodel[cluster]')")
    argv = ("explore", "builtin:lost-update", "--runs", "200", "--seed", "5")
    one = run(*argv)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert run(*argv, "--scheduler", cluster.scheduler_address) == one


def test_bench_grids_are_the_same_from_workers():
    """kmodel bench's modeled grids (one a machine) through the executor."""
    from functools import partial

    from kmodel.cli.bench import modeled_grids
    grids = partial(modeled_grids, sizes=[64, 4096], sweep_sizes=[64 << 10],
                    consumer_sizes=[64 << 10])
    machines = ["numa2", "nehalem-2009"]
    one = list(run_map(grids, machines, jobs=1))
    assert list(run_map(grids, machines, jobs=2)) == one
    assert all(rows for rows in one) and one[0] != one[1]


SIGNAL_AT_FORK = """
import os, signal, sys
from kmodel.cli.signals import stop_on_sigterm
from kmodel.perf.executor import WorkerDied, run_map
# SIGTERM comes to each worker the moment it is forked, before its initializer
# has run: the window of a stop while a sweep's workers start
os.register_at_fork(after_in_child=lambda: os.kill(os.getpid(), signal.SIGTERM))
with stop_on_sigterm():                 # the parent's handler, as the CLI's
    try:
        print(list(run_map(abs, range(4), jobs=2)))
    except WorkerDied as e:
        print(e)
"""


def test_a_signal_while_the_workers_start_is_no_traceback():
    """A worker is forked with SIGINT and SIGTERM held until its initializer
    has put its own handlers in: the parent's Python handler never runs in it
    (it raised there and printed a traceback, once in a full run)."""
    import os
    import subprocess
    import sys
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: the items run in this process, no worker is forked")
    p = subprocess.run([sys.executable, "-c", SIGNAL_AT_FORK], capture_output=True,
                       text=True, timeout=60)
    assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr
    assert p.stdout == "a worker process was killed by SIGTERM\n", (p.stdout, p.stderr)


@pytest.mark.parametrize("argv", [["explore", "builtin:lost-update"], ["bench", "--quick"]],
                         ids=["explore", "bench"])
def test_an_unreachable_scheduler_is_a_usage_error(argv):
    """A scheduler nobody listens at is exit 2 naming it (it was an internal
    error, and bench said so only after its host-time measurements)."""
    import subprocess
    import sys
    pytest.importorskip("distributed", reason="dask's distributed is not installed "
                                              "(the extra kmodel[cluster])")
    p = subprocess.run([sys.executable, "-m", "kmodel", *argv, "--scheduler",
                        "tcp://127.0.0.1:1"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert p.stderr.splitlines()[-1].startswith("kmodel: error: --scheduler "
                                                "tcp://127.0.0.1:1: "), p.stderr
    assert "host time" not in p.stderr              # nothing measured first
