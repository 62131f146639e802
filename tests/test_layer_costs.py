"""Modeled cost of the locking layers: deterministic figures, so asserted here
(kmodel/perf/layer_workloads.py; the benchmarks print the full table)."""
import pytest

from kmodel.perf.layer_workloads import modeled_cost_per_event, spread_cpus
from kmodel.kernel import boot

M = "epyc-rome-nps4"


@pytest.mark.parametrize("layer", ["locked", "lockless"])
def test_per_cpu_buffers_stay_flat_and_a_global_one_grows_with_writers(layer):
    per_cpu = [modeled_cost_per_event(M, layer, "pagelist", "per-cpu", w, events=4)
               for w in (1, 8, 64)]
    glob = [modeled_cost_per_event(M, layer, "pagelist", "global", w, events=4)
            for w in (1, 8, 64)]
    assert per_cpu[0] == per_cpu[1] == per_cpu[2]
    assert per_cpu[2]["line_transfers"] == 0
    assert glob[0]["cycles"] < glob[1]["cycles"] < glob[2]["cycles"]
    assert glob[0]["line_transfers"] == 0 < glob[1]["line_transfers"]


def test_the_locked_layer_pays_for_irq_flags_and_the_lock():
    locked = modeled_cost_per_event(M, "locked", "pagelist", "per-cpu", 1, events=4)
    lockless = modeled_cost_per_event(M, "lockless", "pagelist", "per-cpu", 1, events=4)
    assert locked["irq_flag_ops"] == 2 and lockless["irq_flag_ops"] == 0
    assert locked["cycles"] > lockless["cycles"]


def test_the_figures_do_not_move():
    a = modeled_cost_per_event(M, "lockless", "vmap", "global", 16, events=2)
    assert a == modeled_cost_per_event(M, "lockless", "vmap", "global", 16, events=2)


def test_writers_are_spread_over_nodes():
    k = boot(M)
    try:
        assert spread_cpus(k, 10) == [0, 8, 16, 24, 32, 40, 48, 56, 1, 9]
    finally:
        k.shutdown()


def test_the_table_in_layers_md_is_what_the_model_gives():
    """docs/layers.md's "What it costs" table, row by row, from the model
    (it drifted by a few cycles once when the model changed)."""
    import pathlib
    import re
    text = (pathlib.Path(__file__).parent.parent / "docs" / "layers.md").read_text()
    rows = re.findall(r"^\| (\d+) \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \| ([\d,]+) \|$", text, re.M)
    assert [int(r[0]) for r in rows] == [1, 2, 8, 64]
    for writers, *cells in rows:
        got = [round(modeled_cost_per_event("epyc-rome-nps4", layer, "pagelist", scope,
                                            int(writers), events=8)["cycles"])
               for layer in ("locked", "lockless") for scope in ("per-cpu", "global")]
        assert [int(c.replace(",", "")) for c in cells] == got, writers
