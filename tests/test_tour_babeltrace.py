"""The tour's babeltrace2 view (step 13) is what babeltrace2 prints.

The tour shows babeltrace2's warning for the packets an overwriting writer
took from under a slow consumer, in a ```text block (test_tour runs only
kmodel commands).  This test records the same trace with the tour's own
command and runs babeltrace2 on it, where babeltrace2 is installed: every
WARNING line of the block must be among babeltrace2's, and no other packet
loss may be reported.
"""
import re
import shutil
import subprocess

import pytest

from tourdoc import PRIVATE_TMP, TOUR, run_command

pytestmark = pytest.mark.skipif(shutil.which("babeltrace2") is None,
                                reason="babeltrace2 is not installed")


def tour_block():
    """(the kmodel trace record command, the babeltrace2 line, the WARNING lines)."""
    text = TOUR.read_text()
    m = re.search(r"```text\n\$ (babeltrace2 (\S+)[^\n]*)\n(.*?)```", text, re.S)
    assert m, "the tour has no babeltrace2 block"
    trace_dir = m.group(2)
    record = re.search(rf"^\$ (kmodel trace record {re.escape(trace_dir)} [^\n]*)$", text, re.M)
    assert record, f"the tour records no trace in {trace_dir}"
    warnings = [line for line in m.group(3).splitlines() if line.startswith("WARNING")]
    assert warnings
    return record.group(1), trace_dir, warnings


def test_babeltrace2_reports_the_overwritten_packets_the_tour_shows():
    record, trace_dir, want = tour_block()
    run_command(record)
    real = trace_dir.replace("/tmp/", PRIVATE_TMP + "/")
    p = subprocess.run(["babeltrace2", real], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    got = [line.replace(PRIVATE_TMP + "/", "/tmp/") for line in p.stderr.splitlines()
           if line.startswith("WARNING")]
    assert got == want
    assert p.stdout.count("\n") > 100                  # and the events themselves
