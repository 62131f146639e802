"""`kmodel trace record SESSION --session` lays the trace out as LTTng lays out
a kernel session: SESSION/kernel/ holding metadata, the channel0_CPU
streams and index/.  `trace show` and lttng-analyses take the session
directory; without --session, DIR is the trace, as before; --force
replaces a session only if it holds a kmodel trace in kernel/ and nothing
else."""
import os

import pytest

from kmodel.cli.main import main
from kmodel.consumer.ctf import read_trace
from kmodel.consumer.ctf_index import check_trace_index
from test_lttng_tools import mi

BASE = ["--workload", "sched", "--duration", "40", "--seed", "4"]


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    d = tmp_path_factory.mktemp("s") / "session"
    assert main(["trace", "record", str(d), "--session", *BASE]) == 0
    return d


def test_the_session_holds_the_trace_in_kernel(session, capsys):
    assert os.listdir(session) == ["kernel"]
    names = set(os.listdir(session / "kernel"))
    streams = {n for n in names if n.startswith("channel0_")}
    assert names == {"metadata", "index"} | streams and streams
    assert sorted(os.listdir(session / "kernel" / "index")) == \
        sorted(s + ".idx" for s in streams)
    assert check_trace_index(str(session / "kernel")) and read_trace(str(session))
    assert main(["trace", "show", str(session)]) == 0
    assert "channel0_0: " in capsys.readouterr().out


def test_without_session_dir_is_the_trace(tmp_path, session):
    assert main(["trace", "record", str(tmp_path / "t"), *BASE]) == 0
    assert "metadata" in os.listdir(tmp_path / "t")
    for name in os.listdir(tmp_path / "t"):
        if os.path.isfile(tmp_path / "t" / name):
            assert (tmp_path / "t" / name).read_bytes() == \
                (session / "kernel" / name).read_bytes()


def test_force_replaces_a_session_holding_a_trace_only(tmp_path, capsys):
    d = tmp_path / "s"
    assert main(["trace", "record", str(d), "--session", *BASE]) == 0
    assert main(["trace", "record", str(d), "--session", *BASE]) == 2
    assert "give --force" in capsys.readouterr().err
    assert main(["trace", "record", str(d), "--session", "--force", *BASE]) == 0
    (d / "notes.txt").write_text("mine")
    assert main(["trace", "record", str(d), "--session", "--force", *BASE]) == 2
    assert "notes.txt, which is not part of a kmodel session" in capsys.readouterr().err
    assert (d / "notes.txt").read_text() == "mine" and (d / "kernel" / "metadata").exists()


def test_lttng_analyses_read_the_session(session):
    table = mi("cputop", session, "--limit", "1000")["per-process"]
    assert table["data"]
