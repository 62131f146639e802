"""The kmodel shell: Linux's paths and words on a booted emulated kernel.

One ``Shell`` serves the interactive prompt (``kmodel shell``) and scripts
(``kmodel run``).  ``execute(line)`` runs one command and returns its output.

- A command that the kernel refuses (a write error, a busy module) prints the
  error the way a Linux shell would and the script goes on; ``expect-fail``
  turns such a refusal into an expectation.
- A mistake in the script itself (an unknown command, a path that does not
  exist, a bad argument) raises ScriptError: ``kmodel run`` stops with exit 2.
- A failed ``expect`` raises ExpectationFailed: ``kmodel run`` stops with exit 1.
"""
import re
import shlex

from hw.units import parse_size
from kmodel.core.bug import Oops
from kmodel.core.errno import ENOENT, errno_name, errno_value, strerror
from kmodel.fs.vfs import FsError
from kmodel.kernel import boot


class ScriptError(Exception):
    """A mistake in a command: unknown, or a bad path or argument."""


class CommandFailed(Exception):
    """The kernel refused a command with an errno; the message is the shell's."""

    def __init__(self, errno, message):
        super().__init__(message)
        self.errno = abs(errno)


class ExpectationFailed(Exception):
    """An expect line that does not hold; the message says what was seen."""


def parse_kv(args, allowed, required=()):
    """parse_kv - ['a=1', 'b=x'] -> {'a': '1', 'b': 'x'}; ScriptError on anything else."""
    out = {}
    for a in args:
        key, eq, value = a.partition("=")
        if not eq or key not in allowed:
            raise ScriptError(f"unexpected argument {a!r} (takes {', '.join(allowed)})")
        out[key] = value
    missing = [r for r in required if r not in out]
    if missing:
        raise ScriptError(f"missing {', '.join(m + '=' for m in missing)}")
    return out


def _arg(kv, key, default, parse):
    if key not in kv:
        if default is None:
            raise ScriptError(f"missing {key}=")
        return default
    try:
        return parse(kv[key])
    except ValueError as e:
        raise ScriptError(f"{key}: {e}") from None


def arg_size(kv, key, default=None):
    """arg_size - kv[key] as a size ('16k'), or default; ScriptError if bad or missing."""
    return _arg(kv, key, default, parse_size)


def arg_int(kv, key, default=None):
    """arg_int - kv[key] as an integer (0x allowed), or default."""
    return _arg(kv, key, default, _parse_int)


def _parse_int(text):
    try:
        return int(text, 0)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


class Shell:
    def __init__(self, machine="numa2", config=(), seed=0):
        self.k = boot(machine, config=config, seed=seed)
        self.machine = machine
        self.seed = seed
        self.channels = {}              # name -> rchan
        self.cursors = {}               # (name, cpu) -> next write offset
        self.stat_base = None
        self.commands = {
            "cat": self.cmd_cat, "echo": self.cmd_echo, "ls": self.cmd_ls,
            "dmesg": self.cmd_dmesg, "insmod": self.cmd_insmod, "rmmod": self.cmd_rmmod,
            "lsmod": self.cmd_lsmod, "stat": self.cmd_stat, "leaks": self.cmd_leaks,
            "expect": self.cmd_expect, "expect-fail": self.cmd_expect_fail,
            "relay": self.cmd_relay, "storm": self.cmd_storm, "help": self.cmd_help,
            "memhog": self.cmd_memhog, "taskset": self.cmd_taskset,
            "irq": lambda a: self.run_interrupt("hardirq", a),
            "softirq": lambda a: self.run_interrupt("softirq", a),
            "nmi": lambda a: self.run_interrupt("nmi", a),
            "contexts": self.cmd_contexts,
        }
        self.hogged = []                # pages held by memhog

    def close(self):
        self.k.shutdown()

    def cmd_taskset(self, args):
        """taskset -c CPU COMMAND...: run one command on that CPU (the opener of a
        channel, the CPU that runs a hotplug operation or allocates memory)."""
        if len(args) < 3 or args[0] != "-c":
            raise ScriptError("taskset -c CPU COMMAND...")
        try:
            cpu = int(args[1])
        except ValueError:
            raise ScriptError(f"taskset: bad CPU {args[1]!r}") from None
        k = self.k
        if not k.cpu_online(cpu):
            raise CommandFailed(22, f"taskset: failed to set pid's affinity: CPU {cpu} "
                                "is not online")
        with k.on_cpu(cpu):
            return self.run_words(args[2:])

    def run_interrupt(self, kind, args):
        """irq|softirq|nmi CPU COMMAND...: run one command as an interrupt of
        that kind on CPU, nested on what the CPU runs (see docs/concurrency.md)."""
        from kmodel.cpu.context import ContextError, context_enter, context_exit
        if len(args) < 2:
            raise ScriptError(f"{kind if kind != 'hardirq' else 'irq'} CPU COMMAND...")
        try:
            cpu = int(args[0])
        except ValueError:
            raise ScriptError(f"bad CPU {args[0]!r}") from None
        k = self.k
        if cpu not in k.cpu_possible_mask:
            raise ScriptError(f"CPU {cpu} is not a possible CPU "
                              f"({k.cpu_possible_mask.cpulist()})")
        saved = k.current
        try:
            ctx = context_enter(k, cpu, kind, "sh")
        except ContextError as e:
            raise ScriptError(f"an interrupt on CPU {cpu}: {e}") from None
        try:
            return self.run_words(args[1:])
        finally:
            context_exit(k, ctx)
            k.current = saved if k.cpu_online(saved.cpu) else k.cpu_exec[k.boot_cpu].top

    def cmd_contexts(self, args):
        """contexts: each online CPU's context stack, bottom to top."""
        from kmodel.cpu.context import format_stacks
        if args:
            raise ScriptError("contexts takes no argument")
        return "".join(line + "\n" for line in format_stacks(self.k))

    def cmd_memhog(self, args):
        """taskset -c CPU COMMAND...         run a command on that CPU (e.g. who opens a channel)
memhog node=N size=SIZE | memhog free: hold (or release) a node's memory,
        as a user program bound to the node would (numactl --membind=N memhog)."""
        from kmodel.mm.gfp import GFP_USER, GFPF_NOWARN, GFPF_THISNODE
        k = self.k
        if args == ["free"]:
            n = len(self.hogged)
            for page in self.hogged:
                k.page_alloc.free_page(page)
            self.hogged = []
            return f"memhog: released {n} pages\n"
        kv = parse_kv(args, ("node", "size"), ("node", "size"))
        nid, size = arg_int(kv, "node"), arg_size(kv, "size")
        if not 0 <= nid < k.spec.nr_nodes:
            raise ScriptError(f"memhog: node {nid} does not exist (0-{k.spec.nr_nodes - 1})")
        got = 0
        for _ in range(size >> 12):
            page = k.alloc_pages_node(nid, GFP_USER | GFPF_THISNODE | GFPF_NOWARN, 0)
            if page is None:
                break
            self.hogged.append(page)
            got += 1
        free = k.page_alloc.zones[nid].free_pages
        return f"memhog: holding {got} pages of node {nid}; {free} pages left free there\n"

    # --- dispatch ------------------------------------------------------------
    def split(self, line):
        try:
            words = shlex.split(line, comments=False, posix=True)
        except ValueError as e:
            raise ScriptError(f"cannot parse: {e}") from None
        return words

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
        fn = self.commands.get(words[0])
        if fn is None:
            raise ScriptError(f"unknown command {words[0]!r} (try: help)")
        before = self.k.log.seq
        try:
            out = fn(words[1:])
        except Oops as e:
            # The kernel oopsed: show the report, as a console would, and go on.
            return "".join(line + "\n" for line in self.k.log.since(before)) + \
                f"Oops: {e}\n"
        return out or ""

    # --- files ---------------------------------------------------------------
    def _fs_error(self, cmd, e):
        if e.errno == ENOENT:
            raise ScriptError(f"{cmd}: {e.path}: No such file or directory")
        raise CommandFailed(e.errno, f"{cmd}: {e.path}: {strerror(e.errno)}")

    def cmd_cat(self, args):
        if not args:
            raise ScriptError("cat: which file?")
        out = []
        for path in args:
            try:
                out.append(self.k.fs.read(path))
            except FsError as e:
                self._fs_error("cat", e)
        return "".join(out)

    def cmd_echo(self, args):
        text = " ".join(args)
        m = re.fullmatch(r"(.*?)\s*>\s*(\S+)", text)
        if not m:
            return text + "\n"
        value, path = m.group(1), m.group(2)
        try:
            self.k.fs.write(path, value + "\n")
        except FsError as e:
            if e.errno == ENOENT:
                raise ScriptError(f"echo: {path}: No such file or directory") from None
            raise CommandFailed(e.errno, f"sh: echo: write error: {strerror(e.errno)}")
        return ""

    def cmd_ls(self, args):
        path = args[0] if args else "/"
        try:
            names = self.k.fs.listdir(path)
        except FsError as e:
            self._fs_error("ls", e)
        return "".join(n + "\n" for n in names)

    def cmd_dmesg(self, args):
        if args not in ([], ["-c"]):
            raise ScriptError("dmesg takes no argument but -c")
        text = self.k.log.text()
        if args == ["-c"]:
            self.k.log.clear()
        return text

    # --- modules -------------------------------------------------------------
    def cmd_insmod(self, args):
        if not args:
            raise ScriptError("insmod: which module? (" +
                              ", ".join(self.k.modules.available()) + ")")
        name, params = args[0], {}
        for a in args[1:]:
            key, eq, value = a.partition("=")
            if not eq:
                raise ScriptError(f"insmod: bad parameter {a!r} (expected name=value)")
            params[key] = value
        if name.replace("-", "_") not in self.k.modules.available():
            raise ScriptError(f"insmod: no module {name!r} (modules: "
                              + ", ".join(self.k.modules.available()) + ")")
        err = self.k.modules.insmod(name, params)
        if err:
            raise CommandFailed(err, f"insmod: ERROR: could not insert module {name}: "
                                f"{strerror(err)}")
        return ""

    def cmd_rmmod(self, args):
        if len(args) != 1:
            raise ScriptError("rmmod: which module?")
        err = self.k.modules.rmmod(args[0])
        if err:
            raise CommandFailed(err, f"rmmod: ERROR: could not remove module {args[0]}: "
                                f"{strerror(err)}")
        return ""

    def cmd_lsmod(self, args):
        return self.k.modules.lsmod()

    # --- counters ------------------------------------------------------------
    def cmd_stat(self, args):
        if args not in ([], ["-c"]):
            raise ScriptError("stat takes no argument but -c")
        from kmodel.cli.stat import format_stat, stat_delta
        now = self.k.timing.totals()
        out = format_stat(self.k, stat_delta(now, self.stat_base))
        if args == ["-c"]:
            self.stat_base = now
        return out

    def cmd_leaks(self, args):
        leaks = self.k.leaks()
        if not leaks:
            return "no leaks\n"
        return "".join(f"{caller}: {p} pages, {o} objects ({b} bytes)\n"
                       for caller, (p, o, b) in sorted(leaks.items()))

    # --- expectations --------------------------------------------------------
    def cmd_expect(self, args):
        from kmodel.cli.expect import expect
        return expect(self, args)

    def cmd_expect_fail(self, args):
        if len(args) < 2:
            raise ScriptError("expect-fail ERRNO COMMAND...")
        try:
            want = errno_value(args[0])
        except ValueError as e:
            raise ScriptError(str(e)) from None
        try:
            self.run_words(args[1:])
        except CommandFailed as e:
            if e.errno != want:
                raise ExpectationFailed(f"expected {errno_name(want)}, got "
                                        f"{errno_name(e.errno)} ({e})") from None
            return f"{e}\n"
        raise ExpectationFailed(f"expected {errno_name(want)}, but the command succeeded")

    # --- relay and storm -----------------------------------------------------
    def cmd_relay(self, args):
        from kmodel.cli.shell_relay import relay_command
        return relay_command(self, args)

    def cmd_storm(self, args):
        from kmodel.cli.storm import storm
        return storm(self, args)

    def cmd_help(self, args):
        return HELP


HELP = """\
cat PATH...                      print pseudo-files
echo VALUE > PATH                write a pseudo-file
ls [PATH]                        list a directory
dmesg [-c]                       the kernel log (-c: and clear it)
insmod NAME [param=value...]     load ltt_relay_alloc or cpu-notifier-error-inject
rmmod NAME / lsmod               unload / list modules
relay open NAME subbuf_size=16k n_subbufs=4 [backend=pagelist|vmap|static]
                                 [placement=local|opener] [files=no]
relay write NAME [cpu=N] (data=TEXT | bytes=N) [offset=N] [count=N]
relay read NAME cpu=N offset=N len=N
relay show NAME [cpu=LIST]       a picture of the channel
relay close NAME
stat [-c]                        modeled counters since boot (or the last stat -c)
leaks                            what is still allocated since boot, by caller
expect PATH == VALUE | PATH ~ REGEX | dmesg ~ REGEX | leaks == 0
expect-fail ERRNO COMMAND...     the command must fail with that errno
storm cpus=LIST steps=N seed=S [suspend=P]
                                 random hotplug, checking invariants each step
taskset -c CPU COMMAND...         run a command on that CPU (e.g. who opens a channel)
memhog node=N size=SIZE | memhog free
                                 hold a node's memory (like numactl memhog)
irq|softirq|nmi CPU COMMAND...   run a command as an interrupt on that CPU
contexts                         each CPU's contexts, task first
Sizes take 4k, 16k, 1m; CPU lists take 0-3,6.
"""
