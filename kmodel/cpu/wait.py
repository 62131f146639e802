"""Sleeping until a condition holds (include/linux/wait.h: wait_event).

A context that waits is blocked, as one spinning on a held lock is
(kmodel.cpu.sched): the scheduler does not step it until what it waits on
has no ``holder``.  For a condition, the holder is the condition itself
while it is false, and nothing once it is true.

Differences from Linux, on purpose: there is no wait queue and no wake_up.
The scheduler asks the condition again before every step, as if every step
woke every sleeper; a waiter therefore never misses a wake-up.  Sleeping and
waking cost nothing in the model, which has no task scheduler to charge.
"""
from collections.abc import Callable, Generator
from typing import Any

from kmodel.core.spinlock import spinlock_lockup
from kmodel.core.straight import with_twin
from kmodel.core.step import Op


class wait_condition:
    """What a sleeping context is blocked on: runnable when cond() is true."""
    __slots__ = ("cond", "name")

    def __init__(self, cond: Callable[[], bool], name: str):
        self.cond = cond
        self.name = name

    @property
    def holder(self) -> "wait_condition | None":
        """None once the condition holds (the sleeper may run), else itself."""
        return None if self.cond() else self

    def describe(self) -> str:
        return f"the condition {self.name!r}"


def _wait_event_now(k: Any, cond: Callable[[], bool], name: str) -> None:
    """wait_event run straight through: returns if cond() holds; else nothing
    else can run to make it hold, and the sleeper is stuck: the lockup oops
    run_now gives a context blocked on what no one can release."""
    if cond():
        return
    cur = k.current
    cur.blocked_on = wait_condition(cond, name)
    spinlock_lockup(k, cur, cur.blocked_on)


@with_twin(_wait_event_now)
def wait_event(k: Any, cond: Callable[[], bool], name: str) -> Generator[Any, None, None]:
    """wait_event - sleep until cond() is true: ``yield from wait_event(k,
    cond, name)`` in a context the scheduler steps.  Returns at once, without
    a step, if cond() holds already, as 2.6's macro tests the condition
    before it calls __wait_event.  Process context only (an interrupt handler
    cannot sleep)."""
    if cond():
        return
    cur = k.current
    w = wait_condition(cond, name)
    cur.blocked_on = w
    yield (Op.WAIT, w)             # not stepped again until cond() holds
    cur.blocked_on = None
