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
import inspect
import sys
from collections.abc import Generator
from typing import Any

from kmodel.core.bug import Oops
from kmodel.core.errno import ENXIO
from kmodel.core.spinlock import deadlock_report, spinlock_lockup
from kmodel.core.straight import straight, with_twin
from kmodel.core.step import Op, OpKind
from kmodel.cpu.context import (HARDIRQ, IRQF_DISABLED, NMI, SOFTIRQ, TASK, ContextError,
                                backtrace, context_enter, context_exit, format_stacks)

COST_KEYS = ("cycles", "atomics", "line_transfers", "irq_flag_ops")

# Tests set this: every Run recomputes the enabled contexts where it keeps
# them, and fails if they differ (tests/test_sched_enabled.py).
VERIFY_ENABLED = False

# The operations after which, run to its next event, a context cannot have
# changed which contexts are enabled, when all have started and none waits:
# a step that follows one takes no lock, gives none back, raises no IPI and
# enters no context (each of those is an event of its own: SPIN_LOCK,
# SPIN_UNLOCK, IPI), and no context is waiting on a condition that any
# store could make true.  (An interrupt still to come could be refused or
# taken after any store to the irq flag: the set is recomputed then.)
PLAIN = frozenset({OpKind.READ_ONCE, OpKind.WRITE_ONCE, OpKind.LOCAL_ADD,
                   OpKind.LOCAL_ADD_LOAD, OpKind.LOCAL_ADD_STORE, OpKind.LOCAL_CMPXCHG,
                   OpKind.LOCAL_CMPXCHG_LOAD, OpKind.LOCAL_CMPXCHG_STORE,
                   OpKind.ATOMIC_LONG_ADD, OpKind.CMPXCHG, OpKind.COPY, OpKind.READ})

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
    if op is Op.RUN:                    # a script's command
        return name
    return f"{op.label}({name})" if name else op.label


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
        self.verify_enabled = VERIFY_ENABLED    # recompute after each plain access too
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
        except StopIteration as done:
            pending = None
            self._finished(e, ctx, done.value)
        if self.trace is not None:
            self._trace(e, ctx, label)
        if pending is not None and ctx.blocked_on is not None:
            self._blocked(e, ctx, pending)

    def _finished(self, e, ctx, value):
        e.done = True
        self.live.remove(e)
        context_exit(self.k, ctx)
        if e.call is not None:
            e.call.holder = None        # the IPI's sender may go on

    def _blocked(self, e, ctx, pending):
        """A context that yielded waiting: a deadlock to report, or an IPI to raise."""
        k = self.k
        op = pending[0]
        if op is Op.DEADLOCK:
            self.stacks = format_stacks(k, self._cpus())
            deadlock_report(k, ctx, pending[1], backtrace)
        elif op is Op.IPI and pending[1].holder is None:
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

    def _enabled(self):
        """The entities enabled now, in order (what _loop computes inline)."""
        out = []
        for e in self.live:
            ctx = e.ctx
            if ctx is None:
                if e.ex.can_take(e.kind) and e.cpu in self.k.cpu_online_mask:
                    out.append(e)
            elif e.ex.stack[-1] is ctx and (ctx.blocked_on is None or
                                            ctx.blocked_on.holder is None):
                out.append(e)
        return out

    def run(self):
        """run - to the end; raises RunFailed at the first failure."""
        k = self.k
        try:
            self._loop()
        except Oops as e:
            if not self.stacks:
                self.stacks = format_stacks(k, self._cpus())
            raise RunFailed(f"kernel oops: {e}", self.steps) from None
        finally:
            self.cleanup()

    def _loop(self):
        """The interpreter: choose an enabled context, resume it to its next
        event, act on the event if it blocks (_blocked), until no context is
        enabled.  The hot path of every exploration: enabled() and step()
        are written out in it for the common case (a context that has started
        resumes; no trace)."""
        k = self.k
        choose = self.chooser.choose
        draw = getattr(self.chooser, "draw", None)  # a uniform chooser's random(), called here
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
        same = False            # the last step could not change who is enabled
        enabled = []
        settled = False
        verify = self.verify_enabled
        try:
            while True:
                if same:
                    if verify and self._enabled() != enabled:
                        raise AssertionError(f"step {steps}: the enabled contexts changed "
                                             f"after a plain access")
                else:
                    enabled = []
                    add = enabled.append
                    settled = True      # every live context started, none waits
                    for e in live:
                        ctx = e.ctx
                        if ctx is None:
                            settled = False
                            if e.ex.can_take(e.kind) and e.cpu in online:
                                add(e)
                        elif e.ex.stack[-1] is ctx:
                            lock = ctx.blocked_on
                            if lock is None:
                                add(e)
                            else:
                                settled = False
                                if lock.holder is None:
                                    add(e)
                        else:
                            settled = False
                    if not enabled:
                        self._end()
                        break
                if steps >= max_steps:
                    raise RunFailed(f"no end after {max_steps} steps (a livelock?)", steps)
                if stop is not None and not steps & 1023 and steps and stop():
                    raise SearchStopped()
                if draw is not None:
                    i = int(draw() * len(enabled))
                else:
                    i = choose(steps, enabled, last)
                append(i)
                last = enabled[i]
                steps += 1
                ctx = last.ctx
                same = False
                if ctx is None or ctx.pending is None or trace:
                    self.steps = steps
                    self.step(last)
                else:                   # the common case: resume it
                    k.current = ctx
                    done_op = ctx.pending[0]
                    try:
                        ctx.pending = ctx.gen.send(None)
                    except StopIteration as done:
                        ctx.pending = None
                        self._finished(last, ctx, done.value)
                    else:
                        if ctx.blocked_on is not None:
                            self.steps = steps
                            self._blocked(last, ctx, ctx.pending)
                        else:
                            same = settled and done_op in PLAIN
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
        except (Oops, RunFailed):
            self.steps = steps
            raise

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
    """run_cost - the modeled cost of a run (COST_KEYS): k.timing.summary()."""
    return k.timing.summary()



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


def ipi_lockup(k, cur, call):
    """ipi_lockup - the oops for a context waiting on an IPI its target CPU
    cannot take (interrupts off there, or in a hardirq) while nothing else
    can run to let it: smp_call_function_single would wait for ever."""
    ex = k.cpu_exec[call.cpu]
    why = "has interrupts off" if ex.irqs_off else f"is in {ex.top.kind} context"
    cur.blocked_on = None
    k.bug.oops(f"BUG: IPI lockup on CPU#{cur.cpu}, {cur.comm}: it waits for "
               f"{call.fn.__name__} on CPU#{call.cpu}, which {why} and cannot take it")


def _smp_call_function_single_now(k, cpu, fn, *args):
    """smp_call_function_single run straight through, as run_now runs its
    generator: the call runs at once, as a hardirq on cpu (here, with
    interrupts off, when cpu is this CPU); -ENXIO if cpu is offline; the IPI
    lockup if cpu cannot take the interrupt."""
    if not k.cpu_online(cpu):
        return -ENXIO
    run = straight(fn)
    if k.current.cpu == cpu:
        flags = k.cpu_exec[cpu].irqs_off
        k.cpu_exec[cpu].irqs_off = True
        try:
            run(*args)
        finally:
            k.cpu_exec[cpu].irqs_off = flags
        return 0
    saved = k.current
    if not k.cpu_exec[cpu].can_take(HARDIRQ):
        ipi_lockup(k, saved, IPICall(cpu, fn, args))
    ctx = context_enter(k, cpu, HARDIRQ, fn.__name__, flags=IRQF_DISABLED)  # a system vector
    try:
        run(*args)
    finally:
        context_exit(k, ctx)
        k.current = saved
    return 0


@with_twin(_smp_call_function_single_now)
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
    yield (Op.IPI, call)                 # the scheduler raises it; we wait
    while call.holder is not None:      # (run_now runs it before resuming us)
        yield (Op.IPI, call)
    cur.blocked_on = None
    return 0


class _First:
    """The chooser of a straight-through run: the first enabled context (the
    one that runs, or the interrupt it waits for)."""

    @staticmethod
    def choose(step, enabled, last):
        return 0


class InlineRun(Run):
    """A run of one generator in the context that runs now (k.current), with
    no other context between its steps but the IPIs it raises: run_now.  The
    same interpreter as the explorer's (Run._loop, Run._blocked); what
    differs is the end: the context is not entered or left here, the
    generator's value is the result, and a context left blocked is the oops
    the straight form gives (spinlock_lockup, ipi_lockup)."""

    def __init__(self, k, gen):
        cur = k.current
        world = World(k)
        e = Entity(0, cur.cpu, cur.kind, None, (), cur.name)
        e.ctx = cur
        world.entities.append(e)
        self.entity = e
        self.saved = (cur.gen, cur.pending)
        self.value = None
        cur.gen = gen
        cur.pending = None
        super().__init__(k, world, _First, max_steps=sys.maxsize)

    def run(self):
        """run - the generator to its end: its value."""
        try:
            self._loop()
        finally:
            self.cleanup()
        return self.value

    def _finished(self, e, ctx, value):
        if e is not self.entity:
            super()._finished(e, ctx, value)
            return
        e.done = True
        self.live.remove(e)
        self.value = value

    def _blocked(self, e, ctx, pending):
        if pending[0] is Op.DEADLOCK:   # no stacks: as the straight form reports it
            deadlock_report(self.k, ctx, pending[1])
        super()._blocked(e, ctx, pending)

    def _end(self):
        cur = self.entity.ctx
        if self.entity.done:
            return
        self.k.current = cur
        what = cur.blocked_on
        if isinstance(what, IPICall):
            ipi_lockup(self.k, cur, what)
        spinlock_lockup(self.k, cur, what)

    def cleanup(self):
        k = self.k
        cur = self.entity.ctx
        for e in self.world.entities[1:]:         # IPIs cut short by an oops
            if e.ctx is not None and not e.done:
                e.ctx.gen.close()
                if k.cpu_exec[e.cpu].top is e.ctx:
                    context_exit(k, e.ctx)
        cur.gen, cur.pending = self.saved
        k.current = cur


def run_now(k, gen):
    """run_now - run a context's generator straight through, with no other
    context between its steps, through the explorer's interpreter (InlineRun):
    an IPI it raises runs at once on its CPU; a lock it cannot get is a
    deadlock, reported as the oops it is.  Returns gen's value.  The code
    that runs outside the explorer calls the straight forms instead
    (kmodel.core.straight), which do the same without the interpreter; this
    is the generator form, for the differential tests and for a generator
    that has no straight form."""
    if inspect.getgeneratorstate(gen) != inspect.GEN_CREATED:
        raise ScheduleError("run_now: a generator that has already started")
    return InlineRun(k, gen).run()
