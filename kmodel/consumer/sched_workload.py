"""The sched workload of ``kmodel trace record``: a small scheduler model that
writes lttng-modules' kernel events, and keeps the ground truth an analysis
should find in them.

Each CPU has its tasks (tid, comm, priority) and its idle task (tid 0,
``swapper/N``).  A task runs a burst, then sleeps; a round-robin time slice
preempts it when another task is runnable on its CPU.  Devices interrupt:
the timer every 4 ms with its softirq (TIMER), a network card at random with
NET_RX, a disk with BLOCK; each handler and each softirq runs a drawn
duration, and nothing else happens on that CPU meanwhile (a scheduler event
due then waits for the interrupt's end).  Now and then a task forks a child
that runs one burst and exits.  Tasks stay on their CPU (no migration).
Time is in nanoseconds of modeled time; everything is drawn from one seeded
generator, so the same seed gives the same events.

``next_events(until)`` gives the events due before a time, all CPUs merged in
time order: (time, cpu, context, event name, fields).  The recorder writes
each on its CPU with the trace clock at that time.  ``truth`` is what was
given so far: CPU time and switches per task, interrupts per line with their
durations, softirqs per vector; a test compares what lttng-analyses finds
against it.

What it leaves out: migration, priorities acting on the choice (every task is
SCHED_OTHER at nice 0: prio 120, which lttng-modules writes as 20, prio -
MAX_RT_PRIO), interrupt time charged apart from the task it interrupted (an
analysis that counts a task's time from its sched_switch events, as
lttng-cputop does, counts it in the task's, and so does ``truth``).
"""
import heapq
import random
from collections import Counter, deque
from dataclasses import dataclass, field

from kmodel.cpu.context import HARDIRQ, SOFTIRQ, TASK

TICK_NS = 1_000_000             # one tick of the recorder: 1 ms of modeled time
SLICE_NS = 4_000_000            # the round-robin slice
PRIO = 20                       # 120 - MAX_RT_PRIO, as lttng-modules writes it
TASK_RUNNING, TASK_INTERRUPTIBLE, TASK_DEAD = 0, 1, 64      # (2.6.29's values)
# Softirq vectors (include/linux/interrupt.h, 2.6.29): TIMER 1, NET_RX 3, BLOCK 4.
# irq line, name, mean ns between interrupts (None: periodic, HZ=250), handler
# duration range in ns, softirq vector raised, its duration range:
DEVICES = ((0, "timer", None, (2_000, 6_000), 1, (3_000, 12_000)),
           (19, "eth0", 700_000, (4_000, 15_000), 3, (8_000, 40_000)),
           (14, "ata_piix", 3_000_000, (10_000, 30_000), 4, (5_000, 20_000)))
COMMS = ("bash", "sshd", "gcc", "python3", "Xorg", "make", "postgres", "kworker/u8:1")
STATEDUMP_FILES = 0xffff880000000000        # a files_struct address for the statedump


@dataclass
class Task:
    tid: int
    comm: str
    cpu: int
    burst_ns: int               # mean run before it sleeps
    sleep_ns: int               # mean sleep
    left: int = 0               # of its current burst
    exits: bool = False         # a forked child: exits after one burst


@dataclass
class Truth:
    cpu_ns: Counter = field(default_factory=Counter)         # tid -> ns on a CPU
    switches_in: Counter = field(default_factory=Counter)    # tid -> times switched in
    irqs: Counter = field(default_factory=Counter)           # irq -> handler runs
    irq_ns: Counter = field(default_factory=Counter)         # irq -> ns in its handler
    softirqs: Counter = field(default_factory=Counter)       # vec -> runs
    softirq_ns: Counter = field(default_factory=Counter)
    comm: dict = field(default_factory=dict)                 # tid -> comm
    first: int | None = None                                 # first and last event times
    last: int = 0


class SchedModel:
    def __init__(self, seed: int, cpus: list[int], tasks_per_cpu: int = 3,
                 start_ns: int = 1_000_000):
        self.rng = random.Random(f"sched-{seed}")
        self.cpus = list(cpus)
        self.truth = Truth()
        self.heap = []                  # (time, order, kind, args)
        self.order = 0
        self.tasks = {}
        self.current = {}               # cpu -> running tid (0: idle)
        self.since = {}                 # cpu -> when it was switched in
        self.runq = {c: deque() for c in self.cpus}
        self.busy_until = dict.fromkeys(self.cpus, 0)      # an interrupt runs until then
        self.gen = dict.fromkeys(self.cpus, 0)             # invalidates stale slice/block
        self.out = []
        self.next_tid = 1000
        self.start = t = start_ns
        for cpu in self.cpus:
            self.current[cpu] = 0
            self.since[cpu] = t
            for _ in range(tasks_per_cpu):
                task = self._new_task(cpu)
                self._push(t + self.rng.randrange(1, 2_000_000), "wake", task.tid)
            for irq, _name, mean, *_ in DEVICES:
                first = t + (SLICE_NS if mean is None else self._exp(mean))
                self._push(first + cpu * 1_000, "irq", (cpu, irq))
        self._statedump(t)

    # --- helpers -------------------------------------------------------------------
    def _exp(self, mean):
        return max(1_000, int(self.rng.expovariate(1 / mean)))

    def _push(self, t, kind, args):
        self.order += 1
        heapq.heappush(self.heap, (t, self.order, kind, args))

    def _new_task(self, cpu, comm=None, exits=False):
        tid = self.next_tid
        self.next_tid += 1
        task = Task(tid, comm or self.rng.choice(COMMS), cpu,
                    burst_ns=self.rng.choice((300_000, 1_000_000, 6_000_000)),
                    sleep_ns=self.rng.choice((500_000, 2_000_000, 8_000_000)), exits=exits)
        self.tasks[tid] = task
        self.truth.comm[tid] = task.comm
        return task

    def _emit(self, t, cpu, ctx, name, values, note=None):
        """An event due at t; note is what it tells the truth once it is given
        (an interrupt's or a softirq's end: (counter, key, duration))."""
        self.out.append((t, cpu, ctx, name, values, note))

    def _comm(self, cpu, tid):
        return f"swapper/{cpu}" if tid == 0 else self.tasks[tid].comm

    def _statedump(self, t):
        cpu = self.cpus[0]
        self._emit(t, cpu, TASK, "lttng_statedump_start", {})
        for task in self.tasks.values():
            self._emit(t, cpu, TASK, "lttng_statedump_process_state", {
                "tid": task.tid, "pid": task.tid, "ppid": 1, "name": task.comm, "type": 0,
                "mode": 5, "submode": 0, "status": 5, "cpu": task.cpu,
                "file_table_address": STATEDUMP_FILES})
        self._emit(t, cpu, TASK, "lttng_statedump_end", {})

    # --- the scheduler -------------------------------------------------------------
    def _switch(self, t, cpu, nxt, prev_state):
        prev = self.current[cpu]
        if prev:
            self.truth.cpu_ns[prev] += t - self.since[cpu]
        self._emit(t, cpu, TASK, "sched_switch", {
            "prev_comm": self._comm(cpu, prev), "prev_tid": prev, "prev_prio": PRIO,
            "prev_state": prev_state, "next_comm": self._comm(cpu, nxt), "next_tid": nxt,
            "next_prio": PRIO})
        self.current[cpu] = nxt
        self.since[cpu] = t
        self.truth.switches_in[nxt] += 1
        self.gen[cpu] += 1
        if nxt:
            task = self.tasks[nxt]
            if task.left <= 0:
                task.left = self._exp(task.burst_ns)
            self._push(t + min(task.left, SLICE_NS),
                       "block" if task.left <= SLICE_NS else "slice", (cpu, self.gen[cpu]))

    def _run_next(self, t, cpu, prev_state):
        q = self.runq[cpu]
        self._switch(t, cpu, q.popleft() if q else 0, prev_state)

    def _block(self, t, cpu):
        tid = self.current[cpu]
        task = self.tasks[tid]
        task.left = 0
        if task.exits:
            self._emit(t, cpu, TASK, "sched_process_exit", {"comm": task.comm, "tid": tid,
                                                            "prio": PRIO})
            self._run_next(t, cpu, TASK_DEAD)
            return
        if self.rng.random() < 0.05:            # it forks a short-lived child
            child = self._new_task(cpu, comm=task.comm, exits=True)
            self._emit(t, cpu, TASK, "sched_process_fork", {
                "parent_comm": task.comm, "parent_tid": tid, "parent_pid": tid,
                "child_comm": child.comm, "child_tid": child.tid, "child_pid": child.tid})
            self._wake(t, child.tid)
        self._push(t + self._exp(task.sleep_ns), "wake", tid)
        self._run_next(t, cpu, TASK_INTERRUPTIBLE)

    def _slice(self, t, cpu):
        tid = self.current[cpu]
        task = self.tasks[tid]
        task.left -= t - self.since[cpu]
        if task.left <= 0:                      # (its slice ran late, after an interrupt)
            self._block(t, cpu)
            return
        if not self.runq[cpu]:                  # alone: it runs on, another slice
            self.truth.cpu_ns[tid] += t - self.since[cpu]
            self.since[cpu] = t
            self.gen[cpu] += 1
            self._push(t + min(task.left, SLICE_NS),
                       "block" if task.left <= SLICE_NS else "slice", (cpu, self.gen[cpu]))
            return
        self.runq[cpu].append(tid)
        self._run_next(t, cpu, TASK_RUNNING)

    def _wake(self, t, tid):
        task = self.tasks[tid]
        cpu = task.cpu
        self._emit(t, cpu, TASK, "sched_wakeup", {"comm": task.comm, "tid": tid, "prio": PRIO,
                                                  "success": 1, "target_cpu": cpu})
        if self.current[cpu] == 0:
            self._switch(t, cpu, tid, TASK_RUNNING)
        else:
            self.runq[cpu].append(tid)

    def _irq(self, t, cpu, irq):
        _, name, mean, (lo, hi), vec, (slo, shi) = next(d for d in DEVICES if d[0] == irq)
        d = self.rng.randrange(lo, hi)
        sd = self.rng.randrange(slo, shi)
        self._emit(t, cpu, HARDIRQ, "irq_handler_entry", {"irq": irq, "name": name})
        self._emit(t + d // 2, cpu, HARDIRQ, "softirq_raise", {"vec": vec})
        self._emit(t + d, cpu, HARDIRQ, "irq_handler_exit", {"irq": irq, "ret": 1},
                   ("irq", irq, d))
        self._emit(t + d + 1, cpu, SOFTIRQ, "softirq_entry", {"vec": vec})
        self._emit(t + d + 1 + sd, cpu, SOFTIRQ, "softirq_exit", {"vec": vec},
                   ("softirq", vec, sd))
        self.busy_until[cpu] = t + d + 1 + sd + 1
        self._push(t + (SLICE_NS if mean is None else self._exp(mean)), "irq", (cpu, irq))

    # --- the events ------------------------------------------------------------------
    def next_events(self, until: int) -> list:
        """next_events - the events due before until (ns), in time order."""
        heap = self.heap
        while heap and heap[0][0] < until:
            t, _, kind, args = heapq.heappop(heap)
            cpu = self.tasks[args].cpu if kind == "wake" else args[0]
            if t < self.busy_until[cpu]:        # an interrupt runs there: after it
                self._push(self.busy_until[cpu], kind, args)
                continue
            if kind == "wake":
                self._wake(t, args)
            elif kind == "irq":
                self._irq(t, cpu, args[1])
            elif args[1] == self.gen[cpu]:      # (a stale block or slice: dropped)
                (self._block if kind == "block" else self._slice)(t, cpu)
        out = sorted((e for e in self.out if e[0] < until), key=lambda e: e[0])
        self.out = [e for e in self.out if e[0] >= until]
        tr = self.truth
        for t, _cpu, _ctx, _name, _values, note in out:
            tr.first = t if tr.first is None else tr.first
            tr.last = t
            if note is not None:
                what, key, ns = note
                getattr(tr, what + "s")[key] += 1
                getattr(tr, what + "_ns")[key] += ns
        return [e[:5] for e in out]

    def stop(self, at: int) -> None:
        """stop - the trace ends at `at`: count the running tasks' time until then."""
        for cpu, tid in self.current.items():
            if tid:
                self.truth.cpu_ns[tid] += at - self.since[cpu]
                self.since[cpu] = at


def per_tid(truth: Truth) -> dict:
    """per_tid - {tid: (comm, cpu ns, switches in)} of the tasks that ran."""
    return {tid: (truth.comm[tid], ns, truth.switches_in[tid])
            for tid, ns in truth.cpu_ns.items() if ns}


__all__ = ["SchedModel", "Truth", "TICK_NS", "DEVICES", "per_tid"]
