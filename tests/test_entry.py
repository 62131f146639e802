"""The console script takes SIGINT and SIGTERM before it loads the emulator
(kmodel/cli/entry.py): a signal while Python imports kmodel or while argparse
reads the line is a stop like any other, one line and exit 130 or 143, never
a KeyboardInterrupt traceback or a death by signal."""
import signal
import subprocess
import sys

import pytest

# A child that runs the console script and sends itself SIG as soon as Python
# starts to import NAME: deterministically inside the window.
CHILD = """
import os, signal, sys
import kmodel.cli.entry as entry

class SignalOnImport:
    def find_spec(self, name, path=None, target=None):
        if name == {name!r}:
            os.kill(os.getpid(), signal.{sig})
        return None

sys.meta_path.insert(0, SignalOnImport())
sys.exit(entry.main(["machines"]))
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("name", ["kmodel.cli.main", "kmodel.kernel", "kmodel.cli.trace_cmd"])
def test_a_signal_while_kmodel_loads_is_a_clean_stop(sig, name):
    r = subprocess.run([sys.executable, "-c", CHILD.format(name=name, sig=sig)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 128 + getattr(signal, sig), r.stderr
    assert r.stderr == f"kmodel: stopped by {sig}\n" and r.stdout == ""


def test_the_console_script_and_python_m_run_the_entry():
    import tomllib
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"kmodel": "kmodel.cli.entry:main"}
    assert "from kmodel.cli.entry import main" in (root / "kmodel/__main__.py").read_text()


def test_the_entry_loads_nothing_of_kmodel_before_its_handlers():
    """import kmodel and kmodel.cli.entry load no other module of kmodel (the
    emulator is loaded after the handlers are in place), and the library's
    names still come from ``import kmodel``."""
    code = ("import sys, kmodel.cli.entry; "
            "print(sorted(m for m in sys.modules if m.startswith(('kmodel', 'hw'))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, check=True)
    assert r.stdout.strip() == "['kmodel', 'kmodel.cli', 'kmodel.cli.entry', 'kmodel.cli.signals']"
    r = subprocess.run([sys.executable, "-c", "import kmodel; print(kmodel.boot.__module__)"],
                       capture_output=True, text=True, timeout=60, check=True)
    assert r.stdout.strip() == "kmodel.api"


def test_the_job_gets_sigint_back_as_keyboardinterrupt():
    """Once the job runs, SIGINT is Python's again (its cleanup runs), and the
    early handler is back when it returns."""
    from kmodel.cli import signals
    old = signal.signal(signal.SIGINT, signals.early_stop)
    try:
        with signals.stop_on_sigterm():
            assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.getsignal(signal.SIGINT) is signals.early_stop
    finally:
        signal.signal(signal.SIGINT, old)


def test_the_entry_leaves_the_dead_kernels_garbage_to_the_host():
    """What a job leaves (a dead kernel's object graph, in cycles) is frozen,
    not collected at exit: a large recording's exit took 1.4 s of collection."""
    code = ("import gc, kmodel.cli.entry as e; rc = e.main(['machines']); "
            "print(rc, gc.get_freeze_count() > 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=60, check=True)
    assert r.stdout.splitlines()[-1] == "0 True"
