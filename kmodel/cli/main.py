"""kmodel: the console script.  Parses arguments and dispatches to cli.*.

Each command is a module with its own ``add_parser(sub)``, which adds the
command's parser (its options, and its ``cmd_*`` function as ``func``) to the
top-level subparsers; COMMAND_MODULES lists them in the order ``kmodel --help``
shows them.

Exit status: 0 success, 1 a command that ran and failed, 2 a usage error or
what the host refused (no space left, a read-only place: in the OS's words),
3 a bug in kmodel, 130 and 143 a job stopped by SIGINT or SIGTERM.
A user's mistake prints one line, 'kmodel: error: ...'; a Python traceback
only with --debug.
"""
import argparse
import errno
import sys

from kmodel.cli import (bench, cat, crash_cmd, draw_cmd, explain, explore_cmd, machine_cmd,
                        machines, quiz, run, scenarios_cmd, shell_cmd, trace_cmd)
from kmodel.cli.errors import USER_ERRORS, printable
from kmodel.cli.signals import Terminated, exit_status, signal_name, stop_on_sigterm
from kmodel.core.bug import Oops

# What the host says when it, not kmodel, is at fault: reported in its words
# with the file's name, exit 2.
HOST_ERRNOS = frozenset((errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO,
                         errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EACCES, errno.EPERM))

COMMAND_MODULES = (machines, machine_cmd, cat, shell_cmd, run, bench, draw_cmd, explain,
                   explore_cmd, trace_cmd, crash_cmd, quiz, scenarios_cmd)


class KmodelParser(argparse.ArgumentParser):
    """argparse's parser, with a usage mistake worded as every other one: one
    line, 'kmodel: error: COMMAND: ...', exit 2 (argparse prints the whole
    usage first).  Subcommands' parsers are of the same class."""

    def error(self, message):
        where = self.prog.removeprefix("kmodel").strip()
        message = printable(message)
        self.exit(2, f"kmodel: error: {where + ': ' if where else ''}{message} "
                     f"(kmodel {where + ' ' if where else ''}--help)\n")


def build_parser():
    p = KmodelParser(prog="kmodel", description=(
        "An emulated NUMA kernel for running, measuring and learning the page-list "
        "relay buffer."))
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMAND_MODULES:
        module.add_parser(sub)
    return p


def main(argv=None, out=None):
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with stop_on_sigterm():
            return args.func(args, out)
    except USER_ERRORS as e:
        if args.debug:
            raise
        print(f"kmodel: error: {printable(str(e))}", file=sys.stderr)
        return 2
    except Oops as e:
        if args.debug:
            raise
        print(f"kmodel: kernel oops: {printable(str(e))}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except (KeyboardInterrupt, Terminated) as e:
        print(f"kmodel: stopped by {signal_name(e)}", file=sys.stderr)
        return exit_status(e)
    except Exception as e:             # a bug in kmodel itself, not the user's doing
        if args.debug:
            raise
        if isinstance(e, OSError) and e.errno in HOST_ERRNOS:    # ... or the host's
            where = f"{e.filename}: " if e.filename is not None else ""
            print(f"kmodel: error: {printable(where)}{e.strerror}", file=sys.stderr)
            return 2
        print(f"kmodel: internal error: {type(e).__name__}: {printable(str(e))} "
              "(run with --debug for the traceback, and please report it)", file=sys.stderr)
        return 3
