"""ltt-relay-locked: the sub-buffer layer under interrupts off and a spinlock.

Each write takes ``spin_lock_irqsave`` on the buffer's lock around reserve,
copy and commit, so no other context, on this CPU or another, is inside the
buffer meanwhile: the counters are plain longs.  A flush takes the same lock,
from any CPU.  The price is the irq save/restore and the lock's atomic on
every record, and for a global buffer the lock's cache line moving between
writers; the gain is that the algorithm needs no cmpxchg retry.
"""
from kmodel.core.spinlock import spin_lock_irqsave, spin_unlock_irqrestore, spinlock_t
from kmodel.relay.ring_buffer import (PLAIN_OPS, LockingLayer, lib_ring_buffer_switch_slow,
                                      write_record)


class LockedLayer(LockingLayer):
    name = "locked"

    def counter_ops(self, scope):
        return PLAIN_OPS

    def init_buf(self, rb):
        rb.lock = spinlock_t(rb.k, name=f"ltt_buf_lock/{rb.cpu if rb.cpu is not None else 'all'}")

    def write(self, rb, payload, event_id=0):
        flags = yield from spin_lock_irqsave(rb.lock)
        try:
            slot = yield from write_record(rb, payload, event_id)
        finally:
            if rb.lock.holder is rb.k.current:
                yield from spin_unlock_irqrestore(rb.lock, flags)
        return slot

    def flush(self, rb, finalize=False):
        flags = yield from spin_lock_irqsave(rb.lock)
        yield from lib_ring_buffer_switch_slow(rb, finalize)
        yield from spin_unlock_irqrestore(rb.lock, flags)
