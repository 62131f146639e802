"""kmodel trace record DIR | kmodel trace show DIR: traces on disk, in CTF 1.8.

``record`` runs the synthetic workload of kmodel.consumer.record on a machine,
through a locking layer, with a consumer (``--consumer``, one of the
registered ones: splice, mmap, read) that writes delivered sub-buffers to
``DIR/channel0_<cpu>``, and writes ``DIR/metadata``: a trace that
babeltrace2 reads.  It prints a progress line on stderr and, at the end,
events written, read and lost by cause for each CPU.  Every option is
checked before anything runs; the trace is written beside DIR and put in
place when complete (kmodel/consumer/trace_dir.py: an existing directory is
replaced only with --force, and only if it holds a kmodel trace and nothing
else).  SIGINT or SIGTERM stops the workload between two ticks; the buffers
are flushed and drained, the table printed, and it exits 130 or 143 with a
whole trace in DIR.

With ``--session``, DIR is a session directory and the trace goes in
``DIR/kernel/``, as LTTng lays out a kernel session; without it, in DIR
itself, as before.

``show`` prints a trace kmodel wrote, with our own small reader, for tests
and for machines without babeltrace2: one line per packet, or per event with
--events.  DIR may be the trace or a session directory that holds it in
``kernel/``.
"""
import os
import signal
import sys

from hw.hostfile import read_regular_file
from hw.topology import DEFAULT_PRESET, load_preset
from hw.units import parse_size
from kmodel.cli.boot_options import add_pmem_format_option
from kmodel.cli.bounds import SEED, IntIn, SizeIn
from kmodel.cli.errors import HostError, UsageError
from kmodel.cli.setup_channel import check_host_size
from kmodel.cli.signals import StopSignals, Terminated
from kmodel.consumer.base import consumer_help, consumer_names
from kmodel.consumer.ctf import TraceError, read_trace
from kmodel.consumer.record import WORKLOADS, Recorder, RecordOptions, header_for
from kmodel.consumer.trace_dir import KERNEL_TRACE_DIR, NewTrace, TraceDirError
from kmodel.cli.trace_time import add_time_options, timed_options, write_time_report
from kmodel.consumer.timed_record import TimedRecorder
from kmodel.relay.backend import backend_names
from kmodel.relay.event_header import HeaderType
from kmodel.relay.layer import layer_names
from kmodel.relay.rb_config import Era, Mode
from kmodel.session import parse_hotplug

MAX_EVENTS = 1_000_000
MAX_RECORD_EVENTS = 10_000_000          # a run's events over every possible CPU
MAX_SUBBUF = 1 << 28
HOTPLUG_LIMIT = 1 << 20                 # bytes of a hotplug script
DEFAULT_RATE = RecordOptions.rate       # events per CPU per tick


def record_options(args):
    """Every option of trace record checked, before anything is touched: the
    RecordOptions, or a UsageError naming the first that is wrong."""
    if args.time is None and (args.events is None) == (args.duration is None):
        raise UsageError("trace record takes --events N, --duration TICKS or --time DURATION")
    rate = DEFAULT_RATE if args.rate is None else args.rate     # (None: not given; with
    for name in ("events", "duration", "rate", "n_subbufs"):    # --time, refused by name)
        v = getattr(args, name)
        if v is not None and not 1 <= v <= MAX_EVENTS:
            raise UsageError(f"--{name.replace('_', '-')} {v}: must be 1..{MAX_EVENTS:,}")
    if args.consumer_rate is not None and not 0 <= args.consumer_rate <= MAX_EVENTS:
        raise UsageError(f"--consumer-rate {args.consumer_rate}: must be 0..{MAX_EVENTS:,}")
    if args.snapshot_at is not None and args.time is not None:
        raise UsageError("--snapshot-at TICK takes a recording in ticks, not --time")
    if args.hotplug and args.time is not None:  # (before the script is read)
        raise UsageError("--hotplug scripts name ticks: not with --time")
    if args.workload != "synthetic" and args.time is not None:
        raise UsageError(f"--workload {args.workload} runs in ticks; --time runs the "
                         "synthetic workload in modeled time")
    if args.snapshot_at is not None:
        ticks = args.duration if args.duration is not None else -(-args.events // rate)
        if not 0 <= args.snapshot_at < ticks:
            raise UsageError(f"--snapshot-at {args.snapshot_at}: the run has ticks 0.."
                             f"{ticks - 1}")
    try:                                # an int from argparse; a word from a caller's Namespace
        subbuf = parse_size(str(args.subbuf_size))
    except ValueError as e:
        raise UsageError(f"--subbuf-size: {e}") from None
    for what, v, lo, hi in (("--subbuf-size", subbuf, 4096, MAX_SUBBUF),
                            ("--n-subbufs", args.n_subbufs, 1, MAX_EVENTS)):
        if not lo <= v <= hi or v & (v - 1):
            raise UsageError(f"{what} {v}: must be a power of two, {lo:,}..{hi:,}")
    if args.backend not in backend_names():
        raise UsageError(f"--backend {args.backend!r}: one of {', '.join(backend_names())}")
    spec = load_preset(args.machine or DEFAULT_PRESET)
    ncpus = len(spec.possible_cpus)
    check_host_size(subbuf * args.n_subbufs, ncpus)
    per_cpu = args.events if args.events is not None else (args.duration or 0) * rate
    if per_cpu * ncpus > MAX_RECORD_EVENTS:
        raise UsageError(f"{per_cpu:,} events on each of {ncpus} possible CPUs: more than "
                         f"{MAX_RECORD_EVENTS:,} in a run (fewer --events, or a shorter "
                         f"--duration or --rate)")
    hotplug = []
    if args.hotplug:
        try:
            text = read_regular_file(args.hotplug, HOTPLUG_LIMIT, "hotplug script")
            hotplug = parse_hotplug(text.decode("utf-8"), args.hotplug)
        except UnicodeDecodeError as e:
            raise UsageError(f"{args.hotplug}: not text (byte {e.start} is not UTF-8)") \
                from None
        except ValueError as e:
            raise UsageError(str(e)) from None
    opts = RecordOptions(machine=args.machine, events=args.events, duration=args.duration,
                         rate=rate, layer=args.layer, mode=Mode(args.mode), era=args.era,
                         backend=args.backend, subbuf_size=subbuf, n_subbufs=args.n_subbufs,
                         consumer_rate=args.consumer_rate, hotplug=hotplug, seed=args.seed,
                         consumer=args.consumer, cmdline=args.cmdline, pmem=args.pmem,
                         pmem_format=args.pmem_format, config=tuple(args.config or ()),
                         snapshot_at=args.snapshot_at, header=args.header,
                         workload=args.workload)
    return opts


def cmd_record(args, out):
    opts = record_options(args)
    timed = timed_options(args, load_preset(args.machine or DEFAULT_PRESET))
    try:
        new = NewTrace(args.dir, args.force)
    except TraceDirError as e:
        raise UsageError(str(e)) from None

    def progress(text):
        print(f"\r{text}", end="", file=sys.stderr, flush=True)
    where = os.path.join(args.dir, KERNEL_TRACE_DIR) if args.session else args.dir
    made_pmem = args.pmem is not None and not os.path.lexists(args.pmem)
    try:
        with StopSignals() as stop:
            outdir = new.tmp
            if args.session:                # SESSION/kernel/ (trace_dir.py)
                outdir = os.path.join(new.tmp, KERNEL_TRACE_DIR)
                os.mkdir(outdir)
            rec = Recorder(opts, outdir, progress, stop=stop.requested) if timed is None \
                else TimedRecorder(opts, timed, outdir, progress, stop=stop.requested)
            stats = rec.run()
            if rec.script_error is not None:    # as kmodel run stops: exit 2, DIR untouched
                raise UsageError(f"{rec.script_error}; nothing written to {args.dir}")
            new.commit()
    except ValueError as e:
        if made_pmem and os.path.isfile(args.pmem):     # a region file this run made, for
            os.unlink(args.pmem)                        # a run refused: not left behind
        raise UsageError(f"trace record: {e}") from None
    except OSError as e:                    # the host's refusal: a full disk, a read-only place
        raise HostError(f"trace record: {e.strerror or e}") from None
    finally:
        new.abort()
    print("", file=sys.stderr)
    if timed is None:
        out.write(f"trace in {where}/ ({rec.ticks} ticks, {rec.consumer.summary()})\n")
    else:
        write_time_report(out, where, rec)
    if stop.signum is not None:
        out.write(f"stopped by {signal.Signals(stop.signum).name} at "
                  f"{'tick %d' % rec.ticks if timed is None else 'that time'}: "
                  "flushed, drained, and the trace holds everything written until then\n")
    for line in rec.refused:
        out.write(line + "\n")
    out.write(f"{'cpu':>4} {'written':>9} {'read':>9} {'lost':>7}  {'full':>6} {'wrap':>6} "
              f"{'big':>6} {'overrun':>7} {'packets':>8}\n")
    for cpu, s in sorted(stats.items()):
        out.write(f"{cpu:>4} {s.produced:>9} {s.read:>9} {s.lost:>7}  {s.lost_full:>6} "
                  f"{s.lost_wrap:>6} {s.lost_big:>6} {s.overrun:>7} {s.packets:>8}\n")
    for cpu, s in sorted(stats.items()):
        if s.events_lost:                   # (in lost, beside full, wrap, big and overrun)
            out.write(f"cpu {cpu}: {s.events_lost} records refused before reserving "
                      "(events_lost: nested more than 4 deep, or an NMI over its CPU's "
                      "held lock)\n")
    read = sum(s.read for s in stats.values())
    nbytes = sum(s.record_bytes for s in stats.values())
    out.write(f"records: {nbytes:,} bytes for {read:,} events, "
              f"{nbytes / max(read, 1):.1f} bytes an event ({header_for(opts)} header)\n")
    bad = [cpu for cpu, s in stats.items() if s.produced != s.read + s.lost]
    if bad:
        out.write(f"events unaccounted for on CPU(s) {bad}\n")
        return 1
    return 128 + stop.signum if stop.signum is not None else 0


def cmd_show(args, out):
    try:                                # (without --events, records are counted, not kept)
        trace = read_trace(args.dir, decode_events=args.events)
    except TraceError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"{args.dir}: {e.strerror}") from None
    for name, packets in trace.items():
        out.write(f"{name}: {len(packets)} packet{'s' if len(packets) != 1 else ''}, "
                  f"{sum(p.n_events for p in packets)} events\n")
        for p in packets:
            out.write(f"  packet {p.seq}: cpu {p.cpu}, time {p.ts_begin}..{p.ts_end}, "
                      f"{p.n_events} events, discarded so far {p.events_discarded}\n")
            if args.events:
                for ts, name_, values in p.events:
                    shown = {k: (f"<{len(v)} bytes>" if isinstance(v, bytes) else v)
                             for k, v in values.items()}
                    out.write(f"    [{ts}] {name_}: " + ", ".join(
                        f"{k} = {v}" for k, v in shown.items()) + "\n")
    return 0


def add_parser(sub):
    """add_parser - add ``kmodel trace record|show|sizing`` to sub, the subparsers of
    kmodel's top-level parser (kmodel.cli.main)."""
    s = sub.add_parser("trace", help="record a CTF trace, or show one")
    tsub = s.add_subparsers(dest="trace_command", metavar="record|show|sizing")
    tsub.required = True
    r = tsub.add_parser("record", help="run a workload and write a CTF trace to DIR")
    r.add_argument("dir")
    r.add_argument("--machine", "-m", metavar="PRESET")
    r.add_argument("--events", type=IntIn(1, MAX_EVENTS),
                   help="events per CPU (at least; a tick writes --rate)")
    r.add_argument("--duration", type=IntIn(1, MAX_EVENTS), metavar="TICKS", help="ticks to run")
    r.add_argument("--rate", type=IntIn(1, MAX_EVENTS),
                   help=f"events per CPU per tick ({DEFAULT_RATE}), written back to back "
                        "from the tick's start at their modeled cost (a tick is 1 ms of "
                        "modeled time)")
    r.add_argument("--layer", default="lockless", choices=layer_names())
    r.add_argument("--mode", default="discard", choices=list(Mode))
    r.add_argument("--era", choices=[str(e) for e in Era], help="whose reader side: 2.x (the default: "
                   "a spare sub-buffer swapped in at each get) or 2009 (the reader reads in "
                   "place; a pushed put is -EIO); docs/layers.md")
    r.add_argument("--backend", default="pagelist")
    r.add_argument("--subbuf-size", type=SizeIn(4096, MAX_SUBBUF, pow2=True), default="16k",
                   metavar="SIZE")
    r.add_argument("--n-subbufs", type=IntIn(1, MAX_EVENTS), default=4, metavar="N")
    r.add_argument("--consumer-rate", type=IntIn(0, MAX_EVENTS), metavar="N",
                   help="sub-buffers the consumer takes per CPU per tick (default: all)")
    r.add_argument("--consumer", default="splice", choices=consumer_names(),
                   help=consumer_help())
    r.add_argument("--hotplug", metavar="SCRIPT", help="lines 'TICK echo VALUE > PATH' "
                   "written while tracing, e.g. '10 echo 0 > "
                   "/sys/devices/system/cpu/cpu3/online'")
    r.add_argument("--seed", type=SEED, default=0)
    r.add_argument("--header", choices=[t.value for t in HeaderType],
                   help="the records' header: LTTng's compact (the default) or large, or "
                        "kmodel's own 16 bytes")
    r.add_argument("--workload", default="synthetic", choices=WORKLOADS,
                   help="synthetic (kmodel_* events and blobs, numbered), or sched: a "
                        "scheduler model writing lttng-modules' kernel events")
    r.add_argument("--config", action="append", metavar="CONFIG_X=y")
    r.add_argument("--cmdline", default="", metavar="PARAMS",
                   help="kernel command line, e.g. reserve_mem=4M:4096:trace for "
                        "--backend pmem")
    r.add_argument("--pmem", metavar="FILE", help="a host file behind the reserve_mem region")
    add_pmem_format_option(r)
    r.add_argument("--snapshot-at", type=IntIn(0, MAX_EVENTS), metavar="TICK",
                   help="at the end of tick TICK, write what the buffers hold to "
                        "DIR/snapshot-TICK as a CTF trace, consuming nothing (lttng "
                        "snapshot record)")
    r.add_argument("--force", action="store_true", help="replace the trace in DIR")
    r.add_argument("--session", action="store_true",
                   help="DIR is a session: the trace goes in DIR/kernel/, as LTTng lays out "
                        "a kernel session (lttng-analyses reads the tracer's version there)")
    add_time_options(r)
    r.set_defaults(func=cmd_record)
    s2 = tsub.add_parser("show", help="print a trace kmodel recorded")
    s2.add_argument("dir")
    s2.add_argument("--events", action="store_true", help="every event, not only packets")
    s2.set_defaults(func=cmd_show)
    add_sizing_parser(tsub)


def cmd_sizing(args, out):
    """kmodel trace sizing: the sweep, checked whole before a point runs; its
    rows are printed as they come, so that a sweep stopped by SIGINT or
    SIGTERM has printed what it did (its workers and scratch directory are
    gone when it returns)."""
    from contextlib import closing

    from hw.topology import load_preset
    from kmodel.cli.outfile import check_output
    from kmodel.cli.setup_channel import check_host_size
    from kmodel.cli.signals import signal_name
    from kmodel.consumer.sizing import WorkerDied, check_work, points_of, sweep
    if args.time is not None:
        from kmodel.cli.sizing_time_cmd import cmd_sizing_time
        if args.plot:
            _check_matplotlib()
        return cmd_sizing_time(args, out)
    spec = load_preset(args.machine or DEFAULT_PRESET)
    ncpus = len(spec.present_cpus)
    points = points_of(args.subbuf_sizes, args.n_subbufs, args.rates, args.consumer_rates)
    try:
        check_work(points, args.events, ncpus)
    except ValueError as e:
        raise UsageError(f"trace sizing: {e}") from None
    check_host_size(max(args.subbuf_sizes) * max(args.n_subbufs), ncpus)
    if args.plot:
        _check_matplotlib()
        check_output(args.plot, "--plot", args.force)
    out.write(f"{'subbuf':>7} {'n':>3} {'buffer':>7} {'rate':>5} {'consumer':>8} "
              f"{'events':>8} {'lost':>7} {'B/event':>7} {'lost %':>7}\n")
    rows = []
    try:
        with closing(sweep(points, args.machine, args.events, args.seed, args.layer,
                           args.mode, args.jobs, args.scheduler)) as results:
            for p, produced, lost, per_event in results:
                rows.append((p, produced, lost))
                out.write(f"{p.subbuf_size >> 10:>6}K {p.n_subbufs:>3} "
                          f"{p.subbuf_size * p.n_subbufs >> 10:>6}K {p.rate:>5} "
                          f"{p.consumer_rate:>8} {produced:>8} {lost:>7} {per_event:>7.1f} "
                          f"{100 * lost / max(produced, 1):>6.1f}%\n")
                out.flush()
    except (KeyboardInterrupt, Terminated) as e:
        out.write(f"stopped by {signal_name(e)}: {len(rows)} of {len(points)} points done\n")
        raise
    except WorkerDied as e:
        raise HostError(f"trace sizing: {e}; {len(rows)} of {len(points)} points "
                        "done") from None
    except ValueError as e:
        raise UsageError(f"trace sizing: {e}") from None
    out.write("rate: events per CPU per tick; consumer: sub-buffers it takes per CPU per "
              "tick; B/event: bytes a record takes, LTTng's compact header and payload\n")
    if args.plot:
        from kmodel.cli.outfile import write_output
        write_output(args.plot, None, "--plot", args.force, make=lambda tmp: _plot(rows, tmp))
        out.write(f"plot: {args.plot}\n")
    return 0


def _check_matplotlib():
    """Refuse a plot that cannot be made before the sweep runs."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'kmodel[plot]'") from None


def _plot(rows, path):
    from kmodel.cli.loss_plot import plot_loss
    series = {}
    for p, produced, lost in rows:
        series.setdefault((p.rate, p.consumer_rate, p.subbuf_size), []).append(
            ((p.subbuf_size * p.n_subbufs) >> 10, 100 * lost / max(produced, 1)))
    plot_loss({f"{subbuf >> 10}K sub-buffers, {rate} events/tick, consumer {consumer}/tick":
               pts for (rate, consumer, subbuf), pts in sorted(series.items())},
              path, "kmodel trace sizing")


def add_sizing_parser(tsub):
    from kmodel.cli.bounds import SEED, IntIn, ListOf, SizeIn
    from kmodel.cli.sizing_time_cmd import add_time_sizing_options
    from kmodel.consumer.sizing import MAX_POINTS
    s = tsub.add_parser("sizing", help="sweep sub-buffer size and count against event "
                        "and consumer rates: the loss rate")
    s.add_argument("--machine", "-m", metavar="PRESET")
    s.add_argument("--subbuf-sizes", default=[4096, 16384], metavar="LIST",
                   type=ListOf(SizeIn(4096, 64 << 20, pow2=True), MAX_POINTS),
                   help="sub-buffer sizes, powers of two 4K..64M (4k,16k)")
    s.add_argument("--n-subbufs", default=[2, 4, 8], metavar="LIST",
                   type=ListOf(SizeIn(1, 1 << 16, pow2=True), MAX_POINTS),
                   help="sub-buffer counts, powers of two 1..65536 (2,4,8)")
    s.add_argument("--rates", default=[16, 64], metavar="LIST",
                   type=ListOf(IntIn(1, MAX_EVENTS), MAX_POINTS),
                   help=f"events per CPU per tick, 1..{MAX_EVENTS} (16,64)")
    s.add_argument("--consumer-rates", default=[1], metavar="LIST",
                   type=ListOf(IntIn(0, 1 << 16), MAX_POINTS),
                   help="sub-buffers the consumer takes per CPU per tick, 0..65536 (1)")
    s.add_argument("--events", type=IntIn(1, 100_000), default=200,
                   help="events per CPU a point, 1..100000 (200)")
    s.add_argument("--layer", default="lockless", choices=layer_names())
    s.add_argument("--mode", default="discard", choices=list(Mode))
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--jobs", type=IntIn(1, 1024),
                   help="worker processes (default: all cores; never more than the "
                   "cores or the points)")
    s.add_argument("--plot", metavar="F.png", help="loss against buffer size (matplotlib)")
    s.add_argument("--force", action="store_true", help="replace the --plot file")
    add_time_sizing_options(s)
    s.set_defaults(func=cmd_sizing)
