"""cpumasks (include/linux/cpumask.h).

A cpumask is a set of CPU numbers below nr_cpu_ids.  Iteration is in CPU
order, as for_each_cpu() walks a bitmap.  Printing uses Linux's range-list
format (cpulist_scnprintf), as /sys/devices/system/cpu/online shows.
"""
from hw.ranges import format_range_list

NR_CPUS = 512           # CONFIG_NR_CPUS: arrays indexed by CPU are this long


class cpumask:
    __slots__ = ("bits",)

    def __init__(self, cpus=()):
        self.bits = set(cpus)

    def set_cpu(self, cpu, on):
        if on:
            self.bits.add(cpu)
        else:
            self.bits.discard(cpu)

    def test(self, cpu):
        return cpu in self.bits

    __contains__ = test

    def weight(self):
        return len(self.bits)

    __len__ = weight

    def __iter__(self):
        return iter(sorted(self.bits))

    def copy(self):
        return cpumask(self.bits)

    def first(self):
        return min(self.bits) if self.bits else None

    def cpulist(self):
        return format_range_list(self.bits)

    def __repr__(self):
        return f"cpumask({self.cpulist()!r})"
