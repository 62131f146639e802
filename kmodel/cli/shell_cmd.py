"""kmodel shell: an interactive prompt on a booted kernel.

With a terminal: readline history (~/.kmodel_history), tab completion from
the shell's own table of commands, and Ctrl-C stopping the command running,
not the kernel.  Without one (``kmodel shell < FILE``), each command is echoed
after a ``$ `` prompt, and the exit status is what ``kmodel run`` would give:
1 when an expectation failed, 2 for a script error.
"""
import os
import sys

from hw.topology import DEFAULT_PRESET
from kmodel.cli.boot_options import add_boot_options
from kmodel.cli.errors import CommandFailed, ExpectationFailed, ScriptError
from kmodel.cli.shell import Shell


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
            line = read_command(inp, out, prompt, tty)
        except EOFError:                    # Ctrl-D at the prompt, or the pipe's end
            if tty:
                out.write("\n")
            return status
        except KeyboardInterrupt:           # Ctrl-C at the prompt: a new line, as bash
            out.write("^C\n")
            continue
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


def read_command(inp, out, prompt, tty):
    """read_command - the next line typed (or piped) in; EOFError at its end:
    Ctrl-D on an empty line of a terminal, or the end of a pipe or file.  On
    the process's own terminal, input() (readline's editing and history);
    on any other input that says it is a terminal, its own readline()."""
    if tty and inp is sys.stdin:
        return input(prompt)
    if tty:
        out.write(prompt)
        out.flush()
    line = inp.readline()
    if not line:
        raise EOFError
    return line


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


def cmd_shell(args, out):
    sh = Shell(args.machine or DEFAULT_PRESET, args.config or (), args.seed or 0,
               args.cmdline or "", args.pmem, pmem_format=args.pmem_format)
    try:
        return interactive(sh, out=out)
    finally:
        sh.close()


def add_parser(sub):
    """add_parser - add ``kmodel shell`` to sub, the subparsers of kmodel's
    top-level parser (kmodel.cli.main)."""
    s = sub.add_parser("shell", help="an interactive shell on a booted kernel")
    add_boot_options(s)
    s.set_defaults(func=cmd_shell)
