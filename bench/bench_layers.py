"""The locking layers (issue: locking layers).

- Host time per 64 B event through each layer's straight form on each
  backend, against the raw ltt_relay_write of the same 64 bytes, in the same
  run (the goals are bench_steps.py's, issue 25's: kmodel/perf/step_goals.py).
- Modeled cycles per event, layer x backend, per-CPU against global buffers,
  1 to 64 writer CPUs on epyc-rome-nps4 (in extra_info, and printed).
"""
import pytest

from kmodel.kernel import boot
from kmodel.perf.layer_workloads import EVENT, modeled_cost_per_event, open_layer
from kmodel.perf.workloads import sequential
from kmodel.relay.relay_alloc import ltt_relay_write

BACKENDS = ["pagelist", "vmap", "static"]
N = 256
_RAW = {}


@pytest.fixture(scope="module")
def k():
    k = boot()
    k.modules.insmod("ltt_relay_alloc")
    k.set_cpu(0)
    yield k
    k.shutdown()


@pytest.mark.parametrize("backend", BACKENDS)
def test_raw_write_64B(benchmark, k, backend):
    rbc = open_layer(k, f"raw-{backend}", "lockless", backend, "per-cpu")
    # One stream around the ring, as the layer's records go (workloads.sequential
    # starts at the cache pointer: the patch's backward walks do not move it).
    stream, _ = sequential(ltt_relay_write, rbc.chan.buf[0], EVENT, N)

    def raw():
        stream()
        return N * EVENT
    benchmark.group = f"64 B event, {backend}"
    assert benchmark(raw) == N * EVENT
    if benchmark.stats:
        _RAW[backend] = benchmark.stats.stats.median


@pytest.mark.parametrize("layer", ["locked", "lockless"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_layer_write_64B(benchmark, k, backend, layer):
    rbc = open_layer(k, f"{layer}-{backend}", layer, backend, "per-cpu")
    rb = rbc.buf_for(0)
    write = rbc.layer.write__straight
    data = bytes(EVENT - 16)

    def events():
        return sum(write(rb, data) >= 0 for _ in range(N))
    benchmark.group = f"64 B event, {backend}"
    assert benchmark(events) == N                   # overwrite mode: none dropped
    if benchmark.stats and backend in _RAW:
        benchmark.extra_info["ratio_to_raw"] = benchmark.stats.stats.median / _RAW[backend]


@pytest.mark.parametrize("scope", ["per-cpu", "global"])
@pytest.mark.parametrize("layer", ["locked", "lockless"])
def test_modeled_cycles_by_writers(benchmark, layer, scope):
    def table():
        return {(backend, w): modeled_cost_per_event("epyc-rome-nps4", layer, backend, scope,
                                                     w, events=8)["cycles"]
                for backend in BACKENDS for w in (1, 2, 8, 16, 32, 64)}
    benchmark.group = "modeled cycles per event, epyc-rome-nps4"
    t = benchmark.pedantic(table, rounds=1, iterations=1)
    benchmark.extra_info["modeled_cycles"] = {f"{b}/{w}": c for (b, w), c in t.items()}
    print(f"\n{layer} {scope}: " + "; ".join(
        f"{b} " + " ".join(f"{w}w={t[(b, w)]:.0f}" for w in (1, 2, 8, 16, 32, 64))
        for b in BACKENDS))
