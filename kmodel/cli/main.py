"""kmodel: the console script.  Parses arguments and dispatches to cli.*.

Exit status: 0 success, 1 a command that ran and failed, 2 a usage error.
A user's mistake prints one line, 'kmodel: error: ...'; a Python traceback
only with --debug.
"""
import argparse
import sys

from hw.topology import DEFAULT_PRESET
from kmodel.cli.bench import cmd_bench
from kmodel.cli.cat import cmd_cat
from kmodel.cli.draw_cmd import cmd_draw
from kmodel.cli.explain import cmd_explain
from kmodel.cli import crash_cmd, explore_cmd, trace_cmd
from kmodel.cli.quiz import cmd_quiz
from kmodel.cli.setup_channel import add_channel_options
from kmodel.cli.errors import USER_ERRORS
from kmodel.cli.machines import (cmd_machine_check, cmd_machine_probe, cmd_machine_show,
                                 cmd_machines)
from kmodel.cli.run import cmd_run, cmd_scenarios, cmd_shell
from kmodel.core.bug import Oops


def build_parser():
    p = argparse.ArgumentParser(prog="kmodel", description=(
        "An emulated NUMA kernel for running, measuring and learning the page-list "
        "relay buffer."))
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    s = sub.add_parser("machines", help="list the machine presets")
    s.set_defaults(func=cmd_machines)

    s = sub.add_parser("machine", help="show a machine's topology (numactl --hardware), "
                       "or probe this host")
    msub = s.add_subparsers(dest="machine_command", metavar="show|probe|check")
    msub.required = True
    show = msub.add_parser("show", help="print a preset's topology")
    show.add_argument("preset", nargs="?", default=DEFAULT_PRESET)
    show.set_defaults(func=cmd_machine_show)
    probe = msub.add_parser("probe", help="write a preset for this host: topology and caches "
                            "from /sys, copy bandwidth measured")
    probe.add_argument("-o", "--output", metavar="FILE", help="write it here (default: stdout)")
    probe.add_argument("--name", default="host", help="the preset's name (default: host)")
    probe.set_defaults(func=cmd_machine_probe)
    check = msub.add_parser("check", help="the model's predictions beside published figures")
    check.add_argument("preset")
    check.set_defaults(func=cmd_machine_check)

    s = sub.add_parser("cat", help="print a pseudo-file of a freshly booted kernel")
    s.add_argument("path", help="e.g. /proc/buddyinfo")
    s.add_argument("--machine", "-m", default=DEFAULT_PRESET, metavar="PRESET")
    s.add_argument("--config", action="append", metavar="CONFIG_X=y")
    s.set_defaults(func=cmd_cat)

    s = sub.add_parser("shell", help="an interactive shell on a booted kernel")
    s.add_argument("--machine", "-m", metavar="PRESET")
    s.add_argument("--config", action="append", metavar="CONFIG_X=y")
    s.add_argument("--seed", type=int)
    add_boot_options(s)
    s.set_defaults(func=cmd_shell)

    s = sub.add_parser("run", help="run a script of shell commands (or builtin:NAME)")
    s.add_argument("script")
    s.add_argument("--machine", "-m", metavar="PRESET")
    s.add_argument("--config", action="append", metavar="CONFIG_X=y")
    s.add_argument("--seed", type=int)
    add_boot_options(s)
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("bench", help="compare the page list with vmap: host time and "
                       "modeled cost")
    s.add_argument("--quick", action="store_true", help="fewer sizes and rounds (< 1 min)")
    s.add_argument("--machine", "-m", action="append", metavar="PRESET",
                   help="presets for the modeled cost (repeatable; default "
                   "xeon-2s-skylake and nehalem-2009)")
    s.add_argument("--json", metavar="F", help="write all results as JSON")
    s.add_argument("--markdown", metavar="F", help="write the report as Markdown")
    s.add_argument("--plot", metavar="F.png", help="draw host time and modeled cycles "
                   "(needs matplotlib)")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("draw", help="a picture of a relay channel")
    s.add_argument("name", help="the channel's name")
    add_channel_options(s)
    s.add_argument("--access", action="append", metavar="[r]OFFSET:LEN",
                   help="a write (or, with r, a read) to make first; repeatable")
    s.add_argument("--all-cpus", action="store_true", help="every CPU, not just --cpu")
    s.add_argument("--max-pages", type=int, default=8, help="pages shown per buffer")
    s.add_argument("--script", help="a script (or builtin:NAME) that opens the channel; "
                   "drawn when it ends, or just before it closes the channel")
    s.set_defaults(func=cmd_draw)

    s = sub.add_parser("explain", help="one read or write, step by step, with its cost")
    s.add_argument("op", choices=["write", "read"])
    s.add_argument("offset")
    s.add_argument("length")
    add_channel_options(s)
    s.add_argument("--before", action="append", metavar="[r]OFFSET:LEN",
                   help="an access to make first (moves the cache pointers); repeatable")
    s.set_defaults(func=cmd_explain)

    explore_cmd.add_parser(sub)
    trace_cmd.add_parser(sub)
    crash_cmd.add_parser(sub)

    s = sub.add_parser("quiz", help="exercises with answers (-c), OSTEP style")
    s.add_argument("topic", nargs="?", help="walk, cache, buddy, hotplug, placement")
    s.add_argument("-s", "--seed", type=int, default=0)
    s.add_argument("-c", "--compute", action="store_true", help="print the answers")
    s.set_defaults(func=cmd_quiz)

    s = sub.add_parser("scenarios", help="list the built-in scenarios, or print one")
    s.add_argument("name", nargs="?", help="print this scenario's script (to copy and adapt)")
    s.set_defaults(func=cmd_scenarios)
    return p


def add_boot_options(s):
    s.add_argument("--cmdline", metavar="PARAMS",
                   help="kernel command line, e.g. 'reserve_mem=4M:4096:trace'")
    s.add_argument("--pmem", metavar="FILE",
                   help="a host file behind the reserve_mem region: it outlives the "
                        "emulator (kill -9 is a crash; the next run is the next boot)")


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
