"""kmodel explore stops cleanly on SIGINT and SIGTERM: what it searched so
far, no process left, exit 130 or 143.  A real process and a timeout, since
this is about signal handling (the interleavings themselves are tested by
the deterministic explorer)."""
import os
import re
import selectors
import signal
import subprocess
import sys
import time

import pytest

from kmodel.cli.signals import StopSignals, Terminated

ARGV = [sys.executable, "-m", "kmodel", "explore", "builtin:rb-conformance",
        "--strategy", "exhaustive", "--runs", "100000"]


def first_line(proc, timeout=60):
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    assert sel.select(timeout), "no first line"
    return proc.stdout.readline()


@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_explore_stops_cleanly_on_a_signal(sig, status):
    proc = subprocess.Popen(ARGV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        head = first_line(proc)
        assert head == "explore builtin:rb-conformance: exhaustive, preemption bound 2\n"
        time.sleep(0.3)                 # into the search
        proc.send_signal(sig)
        t = time.monotonic()
        out, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - t
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == status, (out, err)
    assert elapsed < 1.0, elapsed
    name = signal.Signals(sig).name
    m = re.fullmatch(rf"interrupted by {name} after ([\d,]+) runs \(([\d,]+) steps, "
                     r"([\d,]+) distinct interleavings\); no failure in them\n", out)
    assert m, out
    assert int(m.group(1).replace(",", "")) > 0
    assert err == ""
    with pytest.raises(ProcessLookupError):   # nothing of its session is left
        os.killpg(proc.pid, 0)


def test_the_handlers_are_put_back_and_a_second_signal_stops_at_once():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated):
        with StopSignals() as stop:
            assert signal.getsignal(signal.SIGTERM) is not before
            os.kill(os.getpid(), signal.SIGTERM)
            assert stop.requested() and stop.name == "SIGTERM" and stop.exit_status == 143
            os.kill(os.getpid(), signal.SIGTERM)        # a second one: now
    assert signal.getsignal(signal.SIGTERM) is before
