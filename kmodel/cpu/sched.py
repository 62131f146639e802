"""The scheduler of execution contexts: one run of one interleaving.

Emulated CPUs do not run on host threads.  A scenario declares *entities*:
tasks (one per CPU, running from the start) and interrupts (each arrives once
on its CPU, at a moment the scheduler picks, when that CPU can take it).  At
every step the scheduler lists the enabled entities, in a fixed order, and a
*chooser* (kmodel.cpu.explore) picks one:

- a task or an interrupt that has arrived steps: its generator runs from its
  last yield to its next one, doing the one operation it had announced;
- an interrupt that has not arrived yet arrives: it is pushed on its CPU's
  context stack (the context below stops until it is gone) and runs to its
  first yield.

An entity is enabled when it is the top context of its CPU and is not
spinning on a held lock, or, for an interrupt still to come, when its CPU can
take it (kmodel.cpu.context.CpuExec.can_take); an interrupt for an offline CPU
waits until the CPU is back, and never comes if it is not.  The run records the index of
each choice in the enabled list; those indices are the replay token.

A run ends when no entity is enabled.  If some context has not finished then,
every one left is spinning on a lock held by another: a lockup, reported as an
oops with every stack.  A context that spins on a lock held below it on its own
CPU is reported at once (kmodel.core.spinlock).
"""
from collections.abc import Generator
from typing import Any

from kmodel.core.bug import Oops
from kmodel.core.errno import ENXIO
from kmodel.core.spinlock import deadlock_report
from kmodel.cpu.context import (HARDIRQ, IRQF_DISABLED, NMI, SOFTIRQ, TASK, ContextError,
                                backtrace, context_enter, context_exit, format_stacks)

COST_KEYS = ("cycles", "atomics", "line_transfers", "irq_flag_ops")

# A context's code, or a step of it: a generator that yields before each
# operation another context could interleave with, and returns its result.
Steps = Generator[Any, None, Any]


class ScheduleError(ValueError):
    """A schedule that cannot be run: a bad strategy, bound or replay token,
    or a context that cannot start (an offline CPU).  The message says which."""


class SearchStopped(Exception):
    """The search was asked to stop (kmodel explore on SIGINT or SIGTERM):
    raised out of a run between two steps, which is then not counted."""


class RunFailed(Exception):
    """A run found a failure: an invariant did not hold, or the kernel oopsed."""

    def __init__(self, message, step):
        super().__init__(message)
        self.step = step


class Entity:
    """A task or an interrupt of a scenario; ctx is its context once running.
    call is the IPICall it serves, for an interrupt that an IPI raised."""
    __slots__ = ("eid", "cpu", "kind", "fn", "args", "name", "ctx", "done", "ex", "call",
                 "flags")

    def __init__(self, eid, cpu, kind, fn, args, name, flags=0):
        self.eid = eid
        self.cpu = cpu
        self.kind = kind
        self.fn = fn
        self.args = args
        self.name = name
        self.ctx = None
        self.done = False
        self.ex = None                  # its CPU's CpuExec, while a run goes
        self.call = None
        self.flags = flags              # IRQF_DISABLED: its handler keeps irqs off

    def __repr__(self):
        return f"{self.kind} {self.name} on cpu{self.cpu}"


class World:
    """What a setup function builds a run with: ``world.task(...)``,
    ``world.irq(...)``, and the kernel ``world.k``."""

    def __init__(self, k):
        self.k = k
        self.entities = []

    def _add(self, cpu, kind, fn, args, name, flags=0):
        k = self.k
        if not isinstance(cpu, int) or cpu not in k.cpu_possible_mask:
            raise ScheduleError(f"cpu {cpu!r} is not a possible CPU "
                                f"({k.cpu_possible_mask.cpulist()})")
        if not k.cpu_online(cpu):
            raise ScheduleError(f"a {kind} on CPU {cpu}: CPU {cpu} is not online")
        e = Entity(len(self.entities), cpu, kind, fn, args, name or fn.__name__, flags)
        self.entities.append(e)
        return e

    def task(self, cpu, fn, *args, name=None):
        """task - run fn(*args) (a generator function) as the task on cpu."""
        if any(e.kind == TASK and e.cpu == cpu for e in self.entities):
            raise ScheduleError(f"CPU {cpu} already has a task (one task per CPU)")
        e = self._add(cpu, TASK, fn, args, name)
        saved = self.k.current
        try:
            e.ctx = context_enter(self.k, cpu, TASK, e.name, fn(*args))
        except ContextError as err:
            raise ScheduleError(str(err)) from None
        finally:
            self.k.current = saved
        e.ctx.eid = e.eid
        return e

    def irq(self, cpu, fn, *args, name=None, kind=HARDIRQ, flags=0):
        """irq - fn(*args) arrives once on cpu as an interrupt of this kind
        (hardirq, softirq or nmi), when the scheduler chooses.  A hardirq's
        handler runs with interrupts on (2.6.29), so another may nest on it,
        unless flags has IRQF_DISABLED (kmodel.cpu.context)."""
        if kind not in (SOFTIRQ, HARDIRQ, NMI):
            raise ScheduleError(f"interrupt kind {kind!r}: softirq, hardirq or nmi")
        return self._add(cpu, kind, fn, args, name, flags)


def _label(pending, ctx):
    if pending is None:
        return "starts" if ctx.kind == TASK else "arrives"
    op, obj = pending
    name = getattr(obj, "name", None)
    if op == "run":                     # a script's command
        return name
    return f"{op}({name})" if name else op


class Run:
    """One run of a scenario under one chooser."""

    def __init__(self, k, world, chooser, check=None, state=None, max_steps=100_000,
                 trace=False, stacks=False, cover=None, stop=None):
        self.k = k
        self.world = world
        self.chooser = chooser
        self.check = check
        self.state = state
        self.max_steps = max_steps
        self.trace = [] if trace or stacks else None
        self.show_stacks = stacks           # each step's CPU stacks in the trace
        self.cover = cover                  # a kmodel.cpu.coverage.Coverage, or None
        self.stop = stop                    # stop() true: raise SearchStopped
        self.choices = []
        self.steps = 0
        self.stacks = []
        self.live = list(world.entities)        # entities not finished
        for e in self.live:
            e.ex = k.cpu_exec[e.cpu]

    def step(self, e):
        """step - run entity e to its next yield (arriving first if needed)."""
        k = self.k
        ctx = e.ctx
        if ctx is None:
            ctx = e.ctx = context_enter(k, e.cpu, e.kind, e.name, e.fn(*e.args), e.flags)
            ctx.eid = e.eid
        else:
            k.current = ctx
        label = ctx.pending
        ctx.note = None
        try:
            pending = ctx.pending = ctx.gen.send(None)
        except StopIteration:
            pending = None
            self._finished(e, ctx)
        if self.trace is not None:
            self._trace(e, ctx, label)
        if pending is not None and ctx.blocked_on is not None:
            self._blocked(e, ctx, pending)

    def _finished(self, e, ctx):
        e.done = True
        self.live.remove(e)
        context_exit(self.k, ctx)
        if e.call is not None:
            e.call.holder = None        # the IPI's sender may go on

    def _blocked(self, e, ctx, pending):
        """A context that yielded waiting: a deadlock to report, or an IPI to raise."""
        k = self.k
        if pending[0] == "deadlock":
            self.stacks = format_stacks(k, self._cpus())
            deadlock_report(k, ctx, pending[1], backtrace)
        elif pending[0] == "ipi" and pending[1].holder is None:
            call = pending[1]
            ipi = Entity(len(self.world.entities), call.cpu, HARDIRQ, call.fn, call.args,
                         call.fn.__name__, IRQF_DISABLED)    # a system vector: irqs off
            ipi.call = call
            ipi.ex = k.cpu_exec[call.cpu]
            call.holder = ipi
            self.world.entities.append(ipi)
            self.live.append(ipi)

    def _trace(self, e, ctx, label):
        what = _label(label, ctx)
        if ctx.note is not None:
            what += f" = {ctx.note}"
        if e.done:
            what += ("; " if label is not None else "") + "returns"
        self.trace.append(f"{self.steps:>5}  cpu{e.cpu}  {ctx.describe():<24} {what}")
        if self.show_stacks:
            self.trace += [f"{'':>7}{line}" for line in format_stacks(self.k, self._cpus())]

    def _cpus(self):
        return sorted({e.cpu for e in self.world.entities})

    def run(self):
        """run - to the end; raises RunFailed at the first failure.

        The loop is the hot path of every exploration: enabled() and step()
        are written out in it for the common case (a context that has started
        resumes; no trace)."""
        k = self.k
        choose = self.chooser.choose
        check = self.check
        state = self.state
        append = self.choices.append
        trace = self.trace is not None
        live = self.live
        online = k.cpu_online_mask
        max_steps = self.max_steps
        cover = self.cover
        stop = self.stop
        last = None
        steps = 0
        try:
            while True:
                enabled = []
                for e in live:
                    ctx = e.ctx
                    if ctx is None:
                        if e.ex.can_take(e.kind) and e.cpu in online:
                            enabled.append(e)
                    elif e.ex.stack[-1] is ctx:
                        lock = ctx.blocked_on
                        if lock is None or lock.holder is None:
                            enabled.append(e)
                if not enabled:
                    self._end()
                    break
                if steps >= max_steps:
                    raise RunFailed(f"no end after {max_steps} steps (a livelock?)", steps)
                if stop is not None and not steps & 1023 and steps and stop():
                    raise SearchStopped()
                i = choose(steps, enabled, last)
                append(i)
                last = enabled[i]
                steps += 1
                ctx = last.ctx
                if ctx is None or ctx.pending is None or trace:
                    self.steps = steps
                    self.step(last)
                else:                   # the common case: resume it
                    k.current = ctx
                    try:
                        ctx.pending = ctx.gen.send(None)
                    except StopIteration:
                        ctx.pending = None
                        self._finished(last, ctx)
                    else:
                        if ctx.blocked_on is not None:
                            self.steps = steps
                            self._blocked(last, ctx, ctx.pending)
                if cover is not None:
                    cover.stepped(last, live)
                if check is not None:
                    msg = check(state, False)
                    if msg:
                        self.stacks = format_stacks(k, self._cpus())
                        raise RunFailed(f"invariant failed after step {steps}: {msg}", steps)
            self.steps = steps
            if check is not None:
                msg = check(state, True)
                if msg:
                    raise RunFailed(f"check failed at the end: {msg}", steps)
        except Oops as e:
            self.steps = steps
            if not self.stacks:
                self.stacks = format_stacks(k, self._cpus())
            raise RunFailed(f"kernel oops: {e}", steps) from None
        except RunFailed:
            self.steps = steps
            raise
        finally:
            self.cleanup()

    def _end(self):
        stuck = [e for e in self.world.entities if not e.done and e.ctx is not None]
        if not stuck:
            return
        k = self.k
        self.stacks = format_stacks(k, self._cpus())
        lines = []
        for e in stuck:
            lock = e.ctx.blocked_on
            lines.append(f" {e.ctx.describe()} on CPU#{e.cpu} spins on "
                         f"{getattr(lock, 'name', lock)} held by "
                         f"{lock.holder.describe() if lock and lock.holder else '?'}:")
            lines += [f"  {f}" for f in backtrace(e.ctx)]
        k.bug.oops(f"BUG: spinlock lockup suspected: {len(stuck)} context(s) spin "
                   "and nothing else can run", lines)

    def cleanup(self):
        """cleanup - close every generator and put each CPU back to idle."""
        k = self.k
        for e in self.world.entities:
            if e.ctx is not None and e.ctx.gen is not None:
                e.ctx.gen.close()
        for cpu in self._cpus():
            k.cpu_exec[cpu].reset()
        k.current = k.cpu_exec[k.boot_cpu].top


def run_cost(k):
    t = k.timing.totals()
    return {key: t[key] for key in COST_KEYS}



class IPICall:
    """smp_call_function_single(cpu, fn, args, wait=1): fn runs as a hardirq on
    cpu, and the sender waits for it (holder: the interrupt, until it ends)."""
    __slots__ = ("cpu", "fn", "args", "holder", "name")

    def __init__(self, cpu, fn, args):
        self.cpu = cpu
        self.fn = fn
        self.args = args
        self.holder = None
        self.name = f"ipi->cpu{cpu}"


def smp_call_function_single(k, cpu, fn, *args):
    """smp_call_function_single - run fn(*args) (a generator function) as an
    interrupt on cpu and wait for it; -ENXIO (and nothing run) if cpu is offline.
    A generator: ``ret = yield from smp_call_function_single(k, cpu, fn)``."""
    if not k.cpu_online(cpu):
        return -ENXIO                   # as kernel/smp.c answers
    if k.current.cpu == cpu:            # on the target already: call it here
        flags = k.cpu_exec[cpu].irqs_off
        k.cpu_exec[cpu].irqs_off = True
        try:
            yield from fn(*args)
        finally:
            k.cpu_exec[cpu].irqs_off = flags
        return 0
    call = IPICall(cpu, fn, args)
    cur = k.current
    cur.blocked_on = call
    yield ("ipi", call)                 # the scheduler raises it; we wait
    while call.holder is not None:      # (run_now runs it before resuming us)
        yield ("ipi", call)
    cur.blocked_on = None
    return 0


def run_now(k, gen):
    """run_now - run a context's generator straight through, with no other
    context between its steps: how code runs outside the explorer (the shell,
    the benchmarks).  An IPI it raises runs at once on its CPU; a lock it
    cannot get is a deadlock, reported as the oops it is.  Returns gen's value."""
    send = gen.send
    try:
        while True:
            p = send(None)
            cur = k.current
            if cur.blocked_on is None:
                continue
            if p[0] == "ipi":
                call = p[1]
                saved = k.current
                ctx = context_enter(k, call.cpu, HARDIRQ, call.fn.__name__,
                                    flags=IRQF_DISABLED)
                try:
                    run_now(k, call.fn(*call.args))
                finally:
                    context_exit(k, ctx)
                    k.current = saved
                call.holder = None
            elif p[0] == "deadlock":
                deadlock_report(k, cur, p[1], backtrace)
            elif getattr(cur.blocked_on, "holder", None) is not None:
                lock = cur.blocked_on
                cur.blocked_on = None
                k.bug.oops(f"BUG: spinlock lockup on CPU#{cur.cpu}, {cur.comm}: "
                           f"{lock.name} is held by {lock.holder.describe()}, which "
                           "cannot run")
    except StopIteration as e:
        return e.value
