"""The layers' conformance suite, for any backend x layer x mode x scope: the
scenario of kmodel/scenarios/layer_races.py (writers in tasks and interrupts,
a reader, its invariants after every step), or the lap scenario of
kmodel/scenarios/layer_laps.py (a reader that polls while the writers go round
the buffer), explored under random and PCT schedules on a kernel with a pmem
region (for the pmem backend)."""
from contextlib import contextmanager

from kmodel.cpu.explore import explore
from kmodel.kernel import boot
from kmodel.scenarios.layer_races import LayerScenario

BACKENDS = ["pagelist", "vmap", "static", "pmem"]


@contextmanager
def layer_kernel():
    """A kernel with the relay loaded and an 8 MiB reserve_mem region."""
    k = boot(cmdline="reserve_mem=8M:4096:trace")
    k.modules.insmod("ltt_relay_alloc")
    try:
        yield k
    finally:
        k.shutdown()


def conform(k, backend, layer, mode, scope, runs=12, seed=1, scenario=LayerScenario, era=None):
    """Explore the scenario (LayerScenario, or another of its kind); assert
    every run keeps the invariants and the channel leaves nothing allocated.
    Returns the scenario (for its buffers).  era: kmodel.relay.rb_config.Era
    (None: the default; pmem's overwrite channels run 2009 whatever)."""
    sc = scenario(backend, layer, mode, scope, era=era) if era else \
        scenario(backend, layer, mode, scope)
    for strategy in ("random", "pct"):
        res = explore(sc.setup, sc.check, strategy=strategy, runs=runs, seed=seed, kernel=k)
        assert res.ok, (res.failure.message, res.failure.token)
    sc.close()
    assert k.leaks() == {}
    return sc
