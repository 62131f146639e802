"""Spinlocks (include/linux/spinlock.h, lib/spinlock_debug.c of 2.6.29).

``spin_lock`` disables preemption, then tries the lock once per step (a LOCK'd
operation on the lock's line, charged as one); while another context holds it,
the waiter is blocked and the scheduler does not step it until the lock is free.

A waiter can never get a lock that a context below it on its own CPU holds:
that context cannot run until the waiter is gone.  spin_lock then yields
("deadlock", lock), and whatever runs the context reports the oops with both
stacks (kmodel.cpu.sched), as CONFIG_DEBUG_SPINLOCK reports a "cpu recursion".
The usual way there: a lock taken with spin_lock in process context and
again from an interrupt handler on the same CPU; spin_lock_irqsave is the fix.

Unlocking a lock that the context does not hold is an oops too ("wrong owner",
"already unlocked").
"""
from kmodel.core.irqflags import (local_irq_restore, local_irq_save, preempt_disable,
                                  preempt_enable)
from kmodel.core.straight import stepped, with_twin
from kmodel.core.step import Op


class spinlock_t:
    __slots__ = ("k", "name", "holder", "line_owner")

    def __init__(self, k, name="lock"):
        self.k = k
        self.name = name
        self.holder = None              # the Context that holds it
        self.line_owner = None

    def __repr__(self):
        return f"{self.name}({'held by ' + repr(self.holder) if self.holder else 'free'})"


def _try_lock(k, cur, lock):
    """One try of spin_lock: the atomic on the lock's line, charged, then the
    lock taken if free.  Returns the holder it found (None: taken)."""
    k.timing.atomic(k.timing.cpus[cur.cpu], lock, True)
    holder = lock.holder
    if holder is None:
        lock.holder = cur
        cur.blocked_on = None
    else:
        cur.blocked_on = lock           # spin: not runnable until the lock is free
    return holder


def _spin_lock_now(lock):
    """spin_lock run straight through (no other context between its steps),
    as run_now runs its generator: the lock is taken if free; held below on
    this CPU, the deadlock; held by another context, which cannot run until
    this one ends, a lockup.  The same charges, the same oopses."""
    k = lock.k
    cur = k.current
    k.cpu_exec[cur.cpu].preempt += 1    # preempt_disable(k)
    t = k.timing                        # _try_lock(k, cur, lock), written out
    t.atomic(t.cpus[cur.cpu], lock, True)
    holder = lock.holder
    if holder is None:
        lock.holder = cur
        cur.blocked_on = None
        return
    cur.blocked_on = lock
    if holder.cpu == cur.cpu:
        deadlock_report(k, cur, lock)
    spinlock_lockup(k, cur, lock)


@with_twin(_spin_lock_now)
def spin_lock(lock):
    k = lock.k
    cur = k.current
    preempt_disable(k)
    while True:
        yield (Op.SPIN_LOCK, lock)
        holder = _try_lock(k, cur, lock)
        if holder is None:
            return
        if holder.cpu == cur.cpu:
            yield (Op.DEADLOCK, lock)    # never resumed: the runner oopses
            raise AssertionError("a deadlocked context was resumed")


@stepped
def spin_unlock(lock):
    k = lock.k
    yield (Op.SPIN_UNLOCK, lock)
    cur = k.current
    if lock.holder is None:
        k.bug.oops(f"BUG: spinlock already unlocked on CPU#{cur.cpu}, {cur.comm}",
                   (f" lock: {lock.name}, .owner: none",), depth=2)
    if lock.holder is not cur:
        k.bug.oops(f"BUG: spinlock wrong owner on CPU#{cur.cpu}, {cur.comm}",
                   (f" lock: {lock.name}, .owner: {lock.holder.describe()}/"
                    f"cpu{lock.holder.cpu}",), depth=2)
    t = k.timing                        # t.line_access(c, lock), its test written out
    c = t.cpus[cur.cpu]
    o = lock.line_owner
    if o is not c:
        if o is not None:
            t.line_transfer(c, o)
        lock.line_owner = c
    lock.holder = None
    preempt_enable(k)


@stepped
def spin_lock_irqsave(lock):
    """spin_lock_irqsave - interrupts off on this CPU, then the lock; returns
    the flags for spin_unlock_irqrestore."""
    flags = local_irq_save(lock.k)
    yield from spin_lock(lock)
    return flags


@stepped
def spin_unlock_irqrestore(lock, flags):
    yield from spin_unlock(lock)
    local_irq_restore(lock.k, flags)


def spinlock_lockup(k, cur, lock):
    """spinlock_lockup - the oops for a context spinning on a lock held by
    another context that cannot run (straight through, nothing else runs)."""
    cur.blocked_on = None
    k.bug.oops(f"BUG: spinlock lockup on CPU#{cur.cpu}, {cur.comm}: "
               f"{lock.name} is held by {lock.holder.describe()}, which "
               "cannot run")


def deadlock_report(k, spinner, lock, stacks=None):
    """deadlock_report - the oops for a context spinning on a lock held below
    it on its own CPU.  stacks(ctx) gives a context's backtrace lines (none,
    for a context that runs straight through and has no generator)."""
    stacks = stacks or (lambda ctx: [])
    holder = lock.holder
    what = "recursion" if holder is spinner else "cpu recursion"
    lines = [f" lock: {lock.name}, .owner: {holder.describe()}/cpu{holder.cpu}",
             f" waiter {spinner.describe()} on CPU#{spinner.cpu}:"]
    lines += [f"  {f}" for f in stacks(spinner)]
    lines.append(f" holder {holder.describe()}, below it on the same CPU:")
    lines += [f"  {f}" for f in stacks(holder)]
    k.bug.oops(f"BUG: spinlock {what} on CPU#{spinner.cpu}, {spinner.comm} "
               f"(deadlock: {spinner.describe()} spins on {lock.name} held by "
               f"{holder.describe()})", lines)
