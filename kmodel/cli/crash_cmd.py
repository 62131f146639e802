"""kmodel crash extract FILE -o DIR: a pmem region file to a CTF trace, no kernel.

Exit status: 0 when the region was read (losses and dropped sub-buffers are
reported, and are not an error: they are what the crash left); 2 when the
file is not a region this kmodel can read, with the field and its offset.
"""
from kmodel.cli.errors import UsageError
from kmodel.consumer.crash import CrashError, crash_extract, extract_report


def cmd_crash_extract(args, out):
    try:
        scan = crash_extract(args.file, args.output)
    except CrashError as e:
        raise UsageError(str(e)) from None
    out.write(extract_report(scan, args.file, args.output))
    return 0


def add_parser(sub):
    """add_parser - add ``kmodel crash extract FILE -o DIR`` to sub, the subparsers of
    kmodel's top-level parser (kmodel.cli.main)."""
    s = sub.add_parser("crash", help="read the trace a crashed kernel left in a pmem region")
    csub = s.add_subparsers(dest="crash_command", required=True, metavar="COMMAND")
    e = csub.add_parser("extract", help="write a region file's trace as CTF (lttng-crash)")
    e.add_argument("file", help="the --pmem file of the dead kernel")
    e.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="where to write the trace (made if missing; must be empty)")
    e.set_defaults(func=cmd_crash_extract)
