"""LTTng's lttng-crash and babeltrace2 on a pmem region, beside kmodel crash
extract: shared by tests/test_lttng_crash.py and tests/test_pmem_table.py."""
import shutil
import subprocess

import pytest

from kmodel.cli.main import main

needs_tools = pytest.mark.skipif(
    shutil.which("lttng-crash") is None or shutil.which("babeltrace2") is None,
    reason="lttng-crash or babeltrace2 is not installed (Debian: apt-get install "
           "lttng-tools babeltrace2)")


def events(path):
    """babeltrace2's lines for the trace at path."""
    r = subprocess.run(["babeltrace2", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.splitlines()


def both(region, tmp_path, mode, capsys):
    """(lttng-crash's events, kmodel crash extract's events) of a region."""
    assert main(["crash", "export", str(region), "-o", str(tmp_path / "shm"),
                 "--mode", mode]) == 0
    r = subprocess.run(["lttng-crash", f"--extract={tmp_path / 'lttng'}",
                        str(tmp_path / "shm")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert main(["crash", "extract", str(region), "-o", str(tmp_path / "kmodel")]) == 0
    capsys.readouterr()
    return events(tmp_path / "lttng"), events(tmp_path / "kmodel")
