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
    assert "-33%  OUTSIDE 25%" in text and "1 of 2 within 25%" in text


def test_presets_without_anchors_are_named(capsys):
    assert main(["machine", "check", "numa2"], out=io.StringIO()) == 2
    assert "presets with them: xeon-2s-skylake, nehalem-2009" in capsys.readouterr().err
