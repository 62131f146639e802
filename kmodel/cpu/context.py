"""Execution contexts (include/linux/hardirq.h, include/linux/preempt.h, current).

Each CPU runs a stack of contexts.  At the bottom is a task (process context):
the idle task ``swapper/N`` when nothing else runs, or a task that a scenario
spawned there.  On top of it, nested: at most one softirq (softirqs run from
irq_exit, never on top of a hardirq), hardirqs, and one NMI.  ``k.current`` is
the top context of the CPU that is running, so ``smp_processor_id()``,
``in_interrupt()`` and ``preempt_count()`` read off it as they read off the
CPU in Linux.

Hardirqs nest as they did in 2.6.29.  The CPU clears its interrupt flag on
the way into any interrupt, and handle_IRQ_event (kernel/irq/handle.c) turns
it back on before the handler runs, unless the handler was registered
IRQF_DISABLED (include/linux/interrupt.h).  So another hardirq can arrive on
top of a handler; 2.6.29's include/linux/hardirq.h sizes the hardirq count of
preempt_count "for potentially all IRQ sources in the system nesting on a
single CPU".  kmodel bounds it at MAX_HARDIRQ_NESTING (2): one handler
interrupted by another is what a race needs, and each level more multiplies
the interleavings the explorer searches.  A stack is then at most five deep
(task, softirq, two hardirqs, NMI), one more than LTTng's
RING_BUFFER_MAX_NESTING (4, include/ringbuffer/frontend.h), the number of
tracer calls lib_ring_buffer_get_cpu lets nest on a CPU before it refuses a
record (-EPERM, WARN_ON_ONCE); kmodel's layers do not count that nesting.
Since Linux 2.6.35 (e58aa3d2d0cc, "genirq: Run irq handlers with interrupts
disabled") every handler runs with interrupts off and hardirqs no longer
nest: CONFIG_KMODEL_HARDIRQS_IRQS_OFF=y.  x86's system vectors (IPIs, the
local APIC timer) never went through handle_IRQ_event and always ran with
interrupts off: the IPIs here are entered with IRQF_DISABLED.

A context that takes part in an interleaving is a Python generator: it yields
before each operation on shared state (an atomic, a lock, a chunk of a copy),
and whatever runs it (kmodel.cpu.sched) chooses at each yield which context
steps next.  What a context yields is a pair (operation, object) naming the
operation it is about to do; see kmodel.core.atomic.

Differences from Linux, on purpose:
- One task per CPU.  There is no task scheduler: a task runs until it ends, so
  preempt_disable() is bookkeeping (preempt_count()) and never changes what runs.
- In Linux ``current`` inside an interrupt is still the interrupted task; here
  ``k.current`` is the interrupt's own context.  Its ``comm`` is the interrupted
  task's, so code that prints ``current->comm`` prints what Linux prints.
- The moment a hardirq handler turns interrupts back on is its arrival: no
  step runs between the CPU clearing the flag and handle_IRQ_event setting it.
"""
from contextlib import contextmanager
from enum import StrEnum


class ContextKind(StrEnum):
    """What a context is (its word in the shell, the explorer and the stacks)."""
    TASK = "task"
    SOFTIRQ = "softirq"
    HARDIRQ = "hardirq"
    NMI = "nmi"


TASK, SOFTIRQ, HARDIRQ, NMI = ContextKind
KINDS = tuple(ContextKind)
IRQF_DISABLED = 0x00000020      # include/linux/interrupt.h: keep irqs off in the handler
MAX_HARDIRQ_NESTING = 2         # hardirqs on one CPU's stack (kmodel's bound)
MAX_NESTING = 3 + MAX_HARDIRQ_NESTING   # task, softirq, the hardirqs, NMI

# preempt_count() layout, as include/linux/preempt.h of later kernels draws it.
PREEMPT_OFFSET = 1 << 0
SOFTIRQ_OFFSET = 1 << 8
HARDIRQ_OFFSET = 1 << 16
NMI_OFFSET = 1 << 20
_OFFSET = {TASK: 0, SOFTIRQ: SOFTIRQ_OFFSET, HARDIRQ: HARDIRQ_OFFSET,
           NMI: NMI_OFFSET + HARDIRQ_OFFSET}      # nmi_enter() adds both


class Context:
    """One execution context: a task or an interrupt handler on one CPU.

    gen is the generator that runs it (None for the idle task, or for a
    context run straight through by the shell); pending is what it yielded
    last, the operation it does when it next steps."""
    __slots__ = ("kind", "cpu", "name", "comm", "gen", "pending", "blocked_on",
                 "irqs_were_off", "note", "eid", "rb_nesting")

    def __init__(self, kind, cpu, name, comm, gen=None):
        self.kind = kind
        self.cpu = cpu
        self.name = name
        self.comm = comm
        self.gen = gen
        self.pending = None
        self.blocked_on = None          # a spinlock_t it spins on
        self.irqs_were_off = False      # the CPU's irq flag when this interrupt came
        self.note = None                # what its last operation returned (for traces)
        self.eid = None                 # its entity number in a schedule
        self.rb_nesting = 0             # its records reserved, not yet committed (the
                                        # CPU's lib_ring_buffer_nesting is the stack's sum)

    def __repr__(self):
        return f"{self.kind}:{self.name}@cpu{self.cpu}"

    def describe(self):
        return f"{self.kind} {self.name}"


class CpuExec:
    """What one CPU is executing: its context stack and its interrupt flag."""
    __slots__ = ("cpu", "stack", "irqs_off", "preempt", "idle", "nmi_iret")

    def __init__(self, cpu):
        self.cpu = cpu
        self.idle = Context(TASK, cpu, f"swapper/{cpu}", "swapper")
        self.stack = [self.idle]
        self.irqs_off = False           # EFLAGS.IF clear
        self.preempt = 0                # the task's own preempt_disable() depth
        # An iret ran while an NMI handler runs (the return from a fault it
        # took): the CPU no longer blocks NMIs, though the handler is not done.
        self.nmi_iret = None            # or what the iret returned from

    @property
    def top(self):
        return self.stack[-1]

    def reset(self):
        """Back to the idle task with interrupts on (a new run of a schedule)."""
        self.stack[:] = [self.idle]
        self.irqs_off = False
        self.preempt = 0
        self.nmi_iret = None

    def can_take(self, kind):
        """can_take - may an interrupt of this kind arrive on this CPU now?

        An NMI, unless one runs: the CPU blocks NMIs from an NMI's delivery
        to the next iret, which is the handler's own, unless the handler took
        a fault, whose iret ends the blocking early (nmi_iret).  Otherwise
        interrupts must be on (a hardirq
        handler has them on in 2.6.29 unless IRQF_DISABLED; an NMI handler
        never does); a softirq never comes on top of a hardirq nor of
        another softirq; a hardirq, up to MAX_HARDIRQ_NESTING deep."""
        levels = [c.kind for c in self.stack]
        if kind == NMI:
            return NMI not in levels or self.nmi_iret is not None
        if self.irqs_off or NMI in levels:
            return False
        if kind == SOFTIRQ:
            return SOFTIRQ not in levels and HARDIRQ not in levels
        return levels.count(HARDIRQ) < MAX_HARDIRQ_NESTING

    def preempt_count(self):
        n = self.preempt
        for c in self.stack:
            n += _OFFSET[c.kind]
        return n


class ContextError(ValueError):
    """A context that cannot be started (an offline CPU, nesting too deep)."""


def cpu_execs(possible):
    """cpu_execs - a CpuExec (idle, interrupts on) for every possible CPU: the
    kernel's k.cpu_exec, whose boot CPU's top context is k.current."""
    return {cpu: CpuExec(cpu) for cpu in possible}


def set_cpu(k, cpu):
    """set_cpu - make cpu the running CPU: k.current becomes its top context."""
    k.current = k.cpu_exec[cpu].top


@contextmanager
def on_cpu(k, cpu):
    """on_cpu - run a block on cpu, then go back to the CPU that ran before
    (or to the boot CPU, if that one went offline meanwhile)."""
    saved = k.current.cpu
    set_cpu(k, cpu)
    try:
        yield k.current
    finally:
        set_cpu(k, saved if k.cpu_online(saved) else k.boot_cpu)


def handler_irqs_off(k, kind, flags=0):
    """handler_irqs_off - does a handler of this kind run with interrupts off?
    An NMI's always; a hardirq's if it was registered IRQF_DISABLED, or on a
    kernel whose handlers all run so (CONFIG_KMODEL_HARDIRQS_IRQS_OFF=y,
    Linux 2.6.35 on); a softirq's never (__do_softirq enables them)."""
    if kind == NMI:
        return True
    if kind == HARDIRQ:
        return bool(flags & IRQF_DISABLED) or k.config["CONFIG_KMODEL_HARDIRQS_IRQS_OFF"] == "y"
    return False


def context_enter(k, cpu, kind, name, gen=None, flags=0):
    """context_enter - an interrupt of this kind arrives on cpu (irq_enter(),
    nmi_enter()) and becomes k.current; or, for a task, cpu starts running it.
    flags: IRQF_DISABLED keeps a hardirq handler's interrupts off.

    Raises ContextError when the CPU is offline or cannot take that kind now."""
    if kind not in KINDS:
        raise ContextError(f"unknown context kind {kind!r} (kinds: {', '.join(KINDS)})")
    if not k.cpu_online(cpu):
        raise ContextError(f"CPU {cpu} is not online")
    ex = k.cpu_exec[cpu]
    below = ex.top
    if kind == TASK:
        if below is not ex.idle or len(ex.stack) > 1:
            raise ContextError(f"CPU {cpu} already runs {below.describe()}")
        ctx = Context(TASK, cpu, name, name, gen)
        ex.stack[0] = ctx
    else:
        if not ex.can_take(kind):
            raise ContextError(f"a {kind} cannot arrive on CPU {cpu} now: "
                               f"{_refusal(ex, kind, below)}")
        if kind == NMI and ex.nmi_iret is not None:
            nested_nmi(k, ex, name)
        ctx = Context(kind, cpu, name, ex.stack[0].comm, gen)
        ctx.irqs_were_off = ex.irqs_off
        if handler_irqs_off(k, kind, flags):
            ex.irqs_off = True          # the CPU cleared IF; the handler keeps it so
        ex.stack.append(ctx)
    k.current = ctx
    return ctx


def iret_in_nmi(k, what):
    """iret_in_nmi - the NMI handler running on this CPU took an exception
    (what: a page fault at some address) and returned from it with iret: x86
    stops blocking NMIs at any iret, so another NMI can now arrive while this
    handler still runs on the NMI stack (Intel SDM vol. 3, "Handling Multiple
    NMIs").  2.6.29's x86-64 has nothing against it."""
    k.cpu_exec[k.current.cpu].nmi_iret = what


def nested_nmi(k, ex, name):
    """The oops of an NMI that arrives while another NMI's handler runs:
    2.6.29's x86-64 runs every NMI on one IST stack, so the second NMI's
    entry overwrites the first one's saved state, and the first never
    returns to what it interrupted."""
    first = next(c for c in reversed(ex.stack) if c.kind == NMI)
    k.bug.oops(f"BUG: NMI {name} nested in NMI {first.name} on CPU#{ex.cpu}: "
               "it overwrites the first's frame on the NMI stack",
               (f"  NMIs were blocked until an iret; the first handler took {ex.nmi_iret},",
                "  and the iret returning from it re-enabled NMIs before the handler was done",
                "  (x86-64 kernels took vmalloc faults in NMI handlers silently until 2.6.37's",
                "  WARN_ON_ONCE(in_nmi()); nested NMIs were made safe in 3.3)"))


def _refusal(ex, kind, below):
    if ex.irqs_off and kind != NMI:
        return "interrupts are off"
    if kind == HARDIRQ and below.kind == HARDIRQ:
        return f"{MAX_HARDIRQ_NESTING} hardirqs nest on it already"
    return f"it is in {below.kind} context"


def context_exit(k, ctx):
    """context_exit - ctx ends (irq_exit(), or the task returns): the context
    below it runs again, with the interrupt flag it had."""
    ex = k.cpu_exec[ctx.cpu]
    if ex.top is not ctx:
        raise ContextError(f"{ctx!r} is not the top context of CPU {ctx.cpu}")
    if ctx.kind == TASK:
        ex.stack[0] = ex.idle
        ex.irqs_off = False
        ex.preempt = 0
    else:
        ex.stack.pop()
        ex.irqs_off = ctx.irqs_were_off
        if ctx.kind == NMI:
            ex.nmi_iret = None          # its own iret: NMIs blocked until the next one
    if k.current is ctx:
        k.current = ex.top


# --- include/linux/hardirq.h and preempt.h -----------------------------------
def preempt_count(k):
    return k.cpu_exec[k.current.cpu].preempt_count()


def in_irq(k):
    """in_irq - in hardirq (or NMI) context."""
    return bool(preempt_count(k) & (HARDIRQ_OFFSET * 0xf))


def in_softirq(k):
    return bool(preempt_count(k) & (SOFTIRQ_OFFSET * 0xff))


def in_interrupt(k):
    """in_interrupt - in softirq, hardirq or NMI context."""
    return bool(preempt_count(k) & ~(PREEMPT_OFFSET * 0xff))


def in_nmi(k):
    return bool(preempt_count(k) & NMI_OFFSET)


def irqs_disabled(k):
    return k.cpu_exec[k.current.cpu].irqs_off


def chain_frames(gen):
    """chain_frames - the frames a suspended generator stands in, outermost
    first: its own and those of every generator it delegates to with yield
    from (each frame's f_code and f_lineno say where)."""
    while gen is not None:
        frame = getattr(gen, "gi_frame", None)
        if frame is None:
            return
        yield frame
        gen = getattr(gen, "gi_yieldfrom", None)


def backtrace(ctx):
    """backtrace - the call chain a suspended context stands in, outermost
    first, as 'function() file:line' strings."""
    import os
    return [f"{frame.f_code.co_name}() "
            f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"
            for frame in chain_frames(ctx.gen)]


def format_stacks(k, cpus=None):
    """format_stacks - one line per CPU: its contexts bottom to top."""
    lines = []
    for cpu in (cpus if cpus is not None else k.for_each_online_cpu()):
        ex = k.cpu_exec[cpu]
        chain = " > ".join(c.describe() for c in ex.stack)
        flags = []
        if ex.irqs_off:
            flags.append("irqs off")
        if ex.preempt_count():
            flags.append(f"preempt_count={ex.preempt_count():#x}")
        lines.append(f"cpu{cpu}: {chain}" + (f"  [{', '.join(flags)}]" if flags else ""))
    return lines
