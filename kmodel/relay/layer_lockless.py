"""ltt-relay-lockless: the sub-buffer layer with no lock at all.

Per-CPU buffers keep their counters in ``local_t``: the reservation is a
``local_cmpxchg`` loop on the write offset, a commit is a ``local_add`` on the
sub-buffer's commit count, and delivery takes exclusive access with a cmpxchg
on ``cc_sb``.  These are single instructions without the LOCK prefix, atomic
against every context of the owning CPU, which is all that writes there: a
nested writer (an interrupt that traces) simply reserves after the context it
interrupted.  A flush asked from another CPU runs on the owner by IPI.  A
global buffer, written from every CPU, needs ``atomic_long_t`` and LOCK'd
cmpxchg instead, and the cache line of its offset moves between writers.
"""
from kmodel.relay.layer import LockingLayer
from kmodel.relay.rb_config import Scope, SwitchMode
from kmodel.relay.ring_buffer import (ATOMIC_OPS, LOCAL_OPS, commit_record,
                                      lib_ring_buffer_switch_remote, reserve_record,
                                      write_record)


class LocklessLayer(LockingLayer):
    name = "lockless"

    def counter_ops(self, scope):
        return LOCAL_OPS if scope is Scope.PER_CPU else ATOMIC_OPS

    def reserve(self, rb, payload_len, event_id=0):
        slot, tsc = yield from reserve_record(rb, payload_len, event_id)
        return slot, tsc, None

    def commit(self, rb, slot, tsc, payload, event_id, token):
        yield from commit_record(rb, slot, tsc, payload, event_id)

    def write(self, rb, payload, event_id=0):
        return (yield from write_record(rb, payload, event_id))

    def flush(self, rb, mode=SwitchMode.ACTIVE):
        yield from lib_ring_buffer_switch_remote(rb, mode)
