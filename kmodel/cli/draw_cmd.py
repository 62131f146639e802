"""kmodel draw NAME: a picture of a channel on a freshly booted kernel.

The channel is opened with the options given (or by a script, --script FILE,
that opens it with relay open NAME ...); --access makes reads and writes
first, so the picture shows where the cache pointers went, and a line per
access under it says what it did (read off the relay's tracepoints).
"""
import io

from kmodel.cli.draw import draw_channel
from kmodel.cli.errors import UsageError
from kmodel.cli.setup_channel import do_access, open_channel, parse_access
from kmodel.core.tracepoint import tracing
from kmodel.relay.relay_trace import trace_relay_copy, trace_relay_walk


def traced_access(buf, is_write, offset, length):
    """traced_access - make one access; a line saying which pages it touched
    and how it found them."""
    pages, walks = [], []
    steps = buf.cost.walk_steps
    with tracing({trace_relay_copy: lambda b, idx, *rest: b is buf and pages.append(idx),
                  trace_relay_walk: lambda b, fwd: b is buf and walks.append(fwd)}):
        do_access(buf, is_write, offset, length)
    steps = buf.cost.walk_steps - steps
    what = f"{'write' if is_write else 'read'} {length} B at {offset:#x}: "
    if not pages:
        return what + "the stream's cached page, no lookup"
    how = ("no walk" if not walks else
           "walks " + ", ".join("forward" if f else "backward" for f in walks) +
           f"; {steps} walk step{'' if steps == 1 else 's'}")
    return what + f"page{'s' if len(pages) > 1 else ''} " + \
        ", ".join(map(str, pages)) + f"; {how}"


def cmd_draw(args, out):
    if args.script:
        return _draw_from_script(args, out)
    k, chan, buf = open_channel(args, args.name)
    try:
        done = [traced_access(buf, *parse_access(a)) for a in args.access or []]
        cpus = None if args.all_cpus else {args.cpu}
        out.write("\n".join(draw_channel(k, args.name, chan, cpus, args.max_pages)) + "\n")
        out.writelines(f"  {line}\n" for line in done)
    finally:
        k.shutdown()
    return 0


def _draw_from_script(args, out):
    from kmodel.cli.run import load_script, parse_header
    from kmodel.cli.shell import Shell
    text, name = load_script(args.script)
    lines = text.splitlines()
    opts = parse_header(lines[0]) if lines else {}
    sh = Shell(opts.get("machine", args.machine), opts.get("config") or [], 0)
    try:
        for no, line in enumerate(lines, 1):
            s = line.strip()
            if s and not s.startswith("#"):
                try:
                    sh.execute(s)
                except Exception as e:
                    raise UsageError(f"{name}:{no}: {e}") from None
        chan = sh.channels.get(args.name)
        if chan is None:
            raise UsageError(f"{name} opened no channel {args.name!r} "
                             f"(it has: {', '.join(sh.channels) or 'none'})")
        cpus = None if args.all_cpus else {args.cpu}
        buf = io.StringIO()
        buf.write("\n".join(draw_channel(sh.k, args.name, chan, cpus, args.max_pages)) + "\n")
        out.write(buf.getvalue())
    finally:
        sh.close()
    return 0
