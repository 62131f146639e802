"""Keeping modeled time, against the same layered events with the clock
frozen, in one run (kmodel/perf/time_goal.py): at most 1.10x."""
from kmodel.perf import time_goal


def test_clock_running_vs_frozen(benchmark, record_goal):
    running, frozen = benchmark.pedantic(time_goal.clock_ratio, rounds=1, iterations=1)
    benchmark.extra_info.update(running_ns=running, frozen_ns=frozen)
    name, limit, unit, better = time_goal.GOAL
    record_goal(name, running / frozen, limit, unit, better)
