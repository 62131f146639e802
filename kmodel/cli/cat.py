"""kmodel cat PATH: a pseudo-file of a freshly booted kernel."""
from hw.topology import DEFAULT_PRESET
from kmodel.kernel import boot


def cmd_cat(args, out):
    k = boot(args.machine, config=args.config or ())
    try:
        out.write(k.fs.read(args.path))
    finally:
        k.shutdown()
    return 0


def add_parser(sub):
    """add_parser - add ``kmodel cat PATH`` to sub, the subparsers of kmodel's
    top-level parser (kmodel.cli.main)."""
    s = sub.add_parser("cat", help="print a pseudo-file of a freshly booted kernel")
    s.add_argument("path", help="e.g. /proc/buddyinfo")
    s.add_argument("--machine", "-m", default=DEFAULT_PRESET, metavar="PRESET")
    s.add_argument("--config", action="append", metavar="CONFIG_X=y")
    s.set_defaults(func=cmd_cat)
