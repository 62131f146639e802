"""Benchmarks (pytest-benchmark).  Never timed tests: they report figures and
ratios against a floor measured in the same run, and the goals beside them.

Each benchmark that has a goal records it with ``record_goal``; the terminal
summary prints every goal with the measured figure and a mark.
"""
import pytest

GOALS = []


def median_ns(benchmark):
    return benchmark.stats.stats.median * 1e9


@pytest.fixture
def record_goal(benchmark):
    def record(name, measured, limit, unit, better="lower"):
        met = measured <= limit if better == "lower" else measured >= limit
        benchmark.extra_info[f"goal:{name}"] = {"measured": measured, "limit": limit,
                                                "unit": unit, "met": met}
        GOALS.append((name, measured, limit, unit, better, met))
    return record


def pytest_terminal_summary(terminalreporter):
    if not GOALS:
        return
    tr = terminalreporter
    tr.section("kmodel goals")
    for name, measured, limit, unit, better, met in GOALS:
        cmp = "<=" if better == "lower" else ">="
        tr.write_line(f"[{'met' if met else 'MISSED'}] {name}: {measured:.3g} {unit} "
                      f"(goal {cmp} {limit:g} {unit})")
