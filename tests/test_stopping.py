"""Stopping (hardening: bounded work, inputs, outputs, exit codes).

Rule 5: every long job (trace sizing, bench) stops cleanly on SIGINT and
SIGTERM: exit 130 and 143, saying what it had done; trace sizing's worker
processes and scratch directory are gone when it exits, and a worker that is
killed is exit 2, not an internal error.  Tested on real processes, with real
signals and timeouts.

Rule 6: in the shell, every command that repeats a step stops between two
steps when Ctrl-C asks it to (sh.interrupted), and Ctrl-D at the prompt
leaves, on a terminal and from a pipe.
"""
import io
import itertools
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from kmodel.cli.command import command_table
from kmodel.cli.shell import Shell
from kmodel.cli.shell_cmd import interactive


@pytest.fixture(autouse=True)
def no_hang(deadline):
    deadline(90, "it did not stop")


def children(pid):
    """The pids of pid's child processes (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def start(argv, tmp_path):
    """kmodel in a process of its own (a session of its own, as a job a
    shell starts), its temporary files under tmp_path/tmp, its stderr in a file."""
    (tmp_path / "tmp").mkdir()
    err = open(tmp_path / "err", "w")
    return subprocess.Popen([sys.executable, "-m", "kmodel", *argv], stdout=subprocess.PIPE,
                            stderr=err, text=True, start_new_session=True,
                            env=dict(os.environ, TMPDIR=str(tmp_path / "tmp"))), tmp_path / "err"


def wait_for(what, timeout=60):
    t = time.monotonic()
    while not what():
        assert time.monotonic() - t < timeout, "the job never got going"
        time.sleep(0.05)


def stop(p, how):
    """Send the signal as a user would: SIGINT from the terminal (to the whole
    process group, workers included), SIGTERM with kill PID (to kmodel alone).
    Returns (stdout, seconds until it exited)."""
    t = time.monotonic()
    if how == "SIGINT":
        os.killpg(p.pid, signal.SIGINT)
    else:
        p.send_signal(getattr(signal, how))
    out, _ = p.communicate(timeout=30)
    return out, time.monotonic() - t


SIZING = ["trace", "sizing", "--jobs", "2", "--events", "20000", "--subbuf-sizes", "4k",
          "--n-subbufs", "2,4,8", "--rates", "16"]


def sizing_started(tmp_path):
    scratch = [d for d in os.listdir(tmp_path / "tmp") if d.startswith("kmodel-sizing-")]
    return scratch and os.listdir(tmp_path / "tmp" / scratch[0])     # a point under way


SIZING_TIME = ["trace", "sizing", "--time", "200ms", "--event-rates", "2M", "--subbuf-sizes",
               "4k,8k,16k,32k", "--n-subbufs", "2,4", "--jobs", "2"]


@pytest.mark.parametrize("argv", [SIZING, SIZING_TIME], ids=["ticks", "time"])
@pytest.mark.parametrize("how,status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_trace_sizing_stops_on_a_signal_and_leaves_nothing(tmp_path, how, status, argv):
    out, err = stopped_cleanly(argv, tmp_path, how, status,
                               lambda p: sizing_started(tmp_path))
    assert f"stopped by {how}: " in out and f" of {3 if argv is SIZING else 8} points done" in out
    assert err.endswith(f"kmodel: stopped by {how}\n")
    assert os.listdir(tmp_path / "tmp") == []


def stopped_cleanly(argv, tmp_path, how, status, ready):
    """kmodel argv started, stopped by signal how once ready(process) says it
    runs: exit status, no traceback, within two seconds (a second, with room
    for a busy host), none of its workers left.  Returns (stdout, stderr)."""
    p, err = start(argv, tmp_path)
    try:
        wait_for(lambda: ready(p))
        workers = children(p.pid)
        out, took = stop(p, how)
    finally:
        p.kill()
        p.wait()
    said = err.read_text()
    assert p.returncode == status, said
    assert "Traceback" not in said
    assert took < 2
    assert [w for w in workers if os.path.exists(f"/proc/{w}")] == []
    return out, said


def test_trace_sizing_with_a_killed_worker_is_exit_2(tmp_path):
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: the points run in kmodel's own process")
    p, err = start(SIZING, tmp_path)
    try:
        wait_for(lambda: sizing_started(tmp_path) and len(children(p.pid)) >= 2)
        workers = children(p.pid)
        os.kill(workers[0], signal.SIGKILL)
        out, _ = p.communicate(timeout=30)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == 2
    assert err.read_text() == ("kmodel: error: trace sizing: a worker process was killed by "
                               "SIGKILL; 0 of 3 points done\n")
    assert [w for w in workers if os.path.exists(f"/proc/{w}")] == []
    assert os.listdir(tmp_path / "tmp") == []


@pytest.mark.parametrize("how,status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_bench_stops_on_a_signal_saying_how_far_it_got(tmp_path, how, status):
    p, err = start(["bench", "--quick", "--machine", "numa2", "--json",
                    str(tmp_path / "b.json")], tmp_path)
    try:
        wait_for(lambda: "[1/" in err.read_text())
        out, took = stop(p, how)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == status, err.read_text()
    said = err.read_text().splitlines()
    assert said[-2].startswith(f"kmodel bench: stopped by {how} after ")
    assert said[-2].endswith(" measurements; no report written")
    assert said[-1] == f"kmodel: stopped by {how}"
    assert took < 5 and out == "" and sorted(os.listdir(tmp_path)) == ["err", "tmp"]


# --- the shell ----------------------------------------------------------------------------
def interrupt_at(monkeypatch, sh, obj, name, nth=3):
    """Make obj.name set sh.interrupted on its nth call: Ctrl-C arriving
    during a step of the command, as kmodel shell's SIGINT handler sets it."""
    real = getattr(obj, name)
    calls = []

    def step(*a, **kw):
        calls.append(1)
        if len(calls) == nth:
            sh.interrupted = True
        return real(*a, **kw)
    monkeypatch.setattr(obj, name, step)
    return calls


def _relay(sh):
    sh.execute("insmod ltt_relay_alloc")
    sh.execute("relay open t subbuf_size=4k n_subbufs=2")
    sh.execute("relay open l subbuf_size=4k n_subbufs=4 layer=lockless mode=overwrite")


def _consume_ready(sh):
    _relay(sh)
    sh.execute("relay write l cpu=0 bytes=1000 count=40")


def _memhog_held(sh):
    sh.execute("memhog node=1 size=64m")


def step_of(name):
    """Where each long command makes its steps: (setup, the object and name of
    a function it calls once a step)."""
    import kmodel.cli.shell_relay as shell_relay
    from kmodel.relay.ring_buffer import rb_channel
    return {
        "storm": (lambda sh: None, lambda sh: (sh.k, "cpu_down")),
        "relay write": (_relay, lambda sh: (shell_relay, "ltt_relay_write")),
        "relay write (layer)": (_relay, lambda sh: (shell_relay.relay_state(sh).layers["l"]
                                                    .layer, "write__straight")),
        "relay consume": (_consume_ready, lambda sh: (rb_channel, "put_subbuf__straight")),
        "memhog": (lambda sh: None, lambda sh: (sh.k, "alloc_pages_node")),
        "memhog free": (_memhog_held, lambda sh: (sh.k, "__free_pages")),
    }[name]


LONG = {"storm": ("storm cpus=1-7 steps=50 seed=1", "of 50 (interrupted)"),
        "relay write": ("relay write t cpu=0 bytes=64 count=50", "(interrupted after 3 of 50)"),
        "relay write (layer)": ("relay write l cpu=0 bytes=64 count=50",
                                "(interrupted after 3 of 50)"),
        "relay consume": ("relay consume l cpu=0 count=3", "interrupted after"),
        "memhog": ("memhog node=1 size=64m", "(interrupted)"),
        "memhog free": ("memhog free", "(interrupted;")}


@pytest.mark.parametrize("name", LONG)
def test_every_long_shell_command_stops_between_two_steps(monkeypatch, name):
    sh = Shell()
    try:
        setup, where = step_of(name)
        setup(sh)
        calls = interrupt_at(monkeypatch, sh, *where(sh), nth=2 if name == "relay consume"
                             else 3)
        line, words = LONG[name]
        out = sh.execute(line)
        assert words in out, out
        assert len(calls) == (2 if name == "relay consume" else 3)     # not one step more
        sh.interrupted = False
        assert "interrupted" not in sh.execute("echo next")   # the next command runs whole
    finally:
        sh.close()


def test_every_shell_command_that_repeats_a_step_is_tried_above():
    """A command whose usage takes count= or steps= repeats a step: it must be
    in LONG (and so honour Ctrl-C)."""
    def verb(usage):            # the leading lower-case words: 'relay consume'
        return " ".join(itertools.takewhile(lambda w: w.isalpha() and w.islower(),
                                            usage.split()))
    repeating = {verb(part) for c in command_table().values() for line, _ in c.usage
                 for part in re.split(r" \| (?=[a-z]+ )", line)
                 if "count=" in part or "steps=" in part}
    assert repeating == {"relay write", "relay consume", "storm"}
    assert repeating <= {n.split(" (")[0] for n in LONG}, repeating


class FakeTty(io.StringIO):
    """Input that says it is a terminal: interactive() reads it line by line
    and shows the prompt, as on a terminal."""

    def isatty(self):
        return True


@pytest.mark.parametrize("tty", [True, False])
def test_ctrl_d_at_the_prompt_leaves_the_shell(tty):
    sh = Shell()
    try:
        out = io.StringIO()
        inp = (FakeTty if tty else io.StringIO)("echo one\n")
        assert interactive(sh, inp=inp, out=out) == 0       # then end of input: Ctrl-D
        text = out.getvalue()
        assert "one\n" in text
        if tty:
            assert text.count("kmodel:numa2# ") == 2 and text.endswith("kmodel:numa2# \n")
        else:
            assert text == "$ echo one\none\n"
    finally:
        sh.close()


def test_ctrl_c_stops_a_long_command_and_ctrl_d_leaves_on_a_real_terminal(tmp_path):
    """kmodel shell on a pty: Ctrl-C in a long layered relay write stops it
    between two records, the prompt comes back, and Ctrl-D there leaves with
    status 0."""
    pid, fd = pty.fork()
    if pid == 0:                                            # the child: kmodel shell
        os.environ["HOME"] = str(tmp_path)                  # its readline history
        os.execv(sys.executable, [sys.executable, "-m", "kmodel", "shell"])
    seen = b""

    def read_until(words, timeout=60):
        """Read until words appear in what is new; returns it."""
        nonlocal seen
        start, t = len(seen), time.monotonic()
        while words not in seen[start:]:
            assert time.monotonic() - t < timeout, seen[-500:]
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break
        return seen[start:]
    prompt = b"kmodel:numa2# "
    done = 0
    try:
        read_until(prompt)
        for line in (b"insmod ltt_relay_alloc",
                     b"relay open l subbuf_size=4k n_subbufs=4 layer=lockless"):
            os.write(fd, line + b"\n")
            read_until(prompt)
        os.write(fd, b"relay write l cpu=0 bytes=64 count=1000000\n")
        read_until(b"count=1000000\r\n")
        time.sleep(0.3)
        os.write(fd, b"\x03")                               # Ctrl-C
        said = read_until(prompt)
        os.write(fd, b"\x04")                               # Ctrl-D at the prompt
        t = time.monotonic()
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            assert time.monotonic() - t < 30, "Ctrl-D did not leave the shell"
            time.sleep(0.05)
    finally:
        if not done:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert re.search(rb"\^Ccpu 0: \d+ of \d+ records of 64 bytes written "
                     rb"\(interrupted after \d+ of 1000000\)", said), said


def test_a_pipe_that_ends_leaves_the_shell(tmp_path):
    r = subprocess.run([sys.executable, "-m", "kmodel", "shell"], input="echo one\n",
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, HOME=str(tmp_path)))
    assert r.returncode == 0 and r.stdout == "$ echo one\none\n"


@pytest.mark.parametrize("how,status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_explore_over_workers_stops_on_a_signal(tmp_path, how, status):
    """A search split over worker processes stops on the first signal as the
    search in one process does: the workers end at once, the report says how
    far it got (the chunks done), and no worker is left (it went on for ten
    minutes, its workers still running, and a second signal hung it)."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: the search runs in kmodel's own process")
    out, _ = stopped_cleanly(["explore", "builtin:rb-lap", "--runs", "10000000", "--jobs", "2"],
                             tmp_path, how, status, lambda p: len(children(p.pid)) >= 2)
    assert re.search(rf"^interrupted by {how} after [\d,]+ runs \(", out, re.M), out
