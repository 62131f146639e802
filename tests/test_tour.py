"""The tour's commands print what the tour says they print."""
import os

import pytest

from tourdoc import TOUR, blocks, fresh_tmp, regenerate, run_command

if os.environ.get("KMODEL_UPDATE_TRANSCRIPTS") == "1":
    regenerate()
    fresh_tmp()             # the tests run the commands again, on a clean /tmp

CASES = [(cmd, want) for _, _, cmds in blocks(TOUR.read_text()) for cmd, want in cmds]


def test_the_tour_has_commands():
    assert len(CASES) >= 15
    used = " ".join(c for c, _ in CASES)
    for verb in ("kmodel run", "kmodel draw", "kmodel explain", "kmodel quiz",
                 "kmodel machine show", "kmodel cat"):
        assert verb in used


@pytest.mark.parametrize("cmd, want", CASES, ids=[c for c, _ in CASES])
def test_tour_command(cmd, want):
    assert run_command(cmd) == want
