"""Doubly linked circular lists (include/linux/list.h).

A ``list_head`` is embedded in its owner, as in C; ``owner`` plays the part of
``container_of``.  A list's real head is a ``list_head`` whose owner is the
structure holding the list (or None).  Deleted entries are poisoned so that a
use after list_del fails loudly, like LIST_POISON1/2.
"""
from kmodel.core.bug import Oops


class _Poison:
    __slots__ = ("name",)

    def __init__(self, name):
        object.__setattr__(self, "name", name)

    def __getattr__(self, attr):
        raise Oops(f"general protection fault: {self.name} dereferenced "
                   "(a list entry used after list_del)")

    def __setattr__(self, attr, value):
        self.__getattr__(attr)

    def __repr__(self):
        return self.name


LIST_POISON1 = _Poison("LIST_POISON1")
LIST_POISON2 = _Poison("LIST_POISON2")


class list_head:
    __slots__ = ("next", "prev", "owner")

    def __init__(self, owner=None):
        self.next = self
        self.prev = self
        self.owner = owner


def INIT_LIST_HEAD(head):
    head.next = head
    head.prev = head


def __list_add(new, prev, next):
    next.prev = new
    new.next = next
    new.prev = prev
    prev.next = new


def list_add(new, head):
    """list_add - insert new after head (stack order)."""
    __list_add(new, head, head.next)


def list_add_tail(new, head):
    """list_add_tail - insert new before head (queue order)."""
    __list_add(new, head.prev, head)


def __list_del(prev, next):
    next.prev = prev
    prev.next = next


def list_del(entry):
    """list_del - unlink entry and poison its pointers."""
    __list_del(entry.prev, entry.next)
    entry.next = LIST_POISON1
    entry.prev = LIST_POISON2


def list_del_init(entry):
    """list_del_init - unlink entry and make it an empty list again."""
    __list_del(entry.prev, entry.next)
    INIT_LIST_HEAD(entry)


def list_empty(head):
    return head.next is head


def list_for_each(head):
    """list_for_each - yield each list_head after head, up to head (excluded)."""
    pos = head.next
    while pos is not head:
        yield pos
        pos = pos.next


def list_for_each_reverse(head):
    """list_for_each_prev - the same, backwards."""
    pos = head.prev
    while pos is not head:
        yield pos
        pos = pos.prev


def list_for_each_entry(head):
    """list_for_each_entry - yield the owner of each entry."""
    for pos in list_for_each(head):
        yield pos.owner


def list_for_each_entry_reverse(head):
    for pos in list_for_each_reverse(head):
        yield pos.owner


def list_for_each_entry_safe(head):
    """list_for_each_entry_safe - as list_for_each_entry; the current entry may be removed."""
    pos = head.next
    while pos is not head:
        nxt = pos.next
        yield pos.owner
        pos = nxt
