"""LTTng's lttng-crash and babeltrace2 on a pmem region, beside kmodel crash
extract: shared by tests/test_lttng_crash.py and tests/test_pmem_table.py."""
import re
import shutil
import subprocess

import pytest

from kmodel.cli.main import main

needs_tools = pytest.mark.skipif(
    shutil.which("lttng-crash") is None or shutil.which("babeltrace2") is None,
    reason="lttng-crash or babeltrace2 is not installed (Debian: apt-get install "
           "lttng-tools babeltrace2)")


# a line of babeltrace2's log: date, time, pid, tid, level (W, E or F), where
LOG_LINE = re.compile(r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d+ +\d+ +\d+ [WEF] ", re.M)


def warnings(stderr):
    """The log lines of babeltrace2's stderr: none on kmodel's traces but with
    kmodel's own record header (its payload_size, a header field with no
    meaning to CTF); the discarded-events and discarded-packets notices that
    losses cause are no log lines."""
    return [m.group(0) + stderr[m.end():].split("\n", 1)[0] for m in LOG_LINE.finditer(stderr)]


def events(path, quiet=True):
    """babeltrace2's lines for the trace at path; quiet: it logs no warning."""
    r = subprocess.run(["babeltrace2", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    if quiet:
        assert warnings(r.stderr) == [], r.stderr[-2000:]
    return r.stdout.splitlines()


def both(region, tmp_path, mode, capsys, quiet=True):
    """(lttng-crash's events, kmodel crash extract's events) of a region;
    quiet: babeltrace2 logs no warning on either (a region with LTTng's
    record header)."""
    assert main(["crash", "export", str(region), "-o", str(tmp_path / "shm"),
                 "--mode", mode]) == 0
    r = subprocess.run(["lttng-crash", f"--extract={tmp_path / 'lttng'}",
                        str(tmp_path / "shm")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert main(["crash", "extract", str(region), "-o", str(tmp_path / "kmodel")]) == 0
    capsys.readouterr()
    return events(tmp_path / "lttng", quiet), events(tmp_path / "kmodel", quiet)
