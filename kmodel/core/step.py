"""The scheduler's events: what a context yields before each step.

A context's code (kmodel.cpu.context) is a generator that yields an *event*
before every operation another context could come between: ``(op, obj)``,
where ``op`` is an :class:`OpKind`, a closed set (yielded as ``Op.X``), and ``obj`` the word, lock,
buffer or call it is about.  One interpreter reads them
(kmodel.cpu.sched.Run, which the explorer and run_now both use):

- an *access* (a load, a store, an atomic, a copy, a lock's word) only marks
  a step: the interpreter lets another context run there, or not;
- a *blocking* event says why the context cannot go on, with its
  ``blocked_on`` set: ``IPI`` (it waits for a call it sent to another CPU:
  the interpreter raises the interrupt there), ``WAIT`` (it sleeps until a
  condition holds), ``DEADLOCK`` (it spins on a lock held below it on its
  own CPU: the interpreter oopses).

An event is a plain pair, not an object of a class: the explorer makes one
at every step, and making a pair costs about a third of what making a
slotted object does (bench/bench_steps.py measures both).  The op's ``label`` is what a trace
prints (``local_cmpxchg:load(offset)``).

The straight form of a step generator (kmodel.core.straight) drops the
accesses and does what the interpreter would do for the blocking ones, in a
twin written by hand (spin_lock, smp_call_function_single, wait_event).
"""
from enum import IntEnum
from typing import Any

__all__ = ["OpKind", "Op", "Event", "BLOCKING"]


class OpKind(IntEnum):
    """What a step does (the kernel primitive's name, as a trace prints it)."""
    # accesses to a word
    READ_ONCE = 1
    WRITE_ONCE = 2
    LOCAL_ADD = 3               # local_add on the owning CPU: one instruction
    LOCAL_ADD_LOAD = 4          # from another CPU: a load, then a store
    LOCAL_ADD_STORE = 5
    LOCAL_CMPXCHG = 6
    LOCAL_CMPXCHG_LOAD = 7
    LOCAL_CMPXCHG_STORE = 8
    ATOMIC_LONG_ADD = 9
    CMPXCHG = 10
    # accesses to a lock's word
    SPIN_LOCK = 11
    SPIN_UNLOCK = 12
    # accesses to a buffer's pages
    COPY = 13                   # a writer copies a page's worth in
    READ = 14                   # a reader copies a page's worth out
    # a script's command (kmodel explore --script), or a test's own step
    RUN = 15
    STEP = 16
    # blocking: blocked_on says on what
    IPI = 32
    WAIT = 33
    DEADLOCK = 34

    @property
    def label(self) -> str:
        """The name a trace prints: the primitive's, ':load'/':store' for the
        two halves of a local_t operation from another CPU."""
        return _LABELS[self]


_LABELS = {op: op.name.lower() for op in OpKind}
_LABELS.update({OpKind.READ_ONCE: "READ_ONCE", OpKind.WRITE_ONCE: "WRITE_ONCE",
                OpKind.LOCAL_ADD_LOAD: "local_add:load",
                OpKind.LOCAL_ADD_STORE: "local_add:store",
                OpKind.LOCAL_CMPXCHG_LOAD: "local_cmpxchg:load",
                OpKind.LOCAL_CMPXCHG_STORE: "local_cmpxchg:store",
                OpKind.ATOMIC_LONG_ADD: "atomic_long_add", OpKind.WAIT: "wait_event"})


class Op:
    """The members of OpKind as plain class attributes, which the steps yield
    (``yield (Op.READ_ONCE, w)``): the same objects, found four times faster
    (an Enum's member lookup costs about 105 ns in CPython 3.11, a class
    attribute about 25 ns), and the explorer makes an event at every step."""
    __slots__ = ()
    READ_ONCE = OpKind.READ_ONCE
    WRITE_ONCE = OpKind.WRITE_ONCE
    LOCAL_ADD = OpKind.LOCAL_ADD
    LOCAL_ADD_LOAD = OpKind.LOCAL_ADD_LOAD
    LOCAL_ADD_STORE = OpKind.LOCAL_ADD_STORE
    LOCAL_CMPXCHG = OpKind.LOCAL_CMPXCHG
    LOCAL_CMPXCHG_LOAD = OpKind.LOCAL_CMPXCHG_LOAD
    LOCAL_CMPXCHG_STORE = OpKind.LOCAL_CMPXCHG_STORE
    ATOMIC_LONG_ADD = OpKind.ATOMIC_LONG_ADD
    CMPXCHG = OpKind.CMPXCHG
    SPIN_LOCK = OpKind.SPIN_LOCK
    SPIN_UNLOCK = OpKind.SPIN_UNLOCK
    COPY = OpKind.COPY
    READ = OpKind.READ
    RUN = OpKind.RUN
    STEP = OpKind.STEP
    IPI = OpKind.IPI
    WAIT = OpKind.WAIT
    DEADLOCK = OpKind.DEADLOCK


BLOCKING = frozenset({OpKind.IPI, OpKind.WAIT, OpKind.DEADLOCK})

# What a context yields: (op, what it is about).
Event = tuple[OpKind, Any]
