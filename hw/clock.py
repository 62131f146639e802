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

Modes (a closed set): ``MODELED`` reads the clock above, the machine's mode
from its boot (the shell, scripts, the explorer, the recordings);
``FROZEN`` keeps the workload's time alone (skew + idle: ``wait_until``
moves to the time asked, ``copied`` does nothing), the benchmark's floor:
the same run with the time not computed from the model.  (The trace clock
of old, one count a read, is gone: issue 24.)

Reads in order (``in_order``, the default): where no time line orders the
CPUs' steps by their clocks (the shell runs one command after another, the
explorer one step after another, in an order that is not the clocks'), the
clocks are still one machine's synchronized TSCs: a CPU that reads its clock
after another CPU's read, in the order the steps ran, cannot read an earlier
time; if its own clock is behind, it was idle until then (its idle time
grows to that read's).  So a global buffer's records and a remote switch's
packet end follow the order the reads ran in (a reservation that reads
its clock and loses its cmpxchg to a later read reads again).  A
recording (kmodel.consumer.record, timed_record) turns it off: its time line
runs each CPU at its own modeled time (a CPU's tick, or its event at its
arrival, runs whole before the next CPU's), and per-CPU buffers need no
order between CPUs.  A global buffer keeps it on, in ticks and in time: its
one stream takes the CPUs' writes in the order they ran.

The model's cycles are folded from deferred per-page counts (the relay's
copies) only when the timing model flushes them; a caller that needs the
copy of the last event in its clock calls ``settle(cpu)``, which folds that
CPU's buffers, or, cheaper, charges the clock ``ahead`` with what the fold
will charge (the copy's bytes at the bandwidth of the level that serves
the CPU's buffers), which the next fold replaces with the real figure.  The
recording in time (kmodel.consumer.timed_record) charges ahead for a record
that stays in the page its stream is on, and settles when the stream moves
to another page (where the fold charges the page change, a line fetched
from another cache, which a guess would miss).

Not modeled: frequency scaling (the clock runs at the preset's cpu_ghz, an
invariant TSC), the TSC's own read cost beyond what the preset charges, and
time spent by CPUs that run nothing traced: they do not advance until asked
(a recording in ticks brings every online CPU to each tick's start, record.py;
in order, a read brings the CPU to the machine's last read).
"""
import enum
import math

from hw import PAGE_SHIFT, PAGE_SIZE

PAGE_MASK = PAGE_SIZE - 1


class ClockMode(enum.Enum):
    MODELED = "modeled"
    FROZEN = "frozen"


MODELED, FROZEN = ClockMode.MODELED, ClockMode.FROZEN     # (a global is read faster)


class Clock:
    """clock of one machine's CPUs (owned by hw.timing.TimingModel as ``clock``).
    Each CPU's terms are kept on its CpuCost, beside the cycles they add to
    (one object to reach at every read): ``clock_idle`` (the workload's ns),
    ``clock_pending`` (cycles charged ahead of a fold) and ``tsc_skew``."""
    __slots__ = ("tm", "mode", "in_order", "last", "ns_per_cycle", "settlers", "_cost")

    def __init__(self, tm):
        self.tm = tm
        self.mode = ClockMode.MODELED
        self.in_order = True            # reads follow the order the CPUs' steps run in
        self.last = 0.0                 # ... the last read's time, in that case
        self.ns_per_cycle = 1.0 / tm.table.cpu_ghz
        self.settlers = []              # settle(cpu) calls each: fold cpu's deferred counts
        self._cost = tm.cpus
        for c in tm.cpus.values():
            c.tsc_skew = 0
            c.clock_idle = c.clock_pending = 0.0

    @property
    def skew(self):
        """skew - {cpu: ns} each CPU's TSC is ahead."""
        return {cpu: c.tsc_skew for cpu, c in self._cost.items()}

    def set_skew(self, skew):
        """set_skew - {cpu: ns} the TSC of cpu is ahead of the others' (ns >= 0:
        a timestamp is unsigned, and a CPU behind is the others ahead)."""
        for cpu, ns in skew.items():
            if cpu not in self._cost:
                raise ValueError(f"clock skew for CPU {cpu}: the machine has no such CPU")
            if ns < 0:
                raise ValueError(f"clock skew for CPU {cpu}: {ns} ns; a skew is >= 0")
        for cpu, ns in skew.items():
            self._cost[cpu].tsc_skew = int(ns)

    def cycles(self, cpu):
        """cycles - what cpu has been charged so far (hw.timing._cycles, unrounded:
        the served bytes' cycles summed as they were charged, CpuCost.served_cycles)."""
        c = self._cost[cpu]
        return c.cycles + c.served_cycles

    def now(self, cpu):
        """now - cpu's modeled time in ns, without skew (a float: the sum of the
        workload's time, the charged cycles and the pending ones)."""
        c = self._cost[cpu]
        return c.clock_idle + (c.cycles + c.served_cycles + c.clock_pending) * \
            self.ns_per_cycle

    def ahead(self, cpu, cycles):
        """ahead - charge cpu's clock cycles that a fold will charge its
        counters later (a copy's bytes in a page whose counts are deferred):
        the clock moves now, and settle() or the timing model's flush drops
        them as the fold charges the real figure."""
        self._cost[cpu].clock_pending += cycles

    def copied(self, cpu, o0, o1, cycles):
        """copied - cpu wrote a stream from offset o0 to o1 (o1 == o0: nothing),
        a copy that costs cycles once folded: charged ahead if it stayed in
        one page (the fold will charge just that), settled if it entered a
        page (the fold charges the page change too).  One call per event: the
        recording in time's hot path (kmodel.consumer.timed_record)."""
        if o1 == o0 or self.mode is FROZEN:
            return
        if o0 & PAGE_MASK and (o1 - 1) >> PAGE_SHIFT == o0 >> PAGE_SHIFT:
            self._cost[cpu].clock_pending += cycles
        else:
            self.settle(cpu)

    def folded(self):
        """folded - every CPU's deferred counts were folded (TimingModel.flush)."""
        for c in self._cost.values():
            c.clock_pending = 0.0

    def read(self, cpu):
        """read - the trace clock on cpu: its TSC in ns, by mode (see the module doc)."""
        mode = self.mode
        if mode is MODELED:         # (now(), inline: read at every reservation)
            c = self._cost[cpu]
            t = c.clock_idle + (c.cycles + c.served_cycles + c.clock_pending) * \
                self.ns_per_cycle
            if self.in_order:
                if t < self.last:           # behind a read that came before: the CPU
                    c.clock_idle += self.last - t   # was idle until then
                    t = self.last
                else:
                    self.last = t
            return c.tsc_skew + int(t)
        c = self._cost[cpu]         # FROZEN
        return c.tsc_skew + int(c.clock_idle)

    def wait_until(self, cpu, t):
        """wait_until - cpu runs nothing traced until time t (ns, no skew): its
        clock moves to t, or stays where it is if it is past t already (the
        CPU was busy).  Returns the time it waited."""
        c = self._cost[cpu]
        busy = 0.0 if self.mode is FROZEN else \
            (c.cycles + c.served_cycles + c.clock_pending) * self.ns_per_cycle
        gap = t - c.clock_idle - busy
        if gap > 0:
            idle = t - busy
            while idle + busy < t:      # (a read at t reads t, never t - 1 by rounding)
                idle = math.nextafter(idle, math.inf)
            c.clock_idle = idle
            return gap
        return 0.0

    def spend(self, cpu, ns):
        """spend - cpu runs the workload's own code for ns nanoseconds."""
        self._cost[cpu].clock_idle += ns

    def settle(self, cpu):
        """settle - fold cpu's deferred counts (the relay copies of its buffers)
        into its cycles, so that now() includes them."""
        for fn in self.settlers:
            fn(cpu)
        self._cost[cpu].clock_pending = 0.0

    def reset(self):
        """reset - every clock back to 0 (with the timing model's counters: the
        explorer starts each run from time 0, so a run's times are a function
        of its schedule alone)."""
        for c in self._cost.values():
            c.clock_idle = c.clock_pending = 0.0
        self.last = 0.0
