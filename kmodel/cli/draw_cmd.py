"""kmodel draw NAME: a picture of a channel on a freshly booted kernel.

The channel is opened with the options given (or by a script, --script FILE,
that opens it with relay open NAME ...); --access makes reads and writes
first, so the picture shows where the cache pointers went, and a line per
access under it says what it did (read off the relay's tracepoints).
"""
from kmodel.cli.bounds import IntIn
from kmodel.cli.draw import draw_channel
from kmodel.cli.errors import UsageError
from kmodel.cli.relay_state import relay_state
from kmodel.cli.setup_channel import (CHANNEL_SHAPE, add_access_option, add_channel_options,
                                      check_accesses, do_access, open_channel)
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
    check_accesses(args.access, "--access")
    if args.script:
        return _draw_from_script(args, out)
    k, chan, buf = open_channel(args, args.name)
    try:
        _draw(k, chan, buf, args, out)
    finally:
        k.shutdown()
    return 0


def _draw(k, chan, buf, args, out):
    done = [traced_access(buf, *a) for a in args.access or []]
    cpus = None if args.all_cpus else {args.cpu}
    out.write("\n".join(draw_channel(k, args.name, chan, cpus, args.max_pages)) + "\n")
    out.writelines(f"  {line}\n" for line in done)


def _draw_from_script(args, out):
    """Run a script as kmodel run does (the command line's --machine and
    --config win over its header; a refused command is printed and the script
    goes on), then draw the channel it opened.  A script that closes the
    channel, or reboots, is drawn as it was just before."""
    from kmodel.cli.errors import CommandFailed, ExpectationFailed, ScriptError
    from kmodel.cli.run import HeaderError, load_script, script_shell
    given = [f"--{o.replace('_', '-')}" for o in CHANNEL_SHAPE if getattr(args, o) is not None]
    if given:
        raise UsageError(f"{', '.join(given)}: with --script, the script's relay open "
                         f"line shapes the channel")
    text, name = load_script(args.script)
    lines = text.splitlines()
    try:
        sh = script_shell(lines, args.machine, args.config)
    except HeaderError as e:
        raise UsageError(f"{name}: {e}") from None
    try:
        for no, line in enumerate(lines, 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            if s.split()[:3] == ["relay", "close", args.name] or s in ("exit", "quit",
                                                                        "reboot"):
                break
            try:
                sh.execute(s)
            except CommandFailed:
                pass                    # as in kmodel run: refused, and the script goes on
            except (ScriptError, ExpectationFailed) as e:
                raise UsageError(f"{name}:{no}: {e}") from None
        chan = relay_state(sh).channels.get(args.name)
        if chan is None:
            raise UsageError(f"{name} opened no channel {args.name!r} "
                             f"(it has: {', '.join(relay_state(sh).channels) or 'none'})")
        if not 0 <= args.cpu < len(chan.buf) or chan.buf[args.cpu] is None:
            raise UsageError(f"--cpu {args.cpu}: no buffer in {args.name!r}")
        _draw(sh.k, chan, chan.buf[args.cpu], args, out)
    finally:
        sh.close()
    return 0


def add_parser(sub):
    """add_parser - add ``kmodel draw NAME`` to sub, the subparsers of kmodel's
    top-level parser (kmodel.cli.main)."""
    s = sub.add_parser("draw", help="a picture of a relay channel")
    s.add_argument("name", help="the channel's name")
    add_channel_options(s)
    add_access_option(s, "--access", "a write (or, with r, a read) to make first; repeatable")
    s.add_argument("--all-cpus", action="store_true", help="every CPU, not just --cpu")
    s.add_argument("--max-pages", type=IntIn(1, 1024), default=8,
                   help="pages shown per buffer (1..1024)")
    s.add_argument("--script", help="a script (or builtin:NAME) that opens the channel; "
                   "drawn when it ends, or just before it closes the channel")
    s.set_defaults(func=cmd_draw)
