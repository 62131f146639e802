"""Modeled time: a clock per CPU, driven by the timing model.

The one owner of time.  A CPU's clock reads, in nanoseconds,

    skew[cpu] + idle[cpu] + cycles(cpu) / cpu_ghz

where ``cycles(cpu)`` is what hw.timing has charged that CPU so far (its
counters, and its streamed bytes at the cost of where they were served), and
``idle[cpu]`` is the workload's own time: the gaps in which the CPU runs no
traced code (it waits for the next event, or runs the application between
two tracepoints, or an interrupt handler's body).  A workload adds it with
``wait_until`` (the CPU is idle until a moment) or ``spend`` (it works for a
duration).  ``skew`` is the TSC's offset on that CPU: 0 everywhere on a
modern machine with a synchronized, invariant TSC; a per-CPU skew shows what
an unsynchronized TSC does to a trace (why a reader sorts streams by time and
cannot trust the order between CPUs).

Everything that wants modeled time asks here: the trace clock
(kmodel.relay.ring_buffer.trace_clock_read), the workloads in time, the
consumer, the switch and read timers, sizing.  Nothing here uses host time,
so modeled time is a function of what the CPUs did: the same schedule, the
same options give the same nanoseconds, on any host.

Modes (a closed set): ``COUNTER`` is the trace clock of old, one count a read
(a per-machine counter, strictly increasing: what recordings in ticks keep,
so that their traces stay as they were); ``MODELED`` reads the clock above;
``FROZEN`` reads skew + idle only (the benchmark's floor: the same run, the
time not computed).

The model's cycles are folded from deferred per-page counts (the relay's
copies) only when the timing model flushes them; a caller that needs the
copy of the last event in its clock calls ``settle(cpu)`` (the timed
workloads do, after each event: kmodel.perf.arrivals).

Not modeled: frequency scaling (the clock runs at the preset's cpu_ghz, an
invariant TSC), the TSC's own read cost beyond what the preset charges, and
time spent by CPUs that run nothing traced (they do not advance until asked).
"""
import enum


class ClockMode(enum.Enum):
    COUNTER = "counter"
    MODELED = "modeled"
    FROZEN = "frozen"


class Clock:
    """clock of one machine's CPUs (owned by hw.timing.TimingModel as ``clock``)."""
    __slots__ = ("tm", "mode", "ns_per_cycle", "idle", "skew", "count", "settlers", "_cpb")

    def __init__(self, tm):
        self.tm = tm
        self.mode = ClockMode.COUNTER
        self.ns_per_cycle = 1.0 / tm.table.cpu_ghz
        self.idle = {cpu: 0.0 for cpu in tm.cpus}
        self.skew = {cpu: 0 for cpu in tm.cpus}
        self.count = 0                  # COUNTER mode's reads
        self.settlers = []              # settle(cpu) calls each: fold cpu's deferred counts
        self._cpb = {cpu: tm.serve_cpb[c.nid] for cpu, c in tm.cpus.items()}

    def set_skew(self, skew):
        """set_skew - {cpu: ns} the TSC of cpu is ahead of the others' (ns >= 0:
        a timestamp is unsigned, and a CPU behind is the others ahead)."""
        for cpu, ns in skew.items():
            if cpu not in self.skew:
                raise ValueError(f"clock skew for CPU {cpu}: the machine has no such CPU")
            if ns < 0:
                raise ValueError(f"clock skew for CPU {cpu}: {ns} ns; a skew is >= 0")
            self.skew[cpu] = int(ns)

    def cycles(self, cpu):
        """cycles - what cpu has been charged so far (hw.timing._cycles, unrounded)."""
        c = self.tm.cpus[cpu]
        cyc = c.cycles
        for n, cpb in zip(c.served, self._cpb[cpu]):
            if n:
                cyc += n * cpb
        return cyc

    def now(self, cpu):
        """now - cpu's modeled time in ns, without skew (a float: the sum of the
        workload's time and the charged cycles)."""
        return self.idle[cpu] + self.cycles(cpu) * self.ns_per_cycle

    def read(self, cpu):
        """read - the trace clock on cpu: its TSC in ns, by mode (see the module doc)."""
        mode = self.mode
        if mode is ClockMode.MODELED:
            return self.skew[cpu] + int(self.now(cpu))
        if mode is ClockMode.FROZEN:
            return self.skew[cpu] + int(self.idle[cpu])
        self.count += 1
        return self.count

    def wait_until(self, cpu, t):
        """wait_until - cpu runs nothing traced until time t (ns, no skew): its
        clock moves to t, or stays where it is if it is past t already (the
        CPU was busy).  Returns the time it waited."""
        gap = t - self.now(cpu)
        if gap > 0:
            self.idle[cpu] += gap
            return gap
        return 0.0

    def spend(self, cpu, ns):
        """spend - cpu runs the workload's own code for ns nanoseconds."""
        self.idle[cpu] += ns

    def settle(self, cpu):
        """settle - fold cpu's deferred counts (the relay copies of its buffers)
        into its cycles, so that now() includes them."""
        for fn in self.settlers:
            fn(cpu)

    def reset(self):
        """reset - every clock back to 0 (with the timing model's counters: the
        explorer starts each run from time 0, so a run's times are a function
        of its schedule alone).  The COUNTER mode's count goes on, as the
        per-kernel counter it replaces did."""
        for cpu in self.idle:
            self.idle[cpu] = 0.0
