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
from kmodel.cli import (expect, shell_cpu, shell_files, shell_memhog, shell_modules,
                        shell_reboot, shell_relay, stat, storm)
from kmodel.cli.command import Command
from kmodel.cli.errors import ScriptError
from kmodel.cli.split import split_words
from kmodel.core.bug import Oops
from kmodel.kernel import boot, make_machine

FOOTER = "Sizes take 4k, 16k, 1m; CPU lists take 0-3,6."


def cmd_help(sh, args):
    lines = [line for c in sh.commands.values() for line in c.help_lines()]
    return "\n".join(lines + [FOOTER]) + "\n"


COMMANDS = (shell_files.COMMANDS + shell_modules.COMMANDS + shell_relay.COMMANDS +
            stat.COMMANDS + expect.COMMANDS + storm.COMMANDS + shell_cpu.COMMANDS +
            shell_memhog.COMMANDS + shell_reboot.COMMANDS +
            [Command("help", cmd_help, (("help", "this list"),))])


class Shell:
    def __init__(self, machine=DEFAULT_PRESET, config=(), seed=0, cmdline="", pmem=None):
        """A shell on a kernel booted on a machine (hw.machine) that the shell
        keeps across reboots; pmem is the host file behind the reserve_mem
        region cmdline asks for."""
        self.hw = make_machine(machine, pmem)
        try:
            self.k = boot(self.hw, config=config, seed=seed, cmdline=cmdline)
        except BaseException:
            self.hw.close()
            raise
        self.machine = machine
        self.config = list(config)
        self.cmdline = cmdline
        self.seed = seed
        self.channels = {}              # name -> rchan
        self.cursors = {}               # (name, cpu) -> next write offset
        self.stat_base = None
        self.hogged = []                # pages held by memhog
        self.layers = {}                # name -> rb_channel, for layer= channels
        self.reserved = {}              # (name, cpu) -> a reservation held by the shell
        self.interrupted = False        # Ctrl-C while a command runs (kmodel shell)
        self.commands = {c.name: c for c in COMMANDS}

    def close(self):
        self.k.shutdown()
        self.hw.close()

    def reboot(self):
        """A hot reboot: a new kernel on the same machine.  What the old kernel
        had (channels, modules, memhog's pages) is gone with it; RAM is not
        cleared, and a reserve_mem region at the same place is found intact."""
        self.k.shutdown()
        self.channels, self.cursors, self.layers, self.reserved = {}, {}, {}, {}
        self.hogged, self.stat_base = [], None
        self.k = boot(self.hw, config=self.config, seed=self.seed, cmdline=self.cmdline)

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
            return self.run_words(head)
        words = self.split(line)
        if not words:
            return ""
        return self.run_words(words)

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
