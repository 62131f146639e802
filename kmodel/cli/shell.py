"""The kmodel shell: Linux's paths and words on a booted emulated kernel.

One ``Shell`` serves the interactive prompt (``kmodel shell``), scripts
(``kmodel run``) and the explorer's script contexts (``kmodel explore``).
``execute(line)`` runs one command and returns its output.

The commands are a table (kmodel.cli.command.Command), one module a concept:
files and the log, modules, CPUs and contexts, the relay, expectations,
counters, storm, memhog.  Dispatch, ``help`` and tab completion are all read
off the table, so a command exists in one place.

- A command that the kernel refuses (a write error, a busy module) prints the
  error the way a Linux shell would and the script goes on; ``expect-fail``
  turns such a refusal into an expectation.
- A mistake in the script itself (an unknown command, a path that does not
  exist, a bad argument) raises ScriptError: ``kmodel run`` stops with exit 2.
- A failed ``expect`` raises ExpectationFailed: ``kmodel run`` stops with exit 1.
"""

from hw.topology import DEFAULT_PRESET
# The command modules: importing one registers its commands (kmodel.cli.command).
from kmodel.cli import (expect, shell_cpu, shell_files, shell_memhog,  # noqa: F401
                        shell_modules, shell_reboot, shell_relay, stat, storm)
from kmodel.cli.command import Command, command_table, register
from kmodel.cli.errors import ScriptError
from kmodel.cli.split import split_words
from kmodel.core.bug import Oops
from kmodel.session import Session

FOOTER = "Sizes take 4k, 16k, 1m; CPU lists take 0-3,6."


def cmd_help(sh, args):
    lines = [line for c in sh.commands.values() for line in c.help_lines()]
    return "\n".join(lines + [FOOTER]) + "\n"


register(Command("help", cmd_help, (("help", "this list"),)), group=1000)


class Shell:
    def __init__(self, machine=DEFAULT_PRESET, config=(), seed=0, cmdline="", pmem=None,
                 session=None, pmem_format=False):
        """A shell on a session (kmodel.session): the one given, or its own on
        machine (with config, seed, the kernel command line, and pmem, the
        host file behind the reserve_mem region cmdline asks for)."""
        self.session = session if session is not None else Session(
            machine, config, seed, cmdline, pmem, pmem_format=pmem_format)
        self.own_session = session is None
        self.interrupted = False        # Ctrl-C while a command runs (kmodel shell)
        self.commands = command_table()
        self.states = {}                # ShellState class -> its instance, this kernel's
        self.session.on_reboot(self.states.clear)

    @property
    def k(self):
        """The kernel the shell runs on (the session's, which a reboot replaces)."""
        return self.session.k

    @property
    def seed(self):
        return self.session.seed

    def state(self, cls):
        """state - the shell's cls (a ShellState of a command module): made on
        first use, dropped when the kernel goes."""
        st = self.states.get(cls)
        if st is None:
            st = self.states[cls] = cls()
        return st

    def close(self):
        if self.own_session:
            self.session.close()

    def reboot(self):
        """A hot reboot (Session.reboot): what the old kernel had, and what the
        commands kept about it, is gone; RAM is not cleared."""
        self.session.reboot()

    def split(self, line):
        try:
            return split_words(line)
        except ValueError as e:
            raise ScriptError(f"cannot parse: {e}") from None

    def execute(self, line):
        """execute - run one command line; returns its output text.

        An expect line keeps its value or regular expression as written (no
        shell quoting or backslash processing); everything else is split as a
        shell would split it."""
        head = line.split(None, 3)
        if head and head[0] == "expect":
            self.interrupted = False
            return self.run_words(head)
        self.interrupted = False        # a Ctrl-C before this command is not for it
        words = self.split(line)
        if not words:
            return ""
        return self.run_words(words)

    def steps(self, n):
        """steps - 0, 1, ... n-1: the steps of a command that repeats one
        (storm, relay write count=, relay consume count=, memhog), ending
        early, between two steps and never inside one, when Ctrl-C asked the
        command to stop (self.interrupted, which kmodel shell sets).  The
        command then says how far it got."""
        for i in range(n):
            if self.interrupted:
                return
            yield i

    def run_words(self, words):
        cmd = self.commands.get(words[0])
        if cmd is None:
            raise ScriptError(f"unknown command {words[0]!r} (try: help)")
        before = self.k.log.seq
        try:
            out = cmd.handler(self, words[1:])
        except Oops as e:
            # The kernel oopsed: show the report, as a console would, and go on.
            return "".join(line + "\n" for line in self.k.log.since(before)) + \
                f"Oops: {e}\n"
        return out or ""

    def completions(self, line, text):
        """completions - what tab completes text to, at the end of line: a
        command name first, then key=value choices the command declares, then
        pseudo-file paths."""
        words = line.split()
        if not words or (len(words) == 1 and not line.endswith(" ")):
            return sorted(c for c in self.commands if c.startswith(text))
        before = line[:len(line) - len(text)]
        cmd = self.commands.get(words[0])
        if cmd is not None and before.endswith("="):
            key = before[:-1].split()[-1] if before[:-1].split() else ""
            choices = cmd.values.get(key)
            return sorted(v for v in choices() if v.startswith(text)) if choices else []
        if not text.startswith("/"):
            return []
        head, _, stem = text.rpartition("/")
        node = self.k.fs.lookup(head or "/")
        if node is None or not hasattr(node, "children"):
            return []
        out = []
        for name in sorted(node.children):
            if name.startswith(stem):
                child = node.children[name]
                out.append(f"{head}/{name}" + ("/" if hasattr(child, "children") else ""))
        return out
