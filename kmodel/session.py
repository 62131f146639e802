"""A session: a machine, the kernel booted on it, its reboots and scripted writes.

Everything above the kernel that runs one (the shell, ``trace record``, the
explorer, the Python API's ``explore``) builds on a ``Session``, so none of
them boots kernels its own way and nothing below the CLI needs the CLI.  A
session owns:

- the machine (hw.machine.Machine): its RAM, one memfd per node, and the
  ``--pmem`` file behind a reserved region, all of which outlive a kernel;
- the kernel booted on it, one at a time (``k``), with its config, seed and
  command line, and ``reboot()``, a hot reboot: a new kernel on the same
  machine, RAM not cleared;
- what a script does to the kernel from outside while it runs: lines
  ``echo VALUE > PATH`` that write a pseudo-file, as a user's shell does
  (``/sys/devices/system/cpu/cpuN/online``, ``/sys/power/state``, the fault
  injection files), parsed before anything runs (``parse_hotplug``: a line of
  another shape is refused then) and refused, when the kernel refuses them,
  with the words a Linux shell prints (``write``).  A file is looked up when
  its line runs, not before: an earlier line may make it (a CPU made present
  through /sys/devices/system/cpu/probe gets its online file then).

Those who keep state about one kernel register ``on_reboot`` to drop it
when that kernel goes.
"""
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from hw.machine import Machine
from hw.topology import DEFAULT_PRESET
from kmodel.core.errno import ENOENT, strerror
from kmodel.fs.vfs import FsError
from kmodel.kernel import Kernel, boot, make_machine

__all__ = ["Session", "ScriptedWrite", "WriteRefused", "HotplugScriptError",
           "parse_hotplug", "parse_echo"]

ECHO = re.compile(r"echo\s+(.*?)\s*>>?\s*(\S+)")     # >> too: sysfs has no append


class WriteRefused(Exception):
    """The kernel refused a pseudo-file write; str() is what a shell prints.
    ``errno`` is positive; ENOENT when the file does not exist."""

    def __init__(self, errno: int, message: str):
        super().__init__(message)
        self.errno = errno


class HotplugScriptError(ValueError):
    """A hotplug script that cannot be run: the message names the line."""


@dataclass(frozen=True)
class ScriptedWrite:
    """One line of a hotplug script: at tick, echo value > path."""
    tick: int
    value: str
    path: str
    text: str                           # the command as written
    where: str                          # "NAME:LINE", for messages


def parse_echo(command: str) -> tuple[str, str] | None:
    """parse_echo - (value, path) of a command 'echo VALUE > PATH', or None."""
    m = ECHO.fullmatch(command.strip())
    return (m.group(1), m.group(2)) if m else None


def parse_hotplug(text: str, name: str = "hotplug script") -> list[ScriptedWrite]:
    """parse_hotplug - the writes of a script of lines 'TICK echo VALUE > PATH'
    ('#' starts a comment), in tick order (lines of one tick in script order).
    A line of any other shape is a HotplugScriptError naming it."""
    out = []
    for no, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        tick, _, cmd = s.partition(" ")
        try:
            t = int(tick)
        except ValueError:
            t = -1
        if t < 0 or not cmd.strip():
            raise HotplugScriptError(f"{name}:{no}: expected 'TICK COMMAND', got {s!r}")
        echo = parse_echo(cmd)
        if echo is None:
            raise HotplugScriptError(
                f"{name}:{no}: {cmd.strip()!r}: a hotplug script writes pseudo-files, "
                "'TICK echo VALUE > PATH' (for example "
                "'5 echo 0 > /sys/devices/system/cpu/cpu3/online')")
        out.append(ScriptedWrite(t, echo[0], echo[1], cmd.strip(), f"{name}:{no}"))
    return sorted(out, key=lambda w: w.tick)


class Session:
    """A machine and the kernel booted on it (docs/architecture.md)."""

    def __init__(self, machine: Any = DEFAULT_PRESET, config: Iterable[str] = (), seed: int = 0,
                 cmdline: str = "", pmem: str | None = None, maxcpus: int | None = None,
                 pmem_format: bool = False):
        """A kernel booted on a new machine of preset (or file, or MachineSpec)
        machine; pmem is the host file behind the reserve_mem region cmdline
        asks for (refused if it holds something that is not a kmodel region,
        unless pmem_format).  A BootError (nothing left open) if it cannot boot."""
        self.machine: Machine = make_machine(machine, pmem, pmem_format)
        self.config: list[str] = list(config)
        self.seed = seed
        self.cmdline = cmdline or ""
        self.maxcpus = maxcpus
        self._on_reboot: list[Callable[[], None]] = []
        try:
            self.k: Kernel = self._boot()
        except BaseException:
            self.machine.close()
            raise

    def _boot(self) -> Kernel:
        return boot(self.machine, config=self.config, seed=self.seed, maxcpus=self.maxcpus,
                    cmdline=self.cmdline)

    def on_reboot(self, fn: Callable[[], None]) -> None:
        """on_reboot - call fn when the kernel goes (before the next boots)."""
        self._on_reboot.append(fn)

    def reboot(self) -> Kernel:
        """reboot - a hot reboot: the kernel goes, with its channels, modules and
        pages; a new one boots on the same machine with the same config and
        command line.  RAM is not cleared, so a reserve_mem region is found
        where the last kernel left it."""
        self.k.shutdown()
        for fn in self._on_reboot:
            fn()
        self.k = self._boot()
        return self.k

    def close(self) -> None:
        """close - shut the kernel down and give the machine's memory back."""
        self.k.shutdown()
        self.machine.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- pseudo-file writes, as a user's shell makes them -------------------------
    def write(self, path: str, value: str) -> None:
        """write - echo value > path: WriteRefused with the shell's words if the
        kernel refuses it (or the file does not exist)."""
        try:
            self.k.fs.write(path, value + "\n")
        except FsError as e:
            if e.errno == ENOENT:
                raise WriteRefused(ENOENT, f"echo: {path}: No such file or directory") from None
            raise WriteRefused(e.errno, f"sh: echo: write error: {strerror(e.errno)}") from None
