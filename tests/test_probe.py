"""kmodel machine probe: a preset for this host, read from /sys (a fake tree
here, so the test knows the answer) and checked by loading it."""
import pytest

import hw.probe as probe_mod
from hw.topology import parse_machine


@pytest.fixture
def fake_sys(tmp_path, monkeypatch):
    node = tmp_path / "node"
    for n, cpus, kb, dist in ((0, "0-3", 8 << 20, "10 21"), (1, "4-7", 8 << 20, "21 10")):
        d = node / f"node{n}"
        d.mkdir(parents=True)
        (d / "cpulist").write_text(cpus + "\n")
        (d / "meminfo").write_text(f"Node {n} MemTotal:       {kb} kB\nNode {n} MemFree: 1 kB\n")
        (d / "distance").write_text(dist + "\n")
    cache = tmp_path / "cache"
    for i, (level, kind, size) in enumerate(((1, "Data", "48K"), (1, "Instruction", "32K"),
                                             (2, "Unified", "1024K"), (3, "Unified", "32M"))):
        d = cache / f"index{i}"
        d.mkdir(parents=True)
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(kind + "\n")
        (d / "size").write_text(size + "\n")
    monkeypatch.setattr(probe_mod, "SYS_NODE", str(node))
    monkeypatch.setattr(probe_mod, "SYS_CACHE", str(cache))


def test_topology_and_caches_come_from_sys(fake_sys):
    nodes, dist = probe_mod.topology()
    assert nodes == [([0, 1, 2, 3], 8 << 30), ([4, 5, 6, 7], 8 << 30)]
    assert dist == [[10, 21], [21, 10]]
    assert probe_mod.caches() == {"L1": 48, "L2": 1024, "LLC": 32768}


def test_the_probed_preset_loads_and_says_what_was_measured(fake_sys):
    p = {"nodes": probe_mod.topology()[0], "distance": probe_mod.topology()[1],
         "caches": probe_mod.caches(), "ghz": 2.5, "host": "h", "when": "today",
         "gbps": {"L2": 100.0, "LLC": 50.0, "DRAM": 15.0}}
    text = probe_mod.preset_toml(p)
    spec = parse_machine(text, source="probed")
    t = spec.timing
    assert spec.nr_nodes == 2 and spec.cpu_node[5] == 1
    assert t.cache_kib == {"L1": 48, "L2": 1024, "LLC": 32768}
    assert t.stream_gbps["L2"] == 100.0 and t.stream_gbps[10] == 15.0
    assert t.stream_gbps[21] == round(15.0 * 10 / 21, 1)          # scaled by SLIT
    assert "measured: memmove" in text and "estimate" in text


def test_memmove_is_measured_on_this_host():
    """Only that it measures something: a bandwidth is a positive number (no
    timing is asserted; bench/bench_model.py compares it with the model)."""
    assert probe_mod.memmove_gbps(1 << 20, seconds=0.01) > 0
