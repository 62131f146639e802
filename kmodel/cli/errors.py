"""The errors a user can cause, and how the CLI words them.

Each is a mistake in what was asked (a preset that does not exist, a path
that is not there), never a bug: the CLI prints one line and exits non-zero.
The shell's own three (a script error, a refused command, a failed
expectation) live here too, so that every command module can raise them
without importing the shell.
"""
from hw.topology import MachineError
from kmodel.core.kconfig import KconfigError
from kmodel.fs.vfs import FsError
from kmodel.kernel import BootError


def printable(text: str) -> str:
    """printable - text as a message may echo it to a terminal: every character
    that is not printable (an escape sequence in a file name, a bell, a
    newline) shown as Python writes it in a string ('\\x1b', '\\n')."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class UsageError(ValueError):
    """A bad argument to a kmodel command."""


class HostError(Exception):
    """The host refused what a command needs (no space left, a read-only file
    system, a worker process killed): an environment failure, not a bug; the
    message is the OS's words with the path.  Exit 2."""


class ScriptError(Exception):
    """A mistake in a shell command: unknown, or a bad path or argument.
    ``kmodel run`` stops with exit 2."""


class CommandFailed(Exception):
    """The kernel refused a command with an errno; the message is the shell's.
    A script goes on after one."""

    def __init__(self, errno, message):
        super().__init__(message)
        self.errno = abs(errno)


class ExpectationFailed(Exception):
    """An expect line that does not hold; the message says what was seen.
    ``kmodel run`` stops with exit 1."""


USER_ERRORS = (MachineError, KconfigError, FsError, BootError, UsageError, ScriptError,
               HostError)
