"""BUG, WARN_ON and oopses (include/asm-generic/bug.h, kernel/panic.c).

A kernel bug found by a check (a double free, a write past a buffer's end)
raises :class:`Oops` after logging a kernel-style report.  The code that
detects it must have left its data structures as they were, so a test or a
shell can carry on after the oops.  WARN_ON logs and records the warning with
its caller and carries on, as in the kernel.
"""
import os
import sys
from dataclasses import dataclass
from typing import NoReturn

from kmodel.core.printk import KERN_EMERG, KERN_WARNING

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Oops(Exception):
    """A kernel oops: the emulated kernel hit a bug.  str() is the report's head."""


class KernelGone(RuntimeError):
    """A kernel object (a channel, a buffer) used after its kernel shut down:
    its memory is gone with the kernel.  A program's mistake, not the kernel's."""


@dataclass(frozen=True)
class WarnRecord:
    file: str
    line: int
    func: str
    message: str


def _where(depth):
    f = sys._getframe(depth + 1)
    path = os.path.relpath(f.f_code.co_filename, _ROOT)
    return path, f.f_lineno, f.f_code.co_name


class Bug:
    """The per-kernel BUG/WARN machinery: writes to the kernel's log."""

    def __init__(self, log):
        self.log = log
        self.warnings = []
        self.oopses = []
        self.tainted = False

    def WARN_ON(self, condition, depth=1):
        """WARN_ON - if condition, log a warning naming the caller; returns condition."""
        if condition:
            self._warn("", depth + 1)
        return condition

    def WARN(self, condition, msg, depth=1):
        """WARN - WARN_ON with a message printed before the report."""
        if condition:
            self._warn(msg, depth + 1)
        return condition

    def _warn(self, msg, depth):
        path, line, func = _where(depth)
        self.log.printk(KERN_WARNING + "------------[ cut here ]------------")
        self.log.printk(KERN_WARNING + f"WARNING: at {path}:{line} {func}()")
        if msg:
            self.log.printk(KERN_WARNING + msg)
        self.log.printk(KERN_WARNING + f"---[ end trace {len(self.warnings) + 1:016x} ]---")
        self.warnings.append(WarnRecord(path, line, func, msg))
        self.tainted = True

    def oops(self, headline, details=(), depth=1) -> NoReturn:
        """oops - log a kernel-style oops report and raise Oops(headline)."""
        path, line, func = _where(depth)
        self.log.printk(KERN_EMERG + headline)
        for d in details:
            self.log.printk(KERN_EMERG + d)
        self.log.printk(KERN_EMERG + f"RIP: {func}() at {path}:{line}")
        self.log.printk(KERN_EMERG + f"---[ end trace {len(self.oopses) + 1:016x} ]---")
        self.oopses.append(headline)
        self.tainted = True
        raise Oops(headline)

    def BUG(self, reason="", depth=1):
        """BUG - 'kernel BUG at file:line!' and an oops."""
        path, line, _ = _where(depth)
        self.oops(f"kernel BUG at {path}:{line}!", (reason,) if reason else (), depth + 1)
