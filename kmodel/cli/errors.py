"""The errors a user can cause, and how the CLI words them.

Each is a mistake in what was asked (a preset that does not exist, a path
that is not there), never a bug: the CLI prints one line and exits non-zero.
"""
from hw.topology import MachineError
from kmodel.core.kconfig import KconfigError
from kmodel.fs.vfs import FsError
from kmodel.kernel import BootError
from kmodel.cli.shell import ScriptError


class UsageError(ValueError):
    """A bad argument to a kmodel command."""


USER_ERRORS = (MachineError, KconfigError, FsError, BootError, UsageError, ScriptError)
