"""Bounded work (hardening: bounded work, inputs, outputs, exit codes).

Rule 4: every numeric option of a command has a range, checked as argparse
reads it, before anything runs (kmodel/cli/bounds.py); and the product of a
run's dimensions has a cap, checked before it runs, with a message that names
it.  The tests walk every command's parser, so a new option without a range
fails here.
"""
import argparse
import io
import os
import time

import pytest

import kmodel.consumer.sizing as sizing
import kmodel.perf.executor as executor
from hw.topology import MachineError, parse_machine
from kmodel.cli.bounds import Access, Bounded, ListOf
from kmodel.cli.main import build_parser, main

# Commands whose options are someone else's (issue: hardening): not walked.
NOT_OURS: set[str] = set()

# Options that are words, not numbers: a name, a path, a list of words.
WORDS = {"machine", "config", "cmdline", "pmem", "script", "output", "name", "preset",
         "json", "markdown", "plot", "path", "topic", "dir", "help", "debug",
         "replay", "file", "script", "backend", "hotplug", "output", "scheduler",
         # specs of several numbers with units, each checked by trace_time's
         # timed_options before anything runs (tests/test_time.py's bad inputs)
         "bursts", "cpu_rates", "event_size", "clock_skew"}


@pytest.fixture(autouse=True)
def no_runaway(deadline):
    deadline(60, "the command ran on: its work was not bounded")


def commands(parser=None, path=()):
    """(command words, parser) of every command and subcommand that runs."""
    parser = parser or build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for a in subs:
        for name, sp in a.choices.items():
            if " ".join(path + (name,)) not in NOT_OURS:
                yield from commands(sp, path + (name,))


def options(parser):
    return [a for a in parser._actions
            if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


OURS = dict(commands())


def test_every_numeric_option_of_every_command_has_a_range():
    assert {" ".join(c) for c in OURS} >= {"draw", "explain write", "explain record", "bench", "trace sizing",
                                           "machine probe", "quiz", "shell", "run"}
    for cmd, parser in OURS.items():
        for a in options(parser):
            where = f"kmodel {' '.join(cmd)} {'/'.join(a.option_strings) or a.dest}"
            if a.type is not None:
                assert isinstance(a.type, (Bounded, ListOf, Access)), \
                    f"{where}: type {a.type!r} has no range (take one from kmodel/cli/bounds.py)"
            else:
                assert a.nargs == 0 or a.choices or a.dest in WORDS, \
                    f"{where}: a number? give it a type from kmodel/cli/bounds.py (or list " \
                    "it in WORDS if it is a word)"


def out_of_range(t):
    """Words just outside a type's range, and the bounds themselves."""
    if isinstance(t, ListOf):
        bad, edges = out_of_range(t.item)
        return bad + [",".join(["1"] * (t.max_len + 1))], edges
    if isinstance(t, Access):
        bad, edges = out_of_range(t.length)
        return [f"0:{b}" for b in bad], [f"0:{e}" for e in edges]
    return ([str(t.lo - 1)] if t.lo > 0 else ["-1"]) + [str(t.hi + 1)], [str(t.lo), str(t.hi)]


def argv_for(cmd, a, value):
    if a.option_strings:
        return list(cmd) + [a.option_strings[0], value]
    positional = [x for x in options(OURS[cmd]) if not x.option_strings]
    before = positional[:positional.index(a)]
    return list(cmd) + [x.choices[0] if x.choices else "0" for x in before] + [value]


BOUNDED = [(cmd, a) for cmd, p in OURS.items() for a in options(p)
           if isinstance(a.type, (Bounded, ListOf, Access))]


@pytest.mark.parametrize("cmd,a", BOUNDED, ids=[f"{' '.join(c)} {a.dest}" for c, a in BOUNDED])
def test_a_number_out_of_its_range_is_refused_before_anything_runs(cmd, a, capsys, monkeypatch):
    monkeypatch.setattr("kmodel.kernel.Kernel.__init__", lambda *x, **k: pytest.fail("booted"))
    bad, edges = out_of_range(a.type)
    for word in bad:
        with pytest.raises(SystemExit) as e:
            main(argv_for(cmd, a, word))
        err = capsys.readouterr().err
        assert e.value.code == 2 and err.count("\n") == 1, err
        assert err.startswith(f"kmodel: error: {' '.join(cmd)}: argument ")
    for word in edges:                          # the bounds themselves are in the range
        a.type(word)                            # (raises if refused)


def run(*argv):
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


# --- the examples of the trial --------------------------------------------------------
def test_trace_sizing_rates_0_is_refused(capsys):
    with pytest.raises(SystemExit) as e:
        run("trace", "sizing", "--rates", "0")          # it never ended
    assert e.value.code == 2 and "--rates: 0: must be 1.." in capsys.readouterr().err


def test_trace_sizing_workers_are_bounded_by_points_and_cores(monkeypatch):
    made = []
    real = executor.ProcessPoolExecutor

    def pool(max_workers, **kw):
        made.append(max_workers)
        return real(max_workers=max_workers, **kw)
    monkeypatch.setattr(executor, "ProcessPoolExecutor", pool)
    rc, out = run("trace", "sizing", "--jobs", "1024", "--events", "5", "--subbuf-sizes",
                  "4k", "--n-subbufs", "2,4", "--rates", "16")
    assert rc == 0 and out.count("%\n") == 3          # the header, and a row a point
    cores = os.cpu_count() or 1
    assert made == ([min(2, cores)] if cores > 1 else [])
    assert sizing.workers_for(1024, 3) == min(3, cores)
    assert sizing.workers_for(None, 400) == cores and sizing.workers_for(1, 400) == 1


def test_draw_refuses_an_access_past_the_buffer_as_explain_does(capsys):
    t = time.monotonic()
    with pytest.raises(SystemExit) as e:
        run("draw", "trace", "--access", "0:100G")            # it hung
    assert e.value.code == 2 and "--access: 100G: must be 1..1G" in capsys.readouterr().err
    assert time.monotonic() - t < 5
    said = []
    for argv in (["draw", "trace", "--access", "0:20000"],    # an oops (exit 1) before
                 ["draw", "trace", "--access", "r100:16380"],
                 ["explain", "write", "0", "20000"], ["explain", "read", "100", "16380"],
                 ["explain", "write", "0", "8", "--before", "0:20000"]):
        assert run(*argv)[0] == 2, argv
        said.append(capsys.readouterr().err)
    assert said[0] == said[2] == said[4] == (
        "kmodel: error: 20000 bytes at offset 0 run past the end of the 16384-byte buffer "
        "(the layer above never asks that)\n")
    assert said[1] == said[3]


def test_a_machine_of_64_tib_is_refused_and_16_tib_shows_at_once(tmp_path, capsys):
    m = tmp_path / "m.toml"
    m.write_text('[[nodes]]\nmemory = "64T"\ncpus = "0-1"\n')
    assert run("machine", "show", str(m))[0] == 2       # 49 s and 2.2 GB before
    assert capsys.readouterr().err == (
        f"kmodel: error: {m}: 64T of memory: Linux 2.6.29 maps at most 16T on x86-64 "
        "(MAX_PHYSMEM_BITS 44)\n")
    m.write_text('[[nodes]]\nmemory = "16T"\ncpus = "0-1"\n')
    t = time.monotonic()
    rc, out = run("machine", "show", str(m))
    assert rc == 0 and "node 0 size: 16777216 MB" in out and "free: 16777216 MB" in out
    assert time.monotonic() - t < 5


def test_machine_dimensions_have_caps():
    node = '[[nodes]]\nmemory = "4k"\n'
    slit = "distance = [" + ", ".join("[" + ", ".join("10" if i == j else "20" for j in
                                                     range(512)) + "]" for i in range(512))
    assert parse_machine(slit + "]\n" + '[[nodes]]\nmemory = "4k"\ncpus = "0"\n' +
                         node * 511 + '[timing]\ndram_ns = { "10" = 90, "20" = 140 }\n',
                         "m").nr_nodes == 512
    with pytest.raises(MachineError, match="^m: 513 nodes: Linux 2.6.29 takes at most 512"):
        parse_machine(node * 513, "m")
    three = ('distance = [[10, 20, 20], [20, 10, 20], [20, 20, 10]]\n'
             '[[nodes]]\nmemory = "8T"\ncpus = "0"\n[[nodes]]\nmemory = "{}"\n'
             '[[nodes]]\nmemory = "4k"\n[timing]\ndram_ns = {{ "10" = 90, "20" = 140 }}\n')
    assert parse_machine(three.format(f"{(8 << 30) - 4}K"), "m").total_memory == 16 << 40
    with pytest.raises(MachineError, match="^m: 17179869188K of memory: .* at most 16T"):
        parse_machine(three.format("8T"), "m")


# --- the products of a run's dimensions -------------------------------------------------
@pytest.mark.parametrize("argv,words", [
    (["trace", "sizing", "--events", "100000", "--rates", "16,32"],
     "= 9,600,000 events: at most 4,000,000 a sweep"),
    (["trace", "sizing", "--events", "1", "--rates", "1000000"],
     "(rounded up to whole ticks) on 8 CPUs = 48,000,000 events"),
    (["trace", "sizing", "--subbuf-sizes", "64m", "--n-subbufs", "4", "--events", "1"],
     "8 CPUs x 262144 KiB = 2048 MiB of buffers: more than this emulator allocates"),
    (["bench", "--quick"] + ["--machine", "numa2"] * 9, "--machine given 9 times: at most 8"),
    (["bench", "--quick", "--machine", "numa2", "--machine", "numa2"], "given twice"),
    (["draw", "trace"] + ["--access", "0:4"] * 65, "--access given 65 times: at most 64"),
    (["explain", "write", "0", "8"] + ["--before", "0:1G"] * 2,
     "--before: 2,147,483,656 bytes in all: at most 1024 MiB"),
])
def test_the_product_of_a_runs_dimensions_has_a_cap(argv, words, capsys, monkeypatch):
    monkeypatch.setattr("kmodel.kernel.Kernel.__init__", lambda *x, **k: pytest.fail("booted"))
    assert run(*argv)[0] == 2
    err = capsys.readouterr().err
    assert err.startswith("kmodel: error: ") and err.count("\n") == 1 and words in err, err


@pytest.mark.parametrize("line,words", [
    ("relay write t bytes=4k count=1000001", "count=1000001: must be 1..1000000"),
    ("relay write t bytes=4k count=300000", "count=300000 x 4096 bytes = 1,228,800,000 bytes: "
     "at most 1024 MiB a command"),
    ("relay write l bytes=64 count=0", "count=0: must be 1..1000000"),
    ("relay consume l cpu=0 count=2000000", "count=2000000: must be 1..1000000"),
    ("storm cpus=1-3 steps=0", "steps=0: must be 1..1000000"),
])
def test_the_shell_bounds_its_repeated_steps(relay_sh, line, words):
    from kmodel.cli.errors import ScriptError
    relay_sh.execute("relay open t subbuf_size=4k n_subbufs=2")
    relay_sh.execute("relay open l subbuf_size=4k n_subbufs=2 layer=lockless")
    with pytest.raises(ScriptError) as e:
        relay_sh.execute(line)
    assert words in str(e.value)

