"""ltt-relay-locked: the sub-buffer layer under interrupts off and a spinlock.

Each record takes ``spin_lock_irqsave`` on the buffer's lock at its reserve
and gives it back after its commit, so no other context, on this CPU or
another, is inside the buffer meanwhile: the counters are plain longs.  A
flush takes the same lock, from any CPU.  The price is the irq save/restore
and the lock's atomic on every record, and for a global buffer the lock's
cache line moving between writers; the gain is that nothing ever retries.
The lock is the layer's own part of each buffer (``rb.layer_priv``).
"""
from kmodel.core.spinlock import spin_lock_irqsave, spin_unlock_irqrestore, spinlock_t
from kmodel.relay.layer import LockingLayer
from kmodel.relay.rb_config import SwitchMode
from kmodel.relay.ring_buffer import (PLAIN_OPS, commit_record, lib_ring_buffer_switch_slow,
                                      reserve_record)


class LockedLayer(LockingLayer):
    name = "locked"

    def counter_ops(self, scope):
        return PLAIN_OPS

    def init_buf(self, rb):
        rb.layer_priv = spinlock_t(rb.k, name="ltt_buf_lock/" +
                                   ("all" if rb.cpu is None else str(rb.cpu)))

    def reserve(self, rb, payload_len, event_id=0):
        flags = yield from spin_lock_irqsave(rb.layer_priv)
        slot, tsc = yield from reserve_record(rb, payload_len, event_id)
        if slot < 0:
            yield from spin_unlock_irqrestore(rb.layer_priv, flags)
            return slot, 0, None
        return slot, tsc, flags

    def commit(self, rb, slot, tsc, payload, event_id, flags):
        yield from commit_record(rb, slot, tsc, payload, event_id)
        yield from spin_unlock_irqrestore(rb.layer_priv, flags)

    def flush(self, rb, mode=SwitchMode.ACTIVE):
        flags = yield from spin_lock_irqsave(rb.layer_priv)
        yield from lib_ring_buffer_switch_slow(rb, mode)
        yield from spin_unlock_irqrestore(rb.layer_priv, flags)
