"""--pmem FILE takes only what is kmodel's (hardening: nothing a user owns is
lost).  The rule, for every command that takes --pmem (shell, run, trace
record): a new file, an empty one, or one that begins with a region's magic
(a trace, or a free region: kmodel marks a file as soon as it takes it) is
taken; any other file is refused before a byte is written, unless
--pmem-format; a FIFO, a device, a directory or a link to nothing is refused
even then, without being opened."""
import os
import subprocess
import sys

import pytest

from kmodel.cli.main import main
from kmodel.relay.pmem_layout import FREE_MAGIC, REGION_MAGIC, region_magic

REGION = 4 << 20
CMDLINE = ["--cmdline", "reserve_mem=4M:4096:trace"]


@pytest.fixture(autouse=True)
def no_hang(deadline):
    deadline(120, "a --pmem file blocked the command")


def run_with(cmd, pmem, tmp_path, fmt=False):
    """Run cmd with --pmem pmem (and --pmem-format); (exit status, stderr)."""
    extra = ["--pmem", str(pmem), *CMDLINE] + (["--pmem-format"] if fmt else [])
    if cmd == "shell":                  # its own process: it reads its standard input
        r = subprocess.run([sys.executable, "-m", "kmodel", "shell", *extra], input="exit\n",
                           capture_output=True, text=True, timeout=100)
        return r.returncode, r.stderr
    if cmd == "run":
        script = tmp_path / "s.kms"
        script.write_text("echo hi\n")
        argv = ["run", str(script), *extra]
    else:
        argv = ["trace", "record", str(tmp_path / f"t.{os.path.basename(pmem)}"), "--events", "5",
                "--backend", "pmem",
                "--subbuf-size", "4k", *extra]
    import io
    import contextlib
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(argv, out=io.StringIO())
    return rc, err.getvalue()


def make(kind, tmp_path):
    """A --pmem path of a kind; returns (path, what the refusal says or None)."""
    p = tmp_path / "r.img"
    if kind == "user text":
        p.write_bytes(b"my notes\n" * (REGION // 9) + b"x" * (REGION % 9))
        return p, "not a region kmodel made: its first bytes (6d79206e6f746573)"
    if kind == "zeroes":
        with open(p, "wb") as f:
            f.truncate(REGION)          # a user's sparse image: a page of zeroes is no proof
        return p, "its first 4096 bytes are zeroes"
    if kind == "fifo":
        os.mkfifo(p)
        return p, "a FIFO, not a regular region file"
    if kind == "/dev/zero":
        return "/dev/zero", "a character device, not a regular region file"
    if kind == "directory":
        p.mkdir()
        return p, "a directory, not a regular region file"
    if kind == "link to nothing":
        os.symlink(tmp_path / "elsewhere" / "x.img", p)
        (tmp_path / "elsewhere").mkdir()
        return p, "a symbolic link to"
    raise AssertionError(kind)


def state(path):
    p = str(path)
    if not os.path.lexists(p):
        return None
    if os.path.islink(p) or not os.path.isfile(p):
        return (os.path.islink(p), os.path.isdir(p), os.path.exists(p))
    with open(p, "rb") as f:
        return f.read()


COMMANDS = ["run", "trace record", "shell"]
REFUSED = ["user text", "zeroes", "fifo", "/dev/zero", "directory", "link to nothing"]


@pytest.mark.parametrize("kind", REFUSED)
@pytest.mark.parametrize("cmd", COMMANDS)
def test_a_file_that_is_not_kmodels_is_refused_and_left_as_it_was(cmd, kind, tmp_path):
    path, words = make(kind, tmp_path)
    before = state(path)
    rc, err = run_with(cmd, path, tmp_path)
    assert rc == 2 and words in err and "Traceback" not in err, err
    assert err.count("\n") == 1 and err.startswith("kmodel: error: ")
    assert state(path) == before
    assert [n for n in os.listdir(tmp_path) if n.startswith(("t.", ".t."))] == []
    if kind == "link to nothing":
        assert os.listdir(tmp_path / "elsewhere") == []      # nothing made through the link


@pytest.mark.parametrize("kind", ["user text", "zeroes"])
def test_pmem_format_takes_a_regular_file_and_marks_it(kind, tmp_path):
    path, _ = make(kind, tmp_path)
    rc, err = run_with("run", path, tmp_path, fmt=True)
    assert rc == 0, err
    assert region_magic(state(path)[:8]) == FREE_MAGIC        # kmodel's now, and free
    rc, err = run_with("run", path, tmp_path)                   # so taken again without
    assert rc == 0, err


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "directory", "link to nothing"])
def test_pmem_format_still_refuses_what_is_no_regular_file(kind, tmp_path):
    path, words = make(kind, tmp_path)
    rc, err = run_with("run", path, tmp_path, fmt=True)
    assert rc == 2 and words in err, err


@pytest.mark.parametrize("cmd", COMMANDS)
def test_a_new_or_empty_file_is_taken_and_marked_at_once(cmd, tmp_path):
    for name, make_it in (("new.img", None), ("empty.img", b"")):
        path = tmp_path / name
        if make_it is not None:
            path.write_bytes(make_it)
        rc, err = run_with(cmd, path, tmp_path)
        assert rc == 0, err
        assert region_magic(state(path)[:8]) in (FREE_MAGIC, REGION_MAGIC)
        assert len(state(path)) == REGION


def test_a_region_kmodel_made_is_taken_also_through_a_link(tmp_path):
    path = tmp_path / "t.img"
    rc, err = run_with("trace record", path, tmp_path)         # a region with a trace
    assert rc == 0, err
    assert region_magic(state(path)[:8]) == REGION_MAGIC
    link = tmp_path / "link.img"
    os.symlink(path, link)
    rc, err = run_with("run", link, tmp_path)
    assert rc == 0, err


def test_crash_extract_of_a_free_region_says_so(tmp_path, capsys):
    path = tmp_path / "new.img"
    assert run_with("run", path, tmp_path)[0] == 0
    capsys.readouterr()
    assert main(["crash", "extract", str(path), "-o", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err == (
        f"kmodel: error: {path}: header field magic at offset 0x0: a free region: kmodel took "
        "this file, and no channel wrote a trace in it (or it was cleared)\n")
    assert not (tmp_path / "x").exists()
