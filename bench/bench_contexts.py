"""Execution contexts and the explorer (issue: execution contexts).

- A scheduler step (choose, switch k.current, resume the context's generator)
  against its floor, a bare generator ``send`` of the same generator, measured
  in the same run.  Goal: at most 3x.
- Exhaustive search with preemption bound 2 over 2 CPUs, one nested irq and 3
  events per context: it must finish; it reports interleavings per second and
  how many distinct interleavings there are.
"""
import pytest

from kmodel.core.atomic import atomic_long_add, atomic_long_t
from kmodel.cpu.explore import RandomChooser, explore
from kmodel.cpu.sched import Run, World
from kmodel.kernel import boot

N = 20_000
_FLOOR = {}


def events(n):
    for _ in range(n):
        yield ("op", None)


@pytest.fixture(scope="module")
def k():
    k = boot("numa2")
    yield k
    k.shutdown()


def test_floor_bare_send(benchmark):
    def bare():
        g = events(N)
        send = g.send
        try:
            while True:
                send(None)
        except StopIteration:
            return N
    benchmark.group = "context switch at a yield (per step)"
    assert benchmark(bare) == N
    if benchmark.stats:                     # None under --benchmark-disable
        _FLOOR["send"] = benchmark.stats.stats.median / N


def test_scheduler_step(benchmark, record_goal, k):
    def scheduled():
        w = World(k)
        w.task(0, events, N // 2)
        w.task(4, events, N // 2)
        r = Run(k, w, RandomChooser(0, 0), max_steps=10 * N)
        r.run()
        return r.steps
    benchmark.group = "context switch at a yield (per step)"
    assert benchmark(scheduled) == N + 2        # each task's start is a step too
    if not benchmark.stats:
        return
    per_step = benchmark.stats.stats.median / (N + 2)
    benchmark.extra_info["ns_per_step"] = per_step * 1e9
    if "send" in _FLOOR:
        record_goal("scheduler step / bare generator send", per_step / _FLOOR["send"],
                    3, "x")


def three_events(v):
    for _ in range(3):
        yield from atomic_long_add(v, 1)


def setup_2cpu_irq(world):
    v = atomic_long_t(world.k, name="v")
    world.task(0, three_events, v, name="t0")
    world.task(1, three_events, v, name="t1")
    world.irq(0, three_events, v, name="irq")
    return v


def check_total(v, final):
    return f"v = {v.counter}" if final and v.counter != 9 else None


def test_exhaustive_bound_2(benchmark, k):
    def search():
        return explore(setup_2cpu_irq, check_total, strategy="exhaustive", runs=10**7,
                       bound=2, kernel=k)
    benchmark.group = "exhaustive search, bound 2, 2 CPUs + 1 irq, 3 events each"
    res = benchmark.pedantic(search, rounds=3, iterations=1)
    assert res.ok and res.complete and res.distinct == res.runs
    if not benchmark.stats:
        return
    secs = benchmark.stats.stats.median
    benchmark.extra_info["interleavings"] = res.distinct
    benchmark.extra_info["interleavings_per_s"] = res.distinct / secs
    print(f"\nexhaustive bound 2: {res.distinct} distinct interleavings, "
          f"{res.distinct / secs:,.0f} per second, {res.steps} steps")
