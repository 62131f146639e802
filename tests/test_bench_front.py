"""kmodel bench --quick runs the whole suite once (the suite works; no timing asserted)."""
import json
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    r = subprocess.run([sys.executable, "-m", "kmodel", "bench", "--quick", "--machine",
                        "numa2", "--machine", "nehalem-2009", "--json", str(d / "b.json"),
                        "--markdown", str(d / "b.md")], capture_output=True, text=True,
                       timeout=300)
    return r, json.loads((d / "b.json").read_text()), (d / "b.md").read_text()


def test_quick_bench_reports_tables_and_goals(quick):
    r, doc, md = quick
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for words in ("Sequential writes, host time", "Sequential reads", "Random 64 B accesses",
                  "Modeled cycles per call, numa2", "Modeled cycles per call, nehalem-2009",
                  "How close the relay comes to a bare copy",
                  "pagelist 64 B writes <= 1.35x floor", "vmap 64 KiB writes <= 2x floor",
                  "pagelist 64 KiB bandwidth >= 0.7x vmap's"):
        assert words in out
    assert "[1/" in r.stderr                      # the progress line
    assert md.startswith("# kmodel bench report") and "How close the relay comes" in md
    assert len(doc["goals"]) == 6 and doc["machines"] == ["numa2", "nehalem-2009"]
    # the layers' and the scheduler's goals, each against its floor in the run
    from kmodel.perf.step_goals import GOALS
    assert [g["goal"] for g in doc["step_goals"]] == [g[0] for g in GOALS.values()]
    assert all(g["measured"] > 0 and g["met"] == (g["measured"] <= g["limit"]
                                                  if g["better"] == "lower" else
                                                  g["measured"] >= g["limit"])
               for g in doc["step_goals"])
    assert "Layers and scheduler: host time" in out and "trace record per event" in out


def test_quick_bench_modeled_figures_tell_the_designs_apart(quick):
    _, doc, _ = quick
    rows = {(r["case"], r["design"], r["machine"], r["size"]): r for r in doc["results"]}
    neh = {d: rows[("model-seq-write", d, "nehalem-2009", 4096)]
           for d in ("pagelist", "vmap", "vmap-opener")}
    # mainline placement: the far writer's bytes are remote; node-local: none
    assert neh["vmap-opener"]["bytes_remote"] == 256 * 4096
    assert neh["pagelist"]["bytes_remote"] == neh["vmap"]["bytes_remote"] == 0
    # lazy sync: the benchmark's vmap areas land in the top-level page-table
    # slot the boot populated, which every address space has: no fault
    vm = {(kind, d): rows[(f"model-seq-{kind}", d, "nehalem-2009", 4096)]["vmalloc_faults"]
          for kind in ("write", "read") for d in ("pagelist", "vmap")}
    assert vm == {("write", "pagelist"): 0, ("write", "vmap"): 0,
                  ("read", "pagelist"): 0, ("read", "vmap"): 0}
    # random access walks the list; the contiguous area does not
    rnd = {d: rows[("random-write-64", d, "numa2", 64)] for d in ("pagelist", "vmap")}
    assert rnd["pagelist"]["walk_steps"] > 0 and rnd["vmap"]["walk_steps"] == 0


def test_bad_machine_is_a_clear_error():
    r = subprocess.run([sys.executable, "-m", "kmodel", "bench", "--quick", "--machine",
                        "nope"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown machine preset 'nope'" in r.stderr


def test_plot_draws_or_says_how_to_install(tmp_path):
    png = tmp_path / "p.png"
    r = subprocess.run([sys.executable, "-m", "kmodel", "bench", "--quick", "--machine",
                        "numa2", "--plot", str(png)], capture_output=True, text=True)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert r.returncode == 2 and "pip install 'kmodel[plot]'" in r.stderr
        assert not png.exists()
        return
    assert r.returncode == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_renders_pytest_benchmark_json(tmp_path):
    from kmodel.perf.report import render
    doc = {"datetime": "2026-11-26", "machine_info": {"node": "h", "python_version": "3.11"},
           "benchmarks": [
               {"name": "test_write[floor]", "group": "g", "stats": {"median": 1e-7, "iqr": 1e-9},
                "extra_info": {}},
               {"name": "test_write[pagelist]", "group": "g",
                "stats": {"median": 2e-7, "iqr": 2e-9},
                "extra_info": {"cycles_per_call": 189.0, "goal:x": {
                    "measured": 2.0, "limit": 1.3, "unit": "x", "met": False}}}]}
    md = render(doc)
    assert "| test_write[pagelist] | 200 ns | 2 ns | 2.00x | cycles_per_call=189 |" in md
    assert "- [MISSED] x: 2 x (limit 1.3)" in md


def test_modeled_figures_do_not_depend_on_the_sizes_run_before():
    """--quick runs fewer sizes than a full run; the sizes they share must give
    the same modeled figures (the TLB's state and the cache pointers would
    carry over from one size to the next if buffers were shared)."""
    from kmodel.cli.bench import model_suite
    alone = model_suite("nehalem-2009", [4096])
    after = [r for r in model_suite("nehalem-2009", [64, 4096]) if r["size"] == 4096]
    assert alone == after and any(r["tlb_misses_4K"] for r in alone)


def test_a_busy_host_is_said_to_be_busy():
    """A relay write measured faster than the bare copy under it, or a spread
    wider than a quarter of the median, means the host was busy: the report
    says so; a quiet run says nothing."""
    from kmodel.cli.bench import host_warnings

    def row(design, ns, iqr, case="seq-write", size=64):
        return {"case": case, "size": size, "design": design, "ns": ns, "iqr": iqr}
    quiet = [row("floor", 100, 5), row("pagelist", 150, 10)]
    assert host_warnings(quiet) == []
    below = [row("floor", 100, 5), row("pagelist", 54, 5)]
    text = " ".join(" ".join(host_warnings(below)).split())
    assert "below the floor" in text and "write 64 B pagelist (0.54x)" in text
    wide = [row("floor", 100, 5), row("pagelist", 150, 40)]
    text = " ".join(" ".join(host_warnings(wide)).split())
    assert "spread (IQR) over 25%" in text and "write 64 B pagelist (27%)" in text
    assert "not to be trusted" in text
