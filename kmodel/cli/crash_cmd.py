"""kmodel crash extract FILE -o DIR: a pmem region file to a CTF trace, no kernel.
kmodel crash export FILE -o DIR: the same region laid out for LTTng's lttng-crash.

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


def cmd_crash_export(args, out):
    from kmodel.consumer.crash_abi import crash_export
    try:
        n, skipped = crash_export(args.file, args.output, args.mode == "overwrite")
    except CrashError as e:
        raise UsageError(str(e)) from None
    for why in skipped:
        out.write(f"{args.file}: {why}: left out (damaged: not a buffer lttng-crash "
                  "could read)\n")
    out.write(f"{args.file}: {n} buffer file{'s' if n != 1 else ''} and metadata in "
              f"{args.output}, in lttng-crash's layout (lttng-crash --extract=OUT "
              f"{args.output})\n")
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
    x = csub.add_parser("export", help="lay a region file out as LTTng's lttng-crash reads it")
    x.add_argument("file", help="the --pmem file of the dead kernel")
    x.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="where to write the buffer files (made if missing; must be empty)")
    x.add_argument("--mode", choices=["overwrite", "discard"], default="overwrite",
                   help="the channel's mode, which the crash ABI records and the region "
                        "does not (overwrite)")
    x.set_defaults(func=cmd_crash_export)
