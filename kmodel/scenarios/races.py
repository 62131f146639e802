"""Textbook races for the interleaving explorer (``kmodel explore builtin:NAME``).

Each race comes in two versions: NAME, with the bug, and NAME-fixed.  The
explorer must find the bug and must find nothing in the fix (exhaustive search
at preemption bound 2).  Every one runs on CPUs 0 and 1 of the booted machine.

- lost-update: ``counter++`` on a plain long, in a task and in an interrupt
  handler of the same CPU.  The handler can come between the task's load and
  store.  Fix: the task disables interrupts around its increment.
- local-remote: a local_t owned by CPU 1, added to from CPU 0 as well.  Off
  its CPU, local_add is a load and a store with room between (lttng-modules
  5e391252, a flush run on a remote CPU).  Fix: a counter updated from
  several CPUs is an atomic_long_t.
- cmpxchg-loop: three contexts add to a shared counter with a
  read-compare-write that looks like a cmpxchg loop but is not atomic.  Fix:
  the real cmpxchg loop, which never loses an update whatever the schedule.
- spinlock-irq: a lock taken with spin_lock in process context and again by
  an interrupt handler on the same CPU: the handler spins forever on a lock
  the context below it holds.  Fix: spin_lock_irqsave in process context.
- vmalloc-nmi: a vmap buffer's first touch from an NMI handler on a
  lazy-sync kernel takes a vmalloc fault there, whose iret lets a second NMI
  nest on the first's stack (kmodel.scenarios.vmalloc_nmi).
  Fix: vmalloc_sync_all() after the allocation, as LTTng calls it.  It needs
  a lazy-sync machine (``machine``), and boots a new kernel for each run.
"""
from dataclasses import dataclass

from kmodel.core.atomic import (READ_ONCE, WRITE_ONCE, atomic_long_add, atomic_long_t,
                                cmpxchg, local_add, local_t, plain_long)
from kmodel.core.irqflags import local_irq_restore, local_irq_save
from kmodel.core.spinlock import (spin_lock, spin_lock_irqsave, spin_unlock,
                                  spin_unlock_irqrestore, spinlock_t)
from kmodel.cpu.context import IRQF_DISABLED
from kmodel.scenarios.vmalloc_nmi import MACHINE, check_vmalloc_nmi, setup_vmalloc_nmi


@dataclass(frozen=True)
class Race:
    name: str
    title: str
    setup: object               # setup(world, fixed) -> state
    check: object               # check(state, final) -> message or None
    machine: str | None = None  # the preset it runs on when none is given
    fresh_kernel: bool = False  # a new kernel for each run (its state persists)


class Counter:
    """The state of a race: a counter and how many increments were made."""

    def __init__(self, var, want):
        self.var = var
        self.want = want


def check_counter(state, final):
    if final and state.var.counter != state.want:
        return (f"{state.var.name} is {state.var.counter}, expected {state.want}: "
                f"an update was lost")
    return None


# --- lost-update ----------------------------------------------------------------
def inc_plain(c):
    v = yield from READ_ONCE(c)
    yield from WRITE_ONCE(c, v + 1)


def inc_plain_irqsafe(c):
    flags = local_irq_save(c.k)
    yield from inc_plain(c)
    local_irq_restore(c.k, flags)


def setup_lost_update(world, fixed):
    c = plain_long(world.k, name="counter")
    world.task(0, inc_plain_irqsafe if fixed else inc_plain, c, name="counter++")
    # x86's timer_interrupt is registered IRQF_DISABLED (arch/x86/kernel/time_64.c
    # of 2.6.29): its handler runs with interrupts off
    world.irq(0, inc_plain, c, name="timer_interrupt", flags=IRQF_DISABLED)
    return Counter(c, 2)


# --- local-remote ---------------------------------------------------------------
def add_twice(add, v):
    yield from add(v, 1)
    yield from add(v, 1)


def setup_local_remote(world, fixed):
    k = world.k
    if fixed:
        v, add = atomic_long_t(k, name="events"), atomic_long_add
    else:
        v, add = local_t(k, 1, name="events"), local_add
    world.task(1, add_twice, add, v, name="writer")
    world.task(0, add_twice, add, v, name="remote_flush")
    return Counter(v, 4)


# --- cmpxchg-loop ---------------------------------------------------------------
def inc_cmpxchg(v):
    """The loop as the kernel writes it: retry until nobody changed v between
    the read and the cmpxchg.  ABA cannot hurt: v only grows."""
    while True:
        old = yield from READ_ONCE(v)
        if (yield from cmpxchg(v, old, old + 1)) == old:
            return


def inc_check_then_set(v):
    """The bug: compare and set as two accesses, with room between."""
    while True:
        old = yield from READ_ONCE(v)
        if (yield from READ_ONCE(v)) == old:
            yield from WRITE_ONCE(v, old + 1)
            return


def setup_cmpxchg_loop(world, fixed):
    v = atomic_long_t(world.k, name="seq")
    inc = inc_cmpxchg if fixed else inc_check_then_set
    world.task(0, inc, v, name="reserve")
    world.task(1, inc, v, name="reserve")
    world.irq(0, inc, v, name="irq_reserve")
    return Counter(v, 3)


# --- spinlock-irq ---------------------------------------------------------------
def locked_inc(lock, c):
    yield from spin_lock(lock)
    yield from inc_plain(c)
    yield from spin_unlock(lock)


def locked_inc_irqsave(lock, c):
    flags = yield from spin_lock_irqsave(lock)
    yield from inc_plain(c)
    yield from spin_unlock_irqrestore(lock, flags)


def setup_spinlock_irq(world, fixed):
    k = world.k
    lock = spinlock_t(k, name="buf_lock")
    c = plain_long(k, name="counter")
    task = locked_inc_irqsave if fixed else locked_inc
    world.task(0, task, lock, c, name="writer")
    world.task(1, task, lock, c, name="writer")
    world.irq(0, locked_inc, lock, c, name="irq_writer")
    return Counter(c, 3)


RACES = {r.name: r for r in (
    Race("lost-update", "counter++ in a task and in an irq of the same CPU",
         setup_lost_update, check_counter),
    Race("local-remote", "local_add on a local_t from a CPU that does not own it",
         setup_local_remote, check_counter),
    Race("cmpxchg-loop", "a compare-and-set loop: a false one, and cmpxchg",
         setup_cmpxchg_loop, check_counter),
    Race("spinlock-irq", "spin_lock in a task and in an irq of the same CPU",
         setup_spinlock_irq, check_counter),
    Race("vmalloc-nmi", "an NMI's vmalloc fault lets a second NMI nest (lazy vmalloc sync)",
         setup_vmalloc_nmi, check_vmalloc_nmi, machine=MACHINE, fresh_kernel=True),
)}


def race_names():
    """race_names - every built-in race, buggy and fixed."""
    return [n for r in RACES for n in (r, r + "-fixed")]


def find_race(name):
    """find_race - the Race of a built-in race's name (NAME or NAME-fixed), or None."""
    return RACES.get(name[:-len("-fixed")] if name.endswith("-fixed") else name)


def get_race(name):
    """get_race - (setup(world), check) of a built-in race by name, or None."""
    fixed = name.endswith("-fixed")
    race = find_race(name)
    if race is None:
        return None
    return (lambda world: race.setup(world, fixed)), race.check
