"""The per-CPU nesting count of records (lib_ring_buffer_get_cpu: 4 levels),
and the locked layer's 2009 rule: a record from a context that would
deadlock on the buffer's lock is counted lost, not an oops."""
import pytest

from kmodel.core.errno import EPERM
from kmodel.cpu.context import HARDIRQ, NMI, SOFTIRQ, TASK, context_enter, context_exit
from kmodel.cpu.explore import explore
from kmodel.relay.layer_channel import ring_buffer_close, ring_buffer_open
from kmodel.relay.rb_config import Era
from kmodel.relay.ring_buffer import RING_BUFFER_MAX_NESTING
from kmodel.scenarios.layer_races import LayerScenario


@pytest.fixture
def two(k):
    k.modules.insmod("ltt_relay_alloc")
    out = []
    for name in ("a", "b"):
        rbc, err = ring_buffer_open(k, name, 4096, 4, "pagelist", "local", "lockless",
                                    "discard", "per-cpu")
        assert rbc is not None, err
        out.append(rbc)
    yield out
    for rbc, name in zip(out, ("a", "b")):
        ring_buffer_close(rbc, name)


def test_the_nesting_count_is_per_cpu_across_channels(k, two):
    """A task, a softirq and two hardirqs nest on CPU 0, each with a record of
    channel a reserved and not yet committed (as an interrupted stack has
    them); an NMI on top writes to channel b: the fifth nested record is
    refused (-EPERM), counted in b's events_lost, with one warning.  On CPU
    1 the same write goes in.  Once the others commit, CPU 0 writes again."""
    a, b = two
    ra, rb0, rb1 = a.buf_for(0), b.buf_for(0), b.buf_for(1)
    held = []
    with k.on_cpu(0):
        for kind in (TASK, SOFTIRQ, HARDIRQ, HARDIRQ):
            ctx = context_enter(k, 0, kind, f"{kind}{len(held)}")
            held.append((ctx, a.layer.reserve__straight(ra, 8)))
        assert all(slot > 0 for _, (slot, _, _) in held)
        nmi = context_enter(k, 0, NMI, "nmi")
        assert b.layer.write__straight(rb0, b"x" * 8) == -EPERM
        assert b.layer.write__straight(rb0, b"x" * 8) == -EPERM
        assert rb0.events_lost.counter == 2 and rb0.book.produced == 2
        assert k.log.text().count("records nested on this CPU") == 1   # WARN_ON_ONCE
        context_exit(k, nmi)
    with k.on_cpu(1):
        assert b.layer.write__straight(rb1, b"x" * 8) > 0
    with k.on_cpu(0):
        for ctx, (slot, tsc, token) in reversed(held):
            a.layer.commit__straight(ra, slot, tsc, b"y" * 8, 0, token)
            context_exit(k, ctx)
        nmi = context_enter(k, 0, NMI, "nmi")
        assert b.layer.write__straight(rb0, b"x" * 8) > 0
        context_exit(k, nmi)


class LockedNmi(LayerScenario):
    """A task writes a locked-layer buffer; an NMI on its CPU writes too.  The
    NMI can come while the task holds the lock (irqs off do not stop it)."""

    def __init__(self, era=Era.V2):
        super().__init__("pagelist", "locked", "discard",
                         writers=[(0, TASK, 4, 100), (0, NMI, 2, 100)], reader_cpu=None,
                         era=era)
        self.lost_max = 0

    def check(self, state, final):
        for rb in self.rbc.bufs.values():
            self.lost_max = max(self.lost_max, rb.events_lost.counter)
        return super().check(state, final)


def test_an_nmi_on_the_locks_holder_loses_its_record_not_the_machine(k):
    k.modules.insmod("ltt_relay_alloc")
    sc = LockedNmi()
    res = explore(sc.setup, sc.check, strategy="random", runs=40, seed=0, kernel=k)
    sc.close()
    assert res.ok, res.failure and res.failure.message     # no deadlock oops; accounted
    assert sc.lost_max > 0                                  # the window was reached
