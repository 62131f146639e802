"""kmodel: the console script.  Parses arguments and dispatches to cli.*.

Each command is a module with its own ``add_parser(sub)``, which adds the
command's parser (its options, and its ``cmd_*`` function as ``func``) to the
top-level subparsers; COMMAND_MODULES lists them in the order ``kmodel --help``
shows them.

Exit status: 0 success, 1 a command that ran and failed, 2 a usage error.
A user's mistake prints one line, 'kmodel: error: ...'; a Python traceback
only with --debug.
"""
import argparse
import sys

from kmodel.cli import (bench, cat, crash_cmd, draw_cmd, explain, explore_cmd, machine_cmd,
                        machines, quiz, run, scenarios_cmd, shell_cmd, trace_cmd)
from kmodel.cli.errors import USER_ERRORS
from kmodel.core.bug import Oops

COMMAND_MODULES = (machines, machine_cmd, cat, shell_cmd, run, bench, draw_cmd, explain,
                   explore_cmd, trace_cmd, crash_cmd, quiz, scenarios_cmd)


def build_parser():
    p = argparse.ArgumentParser(prog="kmodel", description=(
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
        return args.func(args, out)
    except USER_ERRORS as e:
        if args.debug:
            raise
        print(f"kmodel: error: {e}", file=sys.stderr)
        return 2
    except Oops as e:
        if args.debug:
            raise
        print(f"kmodel: kernel oops: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as e:             # a bug in kmodel itself, not the user's doing
        if args.debug:
            raise
        print(f"kmodel: internal error: {type(e).__name__}: {e} "
              "(run with --debug for the traceback, and please report it)", file=sys.stderr)
        return 3
