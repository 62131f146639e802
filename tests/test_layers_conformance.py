"""Every backend x locking layer x mode (x scope) passes the same conformance
scenario (tests/layer_suite.py), its invariants checked after every step of
explored interleavings."""
import pytest

from kmodel.cpu.explore import explore
from kmodel.kernel import boot
from kmodel.relay.backend import backend_names
from kmodel.relay.ring_buffer import layer_names
from kmodel.scenarios.layer_races import LayerScenario

BACKENDS = ["pagelist", "vmap", "static", "pmem"]


@pytest.fixture(scope="module")
def k():
    k = boot(cmdline="reserve_mem=8M:4096:trace")   # for the pmem backend
    k.modules.insmod("ltt_relay_alloc")
    yield k
    k.shutdown()


def test_every_layer_and_backend_is_here():
    assert set(layer_names()) == {"locked", "lockless"}
    assert set(BACKENDS) <= set(backend_names())


@pytest.mark.parametrize("scope", ["per-cpu", "global"])
@pytest.mark.parametrize("mode", ["discard", "overwrite"])
@pytest.mark.parametrize("layer", ["locked", "lockless"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_conformance(k, backend, layer, mode, scope):
    sc = LayerScenario(backend, layer, mode, scope)
    for strategy in ("random", "pct"):
        res = explore(sc.setup, sc.check, strategy=strategy, runs=12, seed=1, kernel=k)
        assert res.ok, (res.failure.message, res.failure.token)
    sc.close()
    assert k.leaks() == {}
