"""CPU hotplug benchmarks (issue: CPU hotplug).

A cpu_down + cpu_up cycle with 16 notifiers registered, on a 4-CPU machine and
on a 256-CPU machine: the cost must not grow with the number of online CPUs.
"""
import pytest

from kmodel.cpu.notifier import NOTIFY_OK
from kmodel.kernel import boot

_RESULTS = {}


def _noop(nb, action, cpu):
    return NOTIFY_OK


@pytest.mark.parametrize("machine, ncpus", [("uma", 4), ("big-16n", 256)])
def test_down_up_cycle_16_notifiers(benchmark, record_goal, machine, ncpus):
    k = boot(machine)
    try:
        assert k.num_online_cpus() == ncpus
        for prio in range(16):
            k.hotcpu_notifier(_noop, prio)
        cpu = 2

        def cycle():
            assert k.cpu_down(cpu) == 0
            assert k.cpu_up(cpu) == 0
        benchmark.group = "hotplug down+up cycle, 16 notifiers"
        benchmark.extra_info["online_cpus"] = ncpus
        benchmark(cycle)
        assert k.cpu_online(cpu) and k.num_online_cpus() == ncpus
        k.timing.reset()
        cycle()
        benchmark.extra_info["modeled_notifier_calls"] = k.timing.totals()["notifier_calls"]
        benchmark.extra_info["modeled_cycles"] = k.timing.totals()["cycles"]
        us = benchmark.stats.stats.median * 1e6
        _RESULTS[ncpus] = us
        record_goal(f"down+up cycle, 16 notifiers, {ncpus} CPUs", us, 100, "us")
        if 4 in _RESULTS and 256 in _RESULTS:
            record_goal("cycle cost 256 CPUs / 4 CPUs", _RESULTS[256] / _RESULTS[4], 1.2, "x")
    finally:
        k.shutdown()
