"""kmodel trace record DIR | kmodel trace show DIR: traces on disk, in CTF 1.8.

``record`` runs the synthetic workload of kmodel.consumer.record on a machine,
through a locking layer, with a consumer that splices delivered sub-buffers
into ``DIR/channel0_<cpu>``, and writes ``DIR/metadata``: a trace that
babeltrace2 reads.  It prints a progress line on stderr and, at the end,
events written, read and lost by cause for each CPU.  An existing directory
that is not empty is refused unless --force.

``show`` prints a trace kmodel wrote, with our own small reader, for tests
and for machines without babeltrace2: one line per packet, or per event with
--events.
"""
import os
import sys

from hw.units import parse_size
from kmodel.cli.errors import UsageError
from kmodel.consumer.ctf import TraceError, read_trace
from kmodel.consumer.record import Recorder, RecordOptions, parse_hotplug
from kmodel.relay.ring_buffer import MODES, layer_names

MAX_EVENTS = 1_000_000


def _outdir(path, force):
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise UsageError(f"{path}: exists and is not a directory")
        if os.listdir(path) and not force:
            raise UsageError(f"{path}: exists and is not empty (give --force to replace "
                             "its trace)")
        if force:
            for name in os.listdir(path):
                p = os.path.join(path, name)
                if os.path.isdir(p):
                    raise UsageError(f"{path}: holds a directory, {name}: not a trace; "
                                     "refusing to clear it")
            for name in os.listdir(path):
                os.unlink(os.path.join(path, name))
    else:
        try:
            os.makedirs(path)
        except OSError as e:
            raise UsageError(f"{path}: {e.strerror}") from None


def cmd_record(args, out):
    if (args.events is None) == (args.duration is None):
        raise UsageError("trace record takes --events N or --duration TICKS")
    for name in ("events", "duration", "rate", "n_subbufs"):
        v = getattr(args, name)
        if v is not None and not 1 <= v <= MAX_EVENTS:
            raise UsageError(f"--{name.replace('_', '-')} {v}: must be 1..{MAX_EVENTS}")
    if args.consumer_rate is not None and args.consumer_rate < 0:
        raise UsageError(f"--consumer-rate {args.consumer_rate}: must be >= 0")
    try:
        subbuf = parse_size(args.subbuf_size)
    except ValueError as e:
        raise UsageError(f"--subbuf-size: {e}") from None
    hotplug = []
    if args.hotplug:
        try:
            with open(args.hotplug, encoding="utf-8") as f:
                hotplug = parse_hotplug(f.read(), args.hotplug)
        except OSError as e:
            raise UsageError(f"{args.hotplug}: {e.strerror}") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise UsageError(str(e)) from None
    _outdir(args.dir, args.force)
    opts = RecordOptions(machine=args.machine, events=args.events, duration=args.duration,
                         rate=args.rate, layer=args.layer, mode=args.mode,
                         backend=args.backend, subbuf_size=subbuf, n_subbufs=args.n_subbufs,
                         consumer_rate=args.consumer_rate, hotplug=hotplug, seed=args.seed,
                         consumer=args.consumer,
                         config=tuple(args.config or ()))

    def progress(text):
        print(f"\r{text}", end="", file=sys.stderr, flush=True)
    try:
        rec = Recorder(opts, args.dir, progress)
        stats = rec.run()
    except ValueError as e:
        raise UsageError(f"trace record: {e}") from None
    print("", file=sys.stderr)
    out.write(f"trace in {args.dir}/ ({rec.ticks} ticks, {rec.spliced:,} bytes spliced in "
              f"{rec.calls:,} sendfile calls)\n")
    out.write(f"{'cpu':>4} {'written':>9} {'read':>9} {'lost':>7}  {'full':>6} {'wrap':>6} "
              f"{'big':>6} {'overrun':>7} {'packets':>8}\n")
    for cpu, s in sorted(stats.items()):
        out.write(f"{cpu:>4} {s.produced:>9} {s.read:>9} {s.lost:>7}  {s.lost_full:>6} "
                  f"{s.lost_wrap:>6} {s.lost_big:>6} {s.overrun:>7} {s.packets:>8}\n")
    bad = [cpu for cpu, s in stats.items() if s.produced != s.read + s.lost]
    if bad:
        out.write(f"events unaccounted for on CPU(s) {bad}\n")
        return 1
    return 0


def cmd_show(args, out):
    try:
        trace = read_trace(args.dir)
    except TraceError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"{args.dir}: {e.strerror}") from None
    for name, packets in trace.items():
        out.write(f"{name}: {len(packets)} packet{'s' if len(packets) != 1 else ''}, "
                  f"{sum(len(p.events) for p in packets)} events\n")
        for p in packets:
            out.write(f"  packet {p.seq}: cpu {p.cpu}, time {p.ts_begin}..{p.ts_end}, "
                      f"{len(p.events)} events, discarded so far {p.events_discarded}\n")
            if args.events:
                for ts, name_, values in p.events:
                    shown = {k: (f"<{len(v)} bytes>" if isinstance(v, bytes) else v)
                             for k, v in values.items()}
                    out.write(f"    [{ts}] {name_}: " + ", ".join(
                        f"{k} = {v}" for k, v in shown.items()) + "\n")
    return 0


def add_parser(sub):
    s = sub.add_parser("trace", help="record a CTF trace, or show one")
    tsub = s.add_subparsers(dest="trace_command", metavar="record|show")
    tsub.required = True
    r = tsub.add_parser("record", help="run a workload and write a CTF trace to DIR")
    r.add_argument("dir")
    r.add_argument("--machine", "-m", metavar="PRESET")
    r.add_argument("--events", type=int, help="events per CPU (at least; a tick writes --rate)")
    r.add_argument("--duration", type=int, metavar="TICKS", help="ticks to run")
    r.add_argument("--rate", type=int, default=16, help="events per CPU per tick (16)")
    r.add_argument("--layer", default="lockless", choices=layer_names())
    r.add_argument("--mode", default="discard", choices=list(MODES))
    r.add_argument("--backend", default="pagelist")
    r.add_argument("--subbuf-size", default="16k", metavar="SIZE")
    r.add_argument("--n-subbufs", type=int, default=4, metavar="N")
    r.add_argument("--consumer-rate", type=int, metavar="N",
                   help="sub-buffers the consumer takes per CPU per tick (default: all)")
    r.add_argument("--consumer", default="splice", choices=["splice", "mmap"],
                   help="splice: in this process, zero copy; mmap: a second process maps "
                   "the frames and takes packets over a socket")
    r.add_argument("--hotplug", metavar="SCRIPT", help="lines 'TICK COMMAND' run while "
                   "tracing, e.g. '10 echo 0 > /sys/devices/system/cpu/cpu3/online'")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--config", action="append", metavar="CONFIG_X=y")
    r.add_argument("--force", action="store_true", help="replace the trace in DIR")
    r.set_defaults(func=cmd_record)
    s2 = tsub.add_parser("show", help="print a trace kmodel recorded")
    s2.add_argument("dir")
    s2.add_argument("--events", action="store_true", help="every event, not only packets")
    s2.set_defaults(func=cmd_show)
