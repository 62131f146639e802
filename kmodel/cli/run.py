"""kmodel run SCRIPT|builtin:NAME: a script of shell commands, on a booted kernel.

A script is shell commands, one a line; ``#`` starts a comment.  A first line
``#!kmodel --machine numa2 --config CONFIG_X=y --seed 1`` carries the options
(the command line's own options win).  The transcript shows each comment as it
is and each command after a ``$ `` prompt, followed by its output.
``builtin:NAME`` is one of the scenarios in kmodel/scenarios (``kmodel
scenarios`` lists them).

Exit status: 0 when every expectation held, 1 at the first that did not
(naming the line and what was seen), 2 for a script error (with its line).
"""
import argparse
from importlib import resources

from hw.hostfile import HostFileError, read_regular_file
from hw.topology import DEFAULT_PRESET
from kmodel.cli.boot_options import add_boot_options
from kmodel.cli.bounds import SEED
from kmodel.cli.errors import CommandFailed, ExpectationFailed, ScriptError
from kmodel.cli.shell import Shell
from kmodel.cli.split import split_words

SCENARIO_PACKAGE = "kmodel.scenarios"

# A script is shell commands, one a line; the longest built-in is a few KiB.
SCRIPT_LIMIT = 1 << 20


class HeaderError(ValueError):
    pass


def parse_header(first_line):
    """parse_header - the options of a '#!kmodel ...' line: dict."""
    if not first_line.startswith("#!kmodel"):
        return {}
    p = argparse.ArgumentParser(prog="#!kmodel", add_help=False, exit_on_error=False)
    p.add_argument("--machine", "-m")
    p.add_argument("--config", action="append")
    p.add_argument("--seed", type=SEED)
    p.add_argument("--cmdline")
    try:
        ns, extra = p.parse_known_args(split_words(first_line[len("#!kmodel"):]))
    except (argparse.ArgumentError, ValueError) as e:
        raise HeaderError(f"line 1: {e}") from None
    if extra:
        raise HeaderError(f"line 1: unknown option(s) {' '.join(extra)}")
    return {k: v for k, v in vars(ns).items() if v is not None}


def scenario_names():
    files = resources.files(SCENARIO_PACKAGE)
    return sorted(p.name[:-4] for p in files.iterdir() if p.name.endswith(".kms"))


def scenario_text(name):
    if name not in scenario_names():
        raise ScriptError(f"no built-in scenario {name!r}; try: kmodel scenarios")
    return resources.files(SCENARIO_PACKAGE).joinpath(name + ".kms").read_text()


def check_scenario_machine(text, name, machine):
    """A built-in scenario is a transcript written for the machine its header
    names: its CPU numbers, nodes and expectations are that machine's.  Another
    --machine is refused (a usage error) instead of failing halfway through with
    messages that look like kernel bugs."""
    want = parse_header(text.splitlines()[0]).get("machine") if text else None
    if machine and want and machine != want:
        raise ScriptError(
            f"{name} is written for machine {want} (its CPU numbers, nodes and "
            f"expectations); run it without --machine, or copy it "
            f"(kmodel scenarios {name[len('builtin:'):]} > FILE) and adapt it to {machine}")


def load_script(path):
    """load_script - (text, display name) of a file or builtin:NAME.  A file
    is a regular file of at most SCRIPT_LIMIT bytes (a FIFO, a device or a
    huge file is refused before it is read)."""
    if path.startswith("builtin:"):
        return scenario_text(path[len("builtin:"):]), path
    try:                    # utf-8-sig: a UTF-8 BOM is not a command
        text = read_regular_file(path, SCRIPT_LIMIT, "kmodel script").decode("utf-8-sig")
    except HostFileError as e:
        raise ScriptError(str(e)) from None
    except UnicodeDecodeError as e:
        raise ScriptError(f"{path}: not a text script (byte {e.start} is not UTF-8)") from None
    if "\0" in text:
        raise ScriptError(f"{path}: not a text script (it holds NUL bytes)")
    return text, path


def script_shell(lines, machine=None, config=None, seed=None, cmdline=None, pmem=None,
                 pmem_format=False):
    """script_shell - the shell a script runs on: the options of its #!kmodel
    line, where the command line's do not win (--config adds to the header's)."""
    opts = parse_header(lines[0]) if lines else {}
    return Shell(machine or opts.get("machine", DEFAULT_PRESET),
                 (opts.get("config") or []) + list(config or []),
                 seed if seed is not None else opts.get("seed", 0),
                 cmdline if cmdline is not None else opts.get("cmdline", ""), pmem,
                 pmem_format=pmem_format)


def run_text(text, out, machine=None, config=None, seed=None, name="script", cmdline=None,
             pmem=None, pmem_format=False):
    """run_text - run a script, writing the transcript to out; returns the exit status."""
    lines = text.splitlines()
    sh = script_shell(lines, machine, config, seed, cmdline, pmem, pmem_format)
    try:
        for no, line in enumerate(lines, 1):
            stripped = line.strip()
            if no == 1 and stripped.startswith("#!"):
                continue
            if stripped.startswith("#!kmodel"):
                out.write(f"{name}:{no}: error: a #!kmodel header must be the first line\n")
                return 2
            if not stripped or stripped.startswith("#"):
                out.write(line + "\n")
                continue
            if stripped in ("exit", "quit"):        # as in the shell: the script ends here
                out.write(f"$ {stripped}\n")
                return 0
            out.write(f"$ {stripped}\n")
            try:
                out.write(sh.execute(stripped))
            except CommandFailed as e:
                out.write(f"{e}\n")
            except ScriptError as e:
                out.write(f"{name}:{no}: error: {e}\n")
                return 2
            except ExpectationFailed as e:
                out.write(f"{name}:{no}: FAILED: {stripped}\n  {e}\n")
                return 1
        return 0
    finally:
        sh.close()


def cmd_run(args, out):
    text, name = load_script(args.script)
    try:
        if name.startswith("builtin:"):
            check_scenario_machine(text, name, args.machine)
        return run_text(text, out, args.machine, args.config, args.seed, name,
                        args.cmdline, args.pmem, args.pmem_format)
    except HeaderError as e:
        raise ScriptError(f"{name}: {e}") from None


def add_parser(sub):
    """add_parser - add ``kmodel run SCRIPT`` to sub, the subparsers of kmodel's
    top-level parser (kmodel.cli.main)."""
    s = sub.add_parser("run", help="run a script of shell commands (or builtin:NAME)")
    s.add_argument("script")
    add_boot_options(s)
    s.set_defaults(func=cmd_run)
