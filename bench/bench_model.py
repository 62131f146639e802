"""The cache model against this host (issue: modeled cost you can trust).

`kmodel machine probe` writes a preset for this host, with one core's memmove
bandwidth measured over working sets in the L2, in the LLC and beyond it.
This benchmark probes, boots the preset, asks the model what copies of those
working sets cost (``TimingModel.stream_cost``), measures the same memmoves
again in the same run, and reports measured / predicted.  Goal: within 30%
(a ratio in 0.77..1.3).  It is a benchmark, not a test: the machine is shared.
"""
import pytest

from hw.probe import memmove_gbps, preset_toml, probe
from hw.topology import parse_machine

_PRESET = {}


@pytest.fixture(scope="module")
def host():
    p = probe()
    spec = parse_machine(preset_toml(p), source="probed host")
    _PRESET["spec"] = spec
    return p, spec


@pytest.mark.parametrize("where", ["L2", "LLC", "DRAM"])
def test_model_predicts_memmove(benchmark, record_goal, host, where):
    from hw.timing import TimingModel
    p, spec = host
    kib = p["caches"]
    ws = {"L2": kib["L2"] << 9, "LLC": kib["LLC"] << 9,
          "DRAM": max(kib["LLC"] << 12, 64 << 20)}[where]
    tm = TimingModel(spec)
    nbytes = 1 << 20
    cycles, served = tm.stream_cost(0, 0, nbytes, ws)
    predicted = nbytes * spec.timing.cpu_ghz / cycles
    benchmark.group = "model vs this host's memmove"
    measured = benchmark.pedantic(lambda: memmove_gbps(ws, 0.1), rounds=3, iterations=1)
    ratio = measured / predicted
    benchmark.extra_info.update(predicted_gbps=predicted, measured_gbps=measured,
                                served=served)
    print(f"\n{where} working set {ws >> 10} KiB: model {predicted:.1f} GB/s ({served}), "
          f"memmove now {measured:.1f} GB/s, measured / predicted {ratio:.2f}")
    record_goal(f"memmove over a {where}-sized working set, measured / model", max(
        ratio, 1 / ratio), 1.3, "x")
