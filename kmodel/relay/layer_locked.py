"""ltt-relay-locked: the sub-buffer layer under interrupts off and a spinlock.

Each record takes ``spin_lock_irqsave`` on the buffer's lock at its reserve
and gives it back after its commit, so no other context, on this CPU or
another, is inside the buffer meanwhile: the counters are plain longs.  A
flush takes the same lock, from any CPU.  The price is the irq save/restore
and the lock's atomic on every record, and for a global buffer the lock's
cache line moving between writers; the gain is that nothing ever retries.
The lock is the layer's own part of each buffer (``rb.layer_priv``).  A
context that would spin on the lock its own CPU holds below it (an NMI on
the holder) is refused and its record counted in ``events_lost``, as the
2009 layer counted it, instead of the deadlock.
"""
from kmodel.core.spinlock import spin_lock_irqsave, spin_unlock_irqrestore, spinlock_t
from kmodel.relay.layer import LockingLayer
from kmodel.relay.rb_config import SwitchMode
from kmodel.relay.ring_buffer import (PLAIN_OPS, commit_record, lib_ring_buffer_switch_slow,
                                      refuse_record, reserve_record)


class LockedLayer(LockingLayer):
    name = "locked"

    def counter_ops(self, scope):
        return PLAIN_OPS

    def init_buf(self, rb):
        rb.layer_priv = spinlock_t(rb.k, name="ltt_buf_lock/" +
                                   ("all" if rb.cpu is None else str(rb.cpu)))

    def reserve(self, rb, payload_len, event_id=0):
        holder = rb.layer_priv.holder
        if holder is not None and holder.cpu == rb.k.current.cpu:
            # The 2009 layer's rule: a context that interrupted the lock's holder
            # on its own CPU (an NMI: the lock is taken with irqs off) would spin
            # forever; its record is counted lost (events_lost), not a deadlock.
            slot, _ = yield from refuse_record(rb)
            return slot, 0, None
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
