"""kmodel run SCRIPT, kmodel shell, kmodel scenarios.

A script is shell commands, one a line; ``#`` starts a comment.  A first line
``#!kmodel --machine numa2 --config CONFIG_X=y --seed 1`` carries the options
(the command line's own options win).  The transcript shows each comment as it
is and each command after a ``$ `` prompt, followed by its output.

Exit status: 0 when every expectation held, 1 at the first that did not
(naming the line and what was seen), 2 for a script error (with its line).
"""
import argparse
import os
import sys
from importlib import resources

from hw.topology import DEFAULT_PRESET
from kmodel.cli.errors import CommandFailed, ExpectationFailed, ScriptError
from kmodel.cli.shell import Shell
from kmodel.cli.split import split_words

SCENARIO_PACKAGE = "kmodel.scenarios"


class HeaderError(ValueError):
    pass


def parse_header(first_line):
    """parse_header - the options of a '#!kmodel ...' line: dict."""
    if not first_line.startswith("#!kmodel"):
        return {}
    p = argparse.ArgumentParser(prog="#!kmodel", add_help=False, exit_on_error=False)
    p.add_argument("--machine", "-m")
    p.add_argument("--config", action="append")
    p.add_argument("--seed", type=int)
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


def scenario_title(text):
    for line in text.splitlines()[1:]:
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


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
    """load_script - (text, display name) of a file or builtin:NAME."""
    if path.startswith("builtin:"):
        return scenario_text(path[len("builtin:"):]), path
    try:
        with open(path, encoding="utf-8-sig") as f:       # a UTF-8 BOM is not a command
            text = f.read()
    except OSError as e:
        raise ScriptError(f"{path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ScriptError(f"{path}: not a text script (byte {e.start} is not UTF-8)") from None
    if "\0" in text:
        raise ScriptError(f"{path}: not a text script (it holds NUL bytes)")
    return text, path


def script_shell(lines, machine=None, config=None, seed=None, cmdline=None, pmem=None):
    """script_shell - the shell a script runs on: the options of its #!kmodel
    line, where the command line's do not win (--config adds to the header's)."""
    opts = parse_header(lines[0]) if lines else {}
    return Shell(machine or opts.get("machine", DEFAULT_PRESET),
                 (opts.get("config") or []) + list(config or []),
                 seed if seed is not None else opts.get("seed", 0),
                 cmdline if cmdline is not None else opts.get("cmdline", ""), pmem)


def run_text(text, out, machine=None, config=None, seed=None, name="script", cmdline=None,
             pmem=None):
    """run_text - run a script, writing the transcript to out; returns the exit status."""
    lines = text.splitlines()
    sh = script_shell(lines, machine, config, seed, cmdline, pmem)
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


def interactive(sh, inp=None, out=None):
    """The interactive prompt, with readline history when there is a terminal."""
    inp = inp or sys.stdin
    out = out or sys.stdout
    tty = inp.isatty()
    if tty:
        try:
            import readline
            hist = os.path.expanduser("~/.kmodel_history")
            try:
                readline.read_history_file(hist)
            except OSError:
                pass
            import atexit
            atexit.register(lambda: _save_history(readline, hist))
            readline.set_completer(Completer(sh).complete)
            readline.set_completer_delims(" \t=")
            readline.parse_and_bind("tab: complete")
        except ImportError:
            pass
        out.write(f"kmodel shell on {sh.k.spec.name} ({sh.k.num_online_cpus()} CPUs "
                  f"online). 'help' lists the commands, Ctrl-D leaves.\n")
    prompt = f"kmodel:{sh.k.spec.name}# "
    status = 0          # what `kmodel shell < file` exits with: as `kmodel run` would
    while True:
        try:
            line = input(prompt) if tty else inp.readline()
        except EOFError:
            out.write("\n")
            return status
        except KeyboardInterrupt:           # Ctrl-C at the prompt: a new line, as bash
            out.write("^C\n")
            continue
        if not tty and not line:
            return status
        line = line.strip().lstrip("\ufeff")
        if line in ("exit", "quit"):
            return status
        if not line or line.startswith("#"):
            continue
        if not tty:
            out.write(f"$ {line}\n")
        try:
            out.write(_execute_interruptibly(sh, line) if tty else sh.execute(line))
        except KeyboardInterrupt:           # Ctrl-C in a command: that command stops
            out.write("^C (interrupted; the kernel goes on)\n")
        except CommandFailed as e:
            out.write(f"{e}\n")
        except ExpectationFailed as e:
            out.write(f"{e}\n")
            status = max(status, 1)
        except ScriptError as e:
            out.write(f"{e}\n")
            status = 2 if not tty else status


def _execute_interruptibly(sh, line):
    """Run a command with Ctrl-C asking it to stop (sh.interrupted), so that a
    long one (storm) stops between two steps instead of inside a hotplug."""
    import signal
    sh.interrupted = False
    old = signal.signal(signal.SIGINT, lambda sig, frame: setattr(sh, "interrupted", True))
    try:
        return sh.execute(line)
    finally:
        signal.signal(signal.SIGINT, old)


class Completer:
    """readline's completer: the shell's own completions (Shell.completions)."""

    def __init__(self, sh):
        self.sh = sh
        self.matches = []

    def complete(self, text, state):
        if state == 0:
            import readline
            self.matches = self.sh.completions(readline.get_line_buffer(), text)
        return self.matches[state] if state < len(self.matches) else None


def _save_history(readline, path):
    try:
        readline.write_history_file(path)
    except OSError:
        pass


def cmd_run(args, out):
    text, name = load_script(args.script)
    try:
        if name.startswith("builtin:"):
            check_scenario_machine(text, name, args.machine)
        return run_text(text, out, args.machine, args.config, args.seed, name,
                        args.cmdline, args.pmem)
    except HeaderError as e:
        raise ScriptError(f"{name}: {e}") from None


def cmd_shell(args, out):
    sh = Shell(args.machine or DEFAULT_PRESET, args.config or (), args.seed or 0,
               args.cmdline or "", args.pmem)
    try:
        return interactive(sh, out=out)
    finally:
        sh.close()


def cmd_scenarios(args, out):
    if args.name:
        out.write(scenario_text(args.name.removeprefix("builtin:")))
        return 0
    for name in scenario_names():
        out.write(f"{name:<28} {scenario_title(scenario_text(name))}\n")
    out.write("\nrun one with: kmodel run builtin:NAME\n")
    return 0
