"""Outputs a user names (hardening: bounded work, inputs, outputs, exit codes).

Rule 3: a file a command writes where the user says (machine probe -o, bench
--json/--markdown/--plot, trace sizing --plot) is checked before the work
starts (not a directory, not an existing file unless --force, in a place
where a file can really be made), and written atomically at the end (beside
it, then renamed), so that nothing is overwritten without --force and a long
run never ends in an output it cannot write.  What the host refuses is exit 2
in the OS's words, never exit 3.

Each command's work is replaced by a stand-in here that counts its runs and
looks at the output path while it "runs": the rule is about the paths.
"""
import errno
import io
import os
import resource
import subprocess
import sys
import types

import pytest

import hw.probe
import kmodel.cli.bench as bench
import kmodel.consumer.sizing as sizing
import kmodel.consumer.sizing_time as sizing_time
from kmodel.cli.errors import HostError
from kmodel.cli.main import main
from kmodel.cli.outfile import check_output, write_output


@pytest.fixture
def fake_matplotlib(monkeypatch):
    """Enough of matplotlib for the plots: savefig writes a PNG signature."""
    class Anything:
        def __getattr__(self, name):
            return lambda *a, **kw: None

    class Figure(Anything):
        def savefig(self, path, **kw):
            with open(path, "wb") as f:
                f.write(b"\x89PNG\r\n\x1a\n fake")

    def subplots(*shape, **kw):
        n = shape[1] if len(shape) > 1 else 1
        return Figure(), [Anything() for _ in range(n)] if n > 1 else Anything()
    mpl = types.ModuleType("matplotlib")
    mpl.use = lambda *a, **kw: None
    plt = types.ModuleType("matplotlib.pyplot")
    plt.subplots = subplots
    plt.close = lambda *a: None
    mpl.pyplot = plt
    monkeypatch.setitem(sys.modules, "matplotlib", mpl)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", plt)


class Work:
    """The stand-in for a command's long work: counts its runs, and records
    what the output path held while it ran."""

    def __init__(self):
        self.runs = 0
        self.seen = []
        self.path = None

    def ran(self):
        self.runs += 1
        if self.path is not None:
            self.seen.append(open(self.path, "rb").read() if os.path.exists(self.path)
                             else None)


@pytest.fixture
def work(monkeypatch, fake_matplotlib):
    w = Work()

    def probe(seconds=0.2):
        w.ran()
        return {"nodes": [([0, 1], 1 << 30)], "distance": [[10]], "host": "h", "when": "now",
                "caches": {"L1": 32, "L2": 256, "LLC": 4096}, "ghz": 2.0,
                "gbps": {"L2": 50.0, "LLC": 30.0, "DRAM": 10.0}}

    def run_suite(machines, quick, stream, prog=None, **executor):
        w.ran()
        return [{"case": "none", "machine": machines[0]}]

    def sweep(points, *args, **kw):
        w.ran()
        for p in points:
            yield p, 100, 10, 40.0
    monkeypatch.setattr(hw.probe, "probe", probe)
    monkeypatch.setattr(bench, "run_suite", run_suite)
    monkeypatch.setattr(bench, "format_report", lambda results, machines: "report\n")
    monkeypatch.setattr(bench, "goals", lambda results: [])
    monkeypatch.setattr(sizing, "sweep", sweep)

    def sweep_in_time(points, *args, **kw):
        w.ran()
        for p in points:
            yield sizing_time.TimeRow(p, 100, {"full": 10, "wrap": 0, "big": 0, "overrun": 0},
                                      0.01, 0.01, 1000, 8192, 4096)
    monkeypatch.setattr(sizing_time, "sweep_in_time", sweep_in_time)
    return w


OUTPUTS = {
    "machine probe -o": ["machine", "probe", "-o", "{}"],
    "bench --json": ["bench", "--quick", "--machine", "numa2", "--json", "{}"],
    "bench --markdown": ["bench", "--quick", "--machine", "numa2", "--markdown", "{}"],
    "bench --plot": ["bench", "--quick", "--machine", "numa2", "--plot", "{}"],
    "trace sizing --plot": ["trace", "sizing", "--events", "1", "--subbuf-sizes", "4k",
                            "--n-subbufs", "2", "--rates", "16", "--plot", "{}"],
    "trace sizing --time --plot": ["trace", "sizing", "--time", "1ms", "--subbuf-sizes", "4k",
                                   "--n-subbufs", "2", "--plot", "{}"],
}


def run(argv, path, force=False):
    out = io.StringIO()
    return main([a.format(path) for a in argv] + (["--force"] if force else []), out=out)


def parts(d):
    return [n for n in os.listdir(d) if n.endswith(".part")]


@pytest.mark.parametrize("command", OUTPUTS)
def test_no_output_is_overwritten_without_force(tmp_path, capsys, work, command):
    path = tmp_path / "out"
    path.write_bytes(b"the user's file")
    work.path = path
    assert run(OUTPUTS[command], path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists (give --force to replace it)" in err
    assert work.runs == 0 and path.read_bytes() == b"the user's file"
    assert run(OUTPUTS[command], path, force=True) == 0, capsys.readouterr().err
    assert work.runs == 1 and work.seen == [b"the user's file"]     # replaced at the end
    assert path.read_bytes() != b"the user's file" and path.stat().st_size > 0
    assert parts(tmp_path) == []


@pytest.mark.parametrize("command", OUTPUTS)
def test_an_output_that_cannot_be_written_is_refused_before_the_work(tmp_path, capsys, work,
                                                                     command):
    cases = {str(tmp_path): "is a directory",
             "/sys/kmodel-test-output": os.strerror(errno.EACCES),          # a read-only place
             str(tmp_path / "no" / "out"): os.strerror(errno.ENOENT)}
    for path, words in cases.items():
        for force in (False, True):
            assert run(OUTPUTS[command], path, force) == 2, path
            err = capsys.readouterr().err
            assert err.startswith("kmodel: error: ") and err.count("\n") == 1
            assert f"{path}: " in err and words in err, err
    assert work.runs == 0 and parts(tmp_path) == []


@pytest.mark.parametrize("command", OUTPUTS)
def test_an_environment_failure_at_the_end_is_exit_2_and_leaves_the_old_file(
        tmp_path, capsys, work, monkeypatch, command):
    """The file system turns read-only during the run: the rename is refused.
    Exit 2 in the OS's words; the old file is intact and nothing is left beside it."""
    path = tmp_path / "out"
    path.write_bytes(b"old")
    work.path = path

    def refuse(*a):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    monkeypatch.setattr(os, "replace", refuse)
    monkeypatch.setattr(os, "link", refuse)
    assert run(OUTPUTS[command], path, force=True) == 2
    err = capsys.readouterr().err
    assert f"{path}: Read-only file system" in err and "internal error" not in err
    assert path.read_bytes() == b"old" and parts(tmp_path) == []


def test_machine_probe_on_a_full_disk_is_exit_2_in_the_os_words(tmp_path):
    """A real environment failure: the file size limit (RLIMIT_FSIZE) is below
    the preset's size, so the write fails with EFBIG, as on a full disk."""
    out = tmp_path / "host.toml"
    r = subprocess.run([sys.executable, "-m", "kmodel", "machine", "probe", "-o", str(out)],
                       capture_output=True, text=True, timeout=120,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200)))
    assert r.returncode == 2, r.stderr
    assert r.stderr == f"kmodel: error: -o {out}: {os.strerror(errno.EFBIG)}\n"
    assert os.listdir(tmp_path) == []


def test_machine_probe_examples(tmp_path, capsys, work):
    """-o to an existing file (once overwritten silently), to a directory and
    to a read-only place (once internal errors, exit 3)."""
    f = tmp_path / "host.toml"
    assert run(["machine", "probe", "-o", "{}"], f) == 0 and f.read_text().startswith("name")
    f.write_text("mine")
    assert run(["machine", "probe", "-o", "{}"], f) == 2 and f.read_text() == "mine"
    assert run(["machine", "probe", "-o", "{}"], tmp_path) == 2
    assert run(["machine", "probe", "-o", "{}"], "/sys/host.toml") == 2
    err = capsys.readouterr().err
    assert "exists" in err and "is a directory" in err and "Permission denied" in err
    assert "internal error" not in err and work.runs == 1


def test_write_output_keeps_a_file_that_appeared_during_the_run(tmp_path):
    """Without --force the new file takes the name only if it is still free:
    a file made there during the run is not replaced; the output is kept
    beside it, and the message says where."""
    path = tmp_path / "out"
    check_output(str(path), "-o", False)
    path.write_text("made meanwhile")
    with pytest.raises(HostError, match="appeared during the run") as e:
        write_output(str(path), "new", "-o", False)
    kept = str(e.value).split("the output is in ")[1].rstrip(")")
    assert path.read_text() == "made meanwhile" and open(kept).read() == "new"


def test_write_output_removes_its_new_file_when_making_it_fails(tmp_path):
    def full(tmp):
        with open(tmp, "wb") as f:
            f.write(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    with pytest.raises(HostError, match=f"out: {os.strerror(errno.ENOSPC)}"):
        write_output(str(tmp_path / "out"), None, "--plot", True, make=full)
    assert os.listdir(tmp_path) == []


def test_the_host_refusing_memory_is_exit_2(tmp_path):
    """A real environment failure at boot: under a 2 GiB address-space limit a
    16 TiB machine cannot be mapped (it was an internal error: PhysMem's
    clean-up read an attribute not yet set)."""
    m = tmp_path / "m.toml"
    m.write_text('[[nodes]]\nmemory = "16T"\ncpus = "0-1"\n')
    r = subprocess.run([sys.executable, "-m", "kmodel", "machine", "show", str(m)],
                       capture_output=True, text=True, timeout=120,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS,
                                                             (2 << 30, 2 << 30)))
    assert r.returncode == 2
    assert r.stderr.startswith(f"kmodel: error: {m}: 16777216 MiB of emulated memory cannot "
                               "be mapped on this host (")
    assert r.stderr.endswith(f"{os.strerror(errno.ENOMEM)})\n") and r.stderr.count("\n") == 1


@pytest.mark.parametrize("err,status", [(errno.ENOSPC, 2), (errno.EROFS, 2), (errno.EMFILE, 2),
                                        (errno.EBADF, 3), (errno.EINVAL, 3)])
def test_an_oserror_is_the_hosts_doing_only_for_the_hosts_reasons(monkeypatch, capsys, err,
                                                                  status):
    import kmodel.cli.machines as machines

    def fails(args, out):
        raise OSError(err, os.strerror(err), "/some/file")
    monkeypatch.setattr(machines, "cmd_machines", fails)
    assert main(["machines"], out=io.StringIO()) == status
    said = capsys.readouterr().err
    assert said == (f"kmodel: error: /some/file: {os.strerror(err)}\n" if status == 2 else
                    f"kmodel: internal error: OSError: [Errno {err}] {os.strerror(err)}: "
                    "'/some/file' (run with --debug for the traceback, and please report it)\n")
