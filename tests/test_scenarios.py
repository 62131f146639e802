"""Every built-in scenario passes and prints exactly its stored transcript."""
import io

import pytest

from kmodel.cli.run import run_text, scenario_names, scenario_text
from kmodel.cli.scenarios_cmd import scenario_title
from transcript import check

REQUIRED = {"cpu-online-gets-buffer", "alloc-fails-at-up-prepare", "error-inject-down-prepare",
            "suspend-resume", "read-after-cpu-death", "node-out-of-memory", "storm"}


def test_the_library_has_every_lesson_and_one_scenario_per_erratum():
    names = set(scenario_names())
    assert REQUIRED <= names
    errata = {n.split("-")[1] for n in names if n.startswith("errata-")}
    assert errata == {"e1", "e2", "e3", "e4", "e5", "e6"}
    for n in names:
        assert scenario_title(scenario_text(n)), f"{n} has no title comment"


@pytest.mark.parametrize("name", scenario_names())
def test_scenario_transcript(name):
    out = io.StringIO()
    rc = run_text(scenario_text(name), out, name=f"builtin:{name}")
    assert rc == 0, out.getvalue()[-2000:]
    check(f"{name}.out", out.getvalue())


def test_a_missing_transcript_fails_unless_asked_to_write_it(tmp_path, monkeypatch):
    import transcript
    monkeypatch.setattr(transcript, "HERE", tmp_path)
    monkeypatch.delenv("KMODEL_UPDATE_TRANSCRIPTS", raising=False)
    for ci in ("true", None):
        if ci:
            monkeypatch.setenv("CI", ci)
        else:
            monkeypatch.delenv("CI", raising=False)
        with pytest.raises(AssertionError, match="missing stored transcript"):
            check("new.out", "text\n")
        assert not (tmp_path / "new.out").exists()
    monkeypatch.setenv("KMODEL_UPDATE_TRANSCRIPTS", "1")
    check("new.out", "text\n")
    monkeypatch.delenv("KMODEL_UPDATE_TRANSCRIPTS")
    check("new.out", "text\n")
    with pytest.raises(AssertionError, match="differs"):
        check("new.out", "other\n")
