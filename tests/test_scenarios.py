"""Every built-in scenario passes and prints exactly its stored transcript."""
import io

import pytest

from kmodel.cli.run import run_text, scenario_names, scenario_text, scenario_title
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
