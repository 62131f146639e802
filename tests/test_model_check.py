"""kmodel machine check: the model beside its anchor figures; a row outside 25% fails."""
import io

from kmodel.cli.main import main
from kmodel.perf import anchors


def test_a_row_outside_the_tolerance_fails_the_check(monkeypatch):
    a = anchors.ANCHORS["nehalem-2009"][0]
    monkeypatch.setitem(anchors.ANCHORS, "nehalem-2009",
                        [a, anchors.Anchor(a.what, a.unit, a.figure * 1.5, a.kind, a.source,
                                           a.predict)])
    out = io.StringIO()
    assert main(["machine", "check", "nehalem-2009"], out=out) == 1
    text = out.getvalue()
    assert "-33%  OUTSIDE 25%" in text and "1 of 2 self-checks within 25%" in text


def test_inputs_are_self_checks_and_independent_figures_are_apart():
    """Every self-check's figure is one of the preset's inputs, and says so;
    the independent rows are counted on their own."""
    out = io.StringIO()
    assert main(["machine", "check", "nehalem-2009"], out=out) == 0
    text = out.getvalue()
    head, tail = text.split("Independent figures")
    assert "validate nothing" in head and "8 of 8 self-checks within 25%" in head
    assert "4 of 4 independent figures agree" in tail and "9283 MB/s" in tail
    assert "recorded in time" in tail
    assert all(a.kind != "independent" for a in anchors.ANCHORS["nehalem-2009"])
    assert all(a.kind.startswith("independent") for a in anchors.INDEPENDENT["nehalem-2009"])


def test_an_event_above_the_published_bound_fails(monkeypatch):
    """LTTng's 220 ns bounds the model's event from above: a model that
    charged more would fail the row."""
    a = anchors.LTTNG_EVENT
    slow = anchors.Anchor(a.what, a.unit, a.figure, a.kind, a.source,
                          lambda k: a.predict(k) + 300, bound=True)
    monkeypatch.setitem(anchors.INDEPENDENT, "xeon-2s-skylake", (slow,))
    out = io.StringIO()
    assert main(["machine", "check", "xeon-2s-skylake"], out=out) == 1
    assert "ABOVE IT" in out.getvalue() and "0 of 1 independent" in out.getvalue()


def test_presets_without_anchors_are_named(capsys):
    assert main(["machine", "check", "numa2"], out=io.StringIO()) == 2
    assert "presets with them: xeon-2s-skylake, nehalem-2009" in capsys.readouterr().err


def test_the_lock_prefix_figures_in_model_md_are_the_models():
    """docs/model.md states what the LOCK prefixes of one event cost in the
    model (per-CPU against a global buffer of one writer), beside LTTng's
    2006 measurement of the same change: the figures are the code's."""
    from pathlib import Path
    from kmodel.perf.layer_workloads import modeled_cost_per_event
    text = " ".join((Path(__file__).parent.parent / "docs" / "model.md").read_text().split())
    diff = {m: modeled_cost_per_event(m, "lockless", "pagelist", "global", 1)["cycles"] -
            modeled_cost_per_event(m, "lockless", "pagelist", "per-cpu", 1)["cycles"]
            for m in ("nehalem-2009", "xeon-2s-skylake")}
    assert all(d == int(d) for d in diff.values())
    assert (f"{int(diff['nehalem-2009'])} cycles on nehalem-2009 and "
            f"{int(diff['xeon-2s-skylake'])} on xeon-2s-skylake") in text


def test_the_128_byte_rows_model_a_128_byte_event():
    """ftrace's and perf's figures are for 128-byte events: the model's row
    copies 128 bytes, more than the 64-byte event's."""
    from kmodel.kernel import boot
    k = boot("xeon-2s-skylake")
    try:
        assert anchors.FTRACE_EVENT.predict(k) > anchors.LTTNG_EVENT.predict(k)
    finally:
        k.shutdown()
