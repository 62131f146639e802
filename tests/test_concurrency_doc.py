"""docs/concurrency.md's commands print what the page says they print."""
import os

import pytest

from tourdoc import CONCURRENCY, blocks, regenerate, run_command

if os.environ.get("KMODEL_UPDATE_TRANSCRIPTS") == "1":
    regenerate(CONCURRENCY)

CASES = [(cmd, want) for _, _, cmds in blocks(CONCURRENCY.read_text()) for cmd, want in cmds]


def test_the_page_shows_each_strategy_and_replay():
    used = " ".join(c for c, _ in CASES)
    for what in ("--strategy exhaustive", "--strategy pct", "--replay", "quiz interleave",
                 "builtin:irq-nesting"):
        assert what in used


@pytest.mark.parametrize("cmd, want", CASES, ids=[c for c, _ in CASES])
def test_concurrency_command(cmd, want):
    assert run_command(cmd) == want
