"""The scheduler keeps the set of enabled contexts across a step that was a
plain access (kmodel.cpu.sched.PLAIN) while every live context has started
and none waits, instead of recomputing it.  Here every run recomputes it
anyway (VERIFY_ENABLED) and fails if the kept set differs, over the built-in
races, the layers' scenarios and the lap scenarios, under random, PCT and
exhaustive search.  (Mutations of the rule, each caught here: an interrupt
still to come, or a context that waits, not unsettling the set.)"""
import pytest

import kmodel.cpu.sched as sched
from kmodel.cpu.explore import explore
from kmodel.kernel import boot
from kmodel.scenarios.layer_laps import LAP_SCENARIOS, make_lap_scenario
from kmodel.scenarios.layer_races import LAYER_RACES, make_layer_race
from kmodel.scenarios.races import get_race, race_names


@pytest.fixture(autouse=True)
def verify(monkeypatch):
    monkeypatch.setattr(sched, "VERIFY_ENABLED", True)


@pytest.fixture(scope="module")
def k():
    with boot("numa2") as k:
        k.modules.insmod("ltt_relay_alloc")
        yield k


@pytest.mark.parametrize("strategy", ["random", "pct", "exhaustive"])
@pytest.mark.parametrize("name", race_names())
def test_the_races(k, name, strategy):
    setup, check = get_race(name)
    if name.startswith("vmalloc-nmi"):          # lazily synced vmalloc mappings, a
        explore(setup, check, strategy=strategy, runs=20, seed=3,   # new kernel a run
                kernel=lambda: boot("nehalem-2009"))
        return
    explore(setup, check, strategy=strategy, runs=60, seed=3, kernel=k)


@pytest.mark.parametrize("name", list(LAYER_RACES) + list(LAP_SCENARIOS))
def test_the_layer_scenarios(k, name):
    sc = make_layer_race(name) or make_lap_scenario(name)
    try:
        for strategy in ("random", "pct"):
            explore(sc.setup, sc.check, strategy=strategy, runs=15, seed=5, kernel=k)
    finally:
        sc.close()



def irq_flag_between_accesses(w):
    """Interrupts go off and on again in plain code between two accesses (as
    spin_lock_irqsave's local_irq_save runs before the lock's own step)."""
    from kmodel.core.atomic import READ_ONCE
    from kmodel.core.irqflags import local_irq_restore, local_irq_save
    yield from READ_ONCE(w)
    flags = local_irq_save(w.k)
    yield from READ_ONCE(w)
    yield from READ_ONCE(w)
    local_irq_restore(w.k, flags)
    yield from READ_ONCE(w)


def test_an_interrupt_still_to_come_unsettles_the_set(k):
    from kmodel.core.atomic import READ_ONCE, plain_long

    def irq(w):
        yield from READ_ONCE(w)

    def setup(world):
        w = plain_long(world.k, name="w")
        world.task(0, irq_flag_between_accesses, w)
        world.task(1, irq, w)
        world.irq(0, irq, w)
        return w
    explore(setup, None, strategy="exhaustive", runs=500, bound=3, kernel=k)
