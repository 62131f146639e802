"""Interrupt flags and preemption (include/linux/irqflags.h, include/linux/preempt.h).

``flags = local_irq_save(k)`` clears the running CPU's interrupt flag and
returns what it was; ``local_irq_restore(k, flags)`` puts it back.  While it is
clear no hardirq or softirq arrives on that CPU; an NMI still can.  Each costs
what the preset's timing table says (``irq_save_cycles``, ``irq_restore_cycles``).

``preempt_disable``/``preempt_enable`` keep the running task's preempt count.
kmodel has one task per CPU and no task scheduler, so they change what
``preempt_count()`` reports and nothing else; the count is checked for
underflow as CONFIG_DEBUG_PREEMPT does.

None of these is a point where another context can run: an interrupt that
comes "just before" local_irq_save is one that came at the caller's previous
yield.
"""


def _cost(k):
    return k.timing.cpus[k.current.cpu]


def local_irq_save(k):
    """local_irq_save - disable interrupts on this CPU; returns the old state."""
    cpu = k.current.cpu
    ex = k.cpu_exec[cpu]
    flags = ex.irqs_off
    ex.irqs_off = True
    t = k.timing                        # (_cost(k), written out: the locked layer's hot path)
    t.irq_flags(t.cpus[cpu], False)
    return flags


def local_irq_restore(k, flags):
    """local_irq_restore - put back the state local_irq_save returned."""
    cpu = k.current.cpu
    k.cpu_exec[cpu].irqs_off = flags
    t = k.timing
    t.irq_flags(t.cpus[cpu], True)


def local_irq_disable(k):
    k.cpu_exec[k.current.cpu].irqs_off = True
    k.timing.irq_flags(_cost(k), restore=False)


def local_irq_enable(k):
    k.cpu_exec[k.current.cpu].irqs_off = False
    k.timing.irq_flags(_cost(k), restore=True)


def preempt_disable(k):
    k.cpu_exec[k.current.cpu].preempt += 1


def preempt_enable(k):
    ex = k.cpu_exec[k.current.cpu]
    if ex.preempt == 0 and k.WARN(True, "BUG: preempt count underflow", depth=2):
        return                          # (WARN only when it fires: no call otherwise)
    ex.preempt -= 1


def barrier():
    """barrier - a compiler barrier.  A no-op: Python does not reorder."""


def smp_mb():
    """smp_mb - a full memory barrier.  A no-op: the interleavings kmodel
    explores are sequentially consistent (every step sees every earlier one),
    so no reordering exists for a barrier to forbid.  It stays in the code to
    mark where the C needs one."""


smp_rmb = smp_wmb = smp_mb
