"""Inputs a user names (hardening: bounded work, inputs, outputs, exit codes).

Rule 1: every file a user names to the commands below is read through
hw/hostfile.py, its kind and size checked before a byte is read: a FIFO (which
would block for ever), a device (/dev/zero would fill the memory) and a file
over its limit are refused in one line, exit 2.  The files: the script of
``kmodel run`` and ``kmodel explore``, ``draw --script``, and a machine file
given to any command that boots one (``--machine FILE``).

Rule 2: a machine file whose TOML nests too deeply is a usage error naming the
file, not an internal error (tomllib's RecursionError).
"""
import io
import os

import pytest

from hw.topology import MACHINE_FILE_LIMIT, MachineError, parse_machine
from kmodel.cli.main import build_parser, main
from kmodel.cli.run import SCRIPT_LIMIT

from test_cli_modules import top_level_commands


@pytest.fixture(autouse=True)
def no_blocking(deadline):
    """A command that opens a FIFO would wait for a writer for ever."""
    deadline(20, "the command blocked (on a FIFO?)")


def run(argv):
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def special(tmp_path, kind, name):
    """A path of the given kind: fifo, device (/dev/zero), sparse (2 GiB, no
    byte of it on disk), deep (a machine file nested 5000 arrays deep)."""
    if kind == "device":
        return "/dev/zero"
    path = tmp_path / name
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "sparse":
        with open(path, "wb") as f:
            f.truncate(2 << 30)
    else:
        path.write_text('name = "deep"\nx = ' + "[" * 5000 + "]" * 5000 + "\n")
    return str(path)


WORDS = {"fifo": "a FIFO, not a regular {what}",
         "device": "a character device, not a regular {what}",
         "sparse": "2,147,483,648 bytes; a {what} has at most {limit:,}",
         "deep": "malformed TOML: arrays or tables nested too deeply"}


def refused(capsys, rc, path, kind, what, limit):
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("kmodel: error: ")
    assert f"{path}: " in err           # (trace record puts its name first)
    assert WORDS[kind].format(what=what, limit=limit) in err


# --- scripts ------------------------------------------------------------------------
SCRIPT_COMMANDS = {"run": ["run", "{}"], "explore": ["explore", "{}"],
                   "draw --script": ["draw", "trace", "--script", "{}"]}


@pytest.mark.parametrize("kind", ["fifo", "device", "sparse"])
@pytest.mark.parametrize("command", SCRIPT_COMMANDS)
def test_every_command_that_reads_a_script_refuses_special_and_huge_files(
        tmp_path, capsys, command, kind):
    path = special(tmp_path, kind, "s.kms")
    rc, out = run([a.format(path) for a in SCRIPT_COMMANDS[command]])
    refused(capsys, rc, path, kind, "kmodel script", SCRIPT_LIMIT)
    assert out == ""


def test_a_script_at_its_limit_is_read_and_one_byte_more_is_not(tmp_path, capsys):
    s = tmp_path / "s.kms"
    line = "# padding\n"
    s.write_text("echo fine\n" + line * ((SCRIPT_LIMIT - 10) // len(line)))
    s.write_text(s.read_text() + "#" * (SCRIPT_LIMIT - s.stat().st_size - 1) + "\n")
    assert s.stat().st_size == SCRIPT_LIMIT
    rc, out = run(["run", str(s)])
    assert rc == 0 and "fine" in out
    with open(s, "a") as f:
        f.write("#")
    rc, _ = run(["run", str(s)])
    assert rc == 2 and f"has at most {SCRIPT_LIMIT:,}" in capsys.readouterr().err


# --- machine files ---------------------------------------------------------------
def machine_commands():
    """Every command (and subcommand) whose parser takes --machine, and machine
    show's PRESET: found in the parser, so a new one is tried too.  Each with
    the other arguments it needs to get as far as loading the machine."""
    need = {"run": ["{script}"], "explore": ["{script}"], "draw": ["trace"],
            "explain write": ["0", "8"], "explain read": ["0", "8"], "explain record": ["8"],
            "trace record": ["{dir}", "--events", "5"],
            "cat": ["/proc/meminfo"], "shell": [], "bench": ["--quick"],
            "trace sizing": ["--events", "1"]}
    p = build_parser()
    sub, = [a for a in p._actions if a.dest == "command"]
    found = {"machine show": ["machine", "show", "{machine}"]}
    for name, sp in sub.choices.items():
        subs = [a for a in sp._actions if hasattr(a, "choices") and isinstance(a.choices, dict)]
        parsers = {f"{name} {n}": s for a in subs for n, s in a.choices.items()} or {name: sp}
        for full, parser in parsers.items():
            if any("--machine" in a.option_strings for a in parser._actions):
                assert full in need, f"{full} takes --machine: add what else it needs here"
                found[full] = full.split() + need[full] + ["--machine", "{machine}"]
    return found


MACHINE_COMMANDS = machine_commands()


@pytest.mark.parametrize("kind", ["fifo", "device", "sparse", "deep"])
@pytest.mark.parametrize("command", MACHINE_COMMANDS)
def test_every_command_that_takes_a_machine_file_refuses_special_huge_and_deep_ones(
        tmp_path, capsys, monkeypatch, command, kind):
    machine = special(tmp_path, kind, "m.toml")
    script = tmp_path / "s.kms"
    script.write_text("task 0 echo hi\n")        # explore's wants a task
    monkeypatch.setattr("sys.stdin", io.StringIO(""))      # kmodel shell reads none
    argv = [a.format(machine=machine, script=script, dir=tmp_path / "t")
            for a in MACHINE_COMMANDS[command]]
    rc, out = run(argv)
    refused(capsys, rc, machine, kind, "machine file", MACHINE_FILE_LIMIT)
    assert "hi" not in out


def test_the_machine_commands_found_are_all_of_them():
    assert set(MACHINE_COMMANDS) >= {"run", "explore", "draw", "explain write",
                                     "explain record", "cat", "shell",
                                     "bench", "trace sizing", "trace record", "machine show"}
    assert {c for c in top_level_commands(build_parser())} >= {"run", "draw", "bench"}


def test_deep_toml_in_a_machine_text_is_a_machine_error_naming_it():
    for deep in ("x = " + "[" * 3000 + "]" * 3000, "x = " + "{a = " * 3000 + "1" + "}" * 3000):
        with pytest.raises(MachineError, match="^mine.toml: malformed TOML: .* nested too "
                                               "deeply"):
            parse_machine(deep, source="mine.toml")


def test_a_sparse_machine_file_is_refused_without_being_read(tmp_path, monkeypatch, capsys):
    """The size check comes first: not a byte of a 2 GiB file is read."""
    path = special(tmp_path, "sparse", "m.toml")
    reads = []
    real = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: reads.append(n) or real(fd, n))
    assert run(["machine", "show", path])[0] == 2
    assert reads == []


# --- every other file a command reads -----------------------------------------------
def _trace_with(tmp_path, name, kind):
    """A trace directory whose file name is special (made by trace record first)."""
    d = tmp_path / "tr"
    assert run(["trace", "record", str(d), "--events", "5", "--machine", "numa2"])[0] == 0
    os.remove(d / name)
    if kind == "fifo":
        os.mkfifo(d / name)
    else:
        os.symlink("/dev/zero", d / name)
    return str(d)


OTHER_INPUTS = {
    "trace record --hotplug": (lambda t, p: ["trace", "record", str(t / "t"), "--events", "5",
                                             "--hotplug", p], "hotplug script"),
    "crash extract FILE": (lambda t, p: ["crash", "extract", p, "-o", str(t / "t")],
                           "region file"),
    "run --pmem": (lambda t, p: ["run", str(t / "s.kms"), "--pmem", p, "--cmdline",
                                 "reserve_mem=4M:4096:trace"], "region file"),
    "trace show (metadata)": (None, "metadata file"),
    "trace show (stream)": (None, "stream file"),
}


@pytest.mark.parametrize("kind", ["fifo", "device"])
@pytest.mark.parametrize("what", OTHER_INPUTS)
def test_every_other_input_file_refuses_a_fifo_and_a_device(tmp_path, capsys, what, kind):
    """The files not above: a hotplug script, a crash region, a --pmem file,
    a trace's metadata and streams.  Each refuses a FIFO and /dev/zero at
    once, naming the file and its kind (the deadline catches a block)."""
    make_argv, noun = OTHER_INPUTS[what]
    (tmp_path / "s.kms").write_text("echo hi\n")
    if make_argv is None:
        name = "metadata" if "metadata" in what else "channel0_0"
        d = _trace_with(tmp_path, name, kind)
        capsys.readouterr()
        argv, path = ["trace", "show", d], os.path.join(d, name)
    else:
        path = special(tmp_path, kind, "input")
        argv = make_argv(tmp_path, path)
    rc, out = run(argv)
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith("kmodel: error: "), err
    kind_words = "a FIFO" if kind == "fifo" else "a character device"
    assert f"{path}: {kind_words}, not a regular {noun}" in err, err
    assert not os.path.exists(tmp_path / "t")
