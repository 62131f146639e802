"""Notifier chains (kernel/notifier.c, include/linux/notifier.h).

A chain is a list of notifier_blocks sorted by priority, higher first; among
equal priorities the one registered first is called first.  A callback that
returns a value with NOTIFY_STOP_MASK set (NOTIFY_BAD, NOTIFY_STOP) stops the
walk.  ``nr_calls`` counts the callbacks made, the failing one included;
cpu_up() takes one off and rolls back the notifiers that had succeeded, the
ones called before the failing one, which hears no rollback.
"""

NOTIFY_DONE = 0x0000
NOTIFY_OK = 0x0001
NOTIFY_STOP_MASK = 0x8000
NOTIFY_BAD = NOTIFY_STOP_MASK | 0x0002
NOTIFY_STOP = NOTIFY_OK | NOTIFY_STOP_MASK


def notifier_from_errno(err):
    """notifier_from_errno - encode a negative errno in a notifier return value."""
    if err:
        return NOTIFY_STOP_MASK | (NOTIFY_OK - err)
    return NOTIFY_OK


def notifier_to_errno(ret):
    """notifier_to_errno - the negative errno in a notifier return value, or 0.

    A plain NOTIFY_BAD decodes to -EPERM, as in Linux.
    """
    ret &= ~NOTIFY_STOP_MASK
    return NOTIFY_OK - ret if ret > NOTIFY_OK else 0


class notifier_block:
    __slots__ = ("notifier_call", "priority", "next", "name")

    def __init__(self, notifier_call, priority=0, name=None):
        self.notifier_call = notifier_call
        self.priority = priority
        self.next = None
        self.name = name or getattr(notifier_call, "__name__", "notifier")

    def __repr__(self):
        return f"<notifier_block {self.name} prio {self.priority}>"


class raw_notifier_head:
    __slots__ = ("head",)

    def __init__(self):
        self.head = None


def notifier_chain_register(nh, n):
    """notifier_chain_register - insert n after every block of >= priority."""
    prev, nl = None, nh.head
    while nl is not None:
        if n.priority > nl.priority:
            break
        prev, nl = nl, nl.next
    n.next = nl
    if prev is None:
        nh.head = n
    else:
        prev.next = n
    return 0


def notifier_chain_unregister(nh, n):
    """notifier_chain_unregister - remove n; -ENOENT if it is not on the chain."""
    prev, nl = None, nh.head
    while nl is not None:
        if nl is n:
            if prev is None:
                nh.head = n.next
            else:
                prev.next = n.next
            return 0
        prev, nl = nl, nl.next
    return -2


def notifier_call_chain(nh, val, v, nr_to_call=-1, on_call=None):
    """__raw_notifier_call_chain - call the first nr_to_call blocks (-1: all).

    Returns (last return value, nr_calls).  on_call(nb) is called before each
    callback; the hotplug code charges the modeled cost there.
    """
    ret = NOTIFY_DONE
    nr_calls = 0
    nb = nh.head
    while nb is not None and nr_to_call:
        nxt = nb.next
        if on_call is not None:
            on_call(nb)
        ret = nb.notifier_call(nb, val, v)
        nr_calls += 1
        if ret & NOTIFY_STOP_MASK == NOTIFY_STOP_MASK:
            break
        nb = nxt
        nr_to_call -= 1
    return ret, nr_calls
