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
    assert "3 of 3 independent figures agree" in tail and "9283 MB/s" in tail
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
