"""kmodel trace sizing --time: the sweep in real units, and --recommend.

The options (added to trace sizing's parser by ``add_time_sizing_options``)
are rates a second, sizes in bytes, bandwidths in bytes or bits a second and
the timers in microseconds; the table's columns say their units.
"""
from hw.time_units import format_duration, format_rate
from hw.units import format_size
from kmodel.cli.bounds import IntIn, ListOf, SizeIn
from kmodel.cli.errors import HostError, UsageError
from kmodel.cli.time_bounds import BandwidthIn, DurationIn, RateIn
from kmodel.perf.executor import SchedulerError, WorkerDied, check_scheduler

MAX_POINTS = 400
MAX_EVENTS = 4_000_000          # over the whole sweep, as trace sizing in ticks


def add_time_sizing_options(s):
    g = s.add_argument_group("sizing in real units (with --time)")
    g.add_argument("--time", type=DurationIn(1000, 100 * 10**9), metavar="DURATION",
                   help="modeled time a point runs, e.g. 10ms, 10s: the sweep in real units")
    g.add_argument("--event-rates", type=ListOf(RateIn(1, 1e9), MAX_POINTS), default=[1e6],
                   metavar="LIST", help="events a second on each tracing CPU (1M)")
    g.add_argument("--event-sizes", type=ListOf(IntIn(32, 65536), MAX_POINTS), default=[32],
                   metavar="LIST", help="bytes an event takes, header included (32)")
    g.add_argument("--bandwidths", type=ListOf(BandwidthIn(1e3, 1e12), MAX_POINTS),
                   default=[None], metavar="LIST",
                   help="the consumer's output, e.g. 100MB/s,1Gb/s (default: unlimited)")
    g.add_argument("--cpus", type=IntIn(1, 4096), default=1,
                   help="CPUs that trace (the first ones; the consumer runs on the next) (1)")
    g.add_argument("--wakeup-latency", type=DurationIn(0, 10**9), default=0,
                   metavar="DURATION", help="the consumer's wake-up latency (0)")
    g.add_argument("--switch-timer", type=IntIn(0, 10**9), default=0, metavar="USEC",
                   help="switch timer period in microseconds, as lttng's (0: none)")
    g.add_argument("--read-timer", type=IntIn(0, 10**9), default=0, metavar="USEC",
                   help="read timer period in microseconds, as lttng's (0: none)")
    g.add_argument("--recommend", action="store_true",
                   help="the smallest geometry that loses nothing at the first rate, size "
                   "and bandwidth, in --memory, with its margin")
    g.add_argument("--memory", type=SizeIn(4096, 1 << 30), default=64 << 20, metavar="SIZE",
                   help="--recommend's budget for all the buffers (64M)")
    g.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run the points on a Dask cluster (pip install 'kmodel[cluster]')")


HEADER = (f"{'subbuf':>7} {'n':>3} {'memory':>7} {'rate':>7} {'size':>5} {'bandwidth':>10} "
          f"{'events':>9} {'lost %':>7} {'full':>7} {'wrap':>5} {'overrun':>7} {'cpu %':>6} "
          f"{'cons %':>6} {'latency':>8} {'peak':>5}\n")


def row_text(r):
    p = r.point
    bw = "-" if p.bandwidth is None else f"{p.bandwidth / 1e6:g}MB/s"
    cap = p.subbuf_size * p.n_subbufs
    return (f"{format_size(p.subbuf_size):>7} {p.n_subbufs:>3} {format_size(r.memory):>7} "
            f"{format_rate(p.rate):>7} {p.size:>5} {bw:>10} {r.produced:>9} "
            f"{100 * r.lost_frac:>6.2f}% {r.lost['full']:>7} {r.lost['wrap']:>5} "
            f"{r.lost['overrun']:>7} {100 * r.cpu_frac:>5.2f}% {100 * r.consumer_frac:>5.2f}% "
            f"{format_duration(r.worst_latency_ns):>8} {100 * r.peak_fill / cap:>4.0f}%\n")


LEGEND = ("rate: events a second on each tracing CPU; size: bytes an event takes; memory: "
          "all CPUs' buffers;\ncpu %: the busiest tracing CPU's time spent tracing; cons %: "
          "the consumer CPU's; latency: worst event to consumer;\npeak: the fullest a "
          "buffer was\n")


def cmd_sizing_time(args, out):
    from contextlib import closing

    from hw.topology import DEFAULT_PRESET, load_preset
    from kmodel.cli.signals import Terminated, signal_name
    from kmodel.consumer.sizing_time import (TimeSetup, asked, candidates, followed, margin,
                                             points_in_time, recommend, sweep_in_time)
    spec = load_preset(args.machine or DEFAULT_PRESET)
    ncpus = len(spec.present_cpus)
    if args.plot:                   # (matplotlib checked by trace sizing's front)
        from kmodel.cli.outfile import check_output
        check_output(args.plot, "--plot", args.force)
    if args.cpus > ncpus:
        raise UsageError(f"--cpus {args.cpus}: the machine has {ncpus} CPUs")
    try:
        check_scheduler(args.scheduler)
    except SchedulerError as e:
        raise UsageError(str(e)) from None
    setup = TimeSetup(args.time, args.cpus, args.machine, args.seed, args.layer, args.mode,
                      args.wakeup_latency, args.switch_timer, args.read_timer)
    if args.recommend:
        geoms = candidates(args.memory, args.n_subbufs, ncpus)
        if not geoms:
            raise UsageError(f"--memory {format_size(args.memory)}: no geometry of "
                             f"--n-subbufs {args.n_subbufs} fits on {ncpus} CPUs")
        points = geoms
    else:
        points = points_in_time(args.subbuf_sizes, args.n_subbufs, args.event_rates,
                                args.event_sizes, args.bandwidths)
    work = len(points) * max(args.event_rates) * args.time / 1e9 * args.cpus
    if len(points) > MAX_POINTS or work > MAX_EVENTS:
        raise UsageError(f"trace sizing: {len(points)} points of about "
                         f"{max(args.event_rates) * args.time / 1e9 * args.cpus:,.0f} events: "
                         f"at most {MAX_POINTS} points and {MAX_EVENTS:,} events a sweep")
    rows = []
    try:
        if args.recommend:
            rate, size, bw = args.event_rates[0], args.event_sizes[0], args.bandwidths[0]
            best, rows = recommend(rate, size, bw, args.memory, args.n_subbufs, setup, ncpus,
                                   args.jobs, args.scheduler)
            out.write(HEADER)
            for r in rows:
                out.write(row_text(r))
            out.write(LEGEND)
            if best is None and not any(followed(r, setup) for r in rows):
                most = max(r.produced for r in rows)
                out.write(f"the tracing CPUs cannot follow {format_rate(rate)} of {size} B: "
                          f"{most:,} of {asked(rate, setup):,.0f} events "
                          "written at most, whatever the buffer (each waits for the one "
                          "before): no geometry answers\n")
                return 1
            if best is None:
                out.write(f"no geometry in {format_size(args.memory)} loses nothing at "
                          f"{format_rate(rate)} of {size} B over {format_duration(args.time)}\n")
                return 1
            _maybe_plot(args, rows, out)
            p = best.point
            out.write(f"choose {format_size(p.subbuf_size)} x {p.n_subbufs} sub-buffers a CPU "
                      f"({format_size(best.memory)} in all): nothing lost over "
                      f"{format_duration(args.time)}; margin {100 * margin(best):.0f}% of the "
                      f"buffer never filled\n")
            return 0
        out.write(HEADER)
        with closing(sweep_in_time(points, setup, args.jobs, args.scheduler)) as results:
            for r in results:
                rows.append(r)
                out.write(row_text(r))
                out.flush()
        out.write(LEGEND)
        _maybe_plot(args, rows, out)
    except (KeyboardInterrupt, Terminated) as e:
        out.write(f"stopped by {signal_name(e)}: " +
                  ("no recommendation\n" if args.recommend else
                   f"{len(rows)} of {len(points)} points done\n"))
        raise
    except WorkerDied as e:
        raise HostError(f"trace sizing: {e}") from None
    except SchedulerError as e:
        raise UsageError(str(e)) from None
    except ValueError as e:             # a point the machine cannot hold (its channel)
        raise UsageError(f"trace sizing: {e}") from None
    return 0


def _maybe_plot(args, rows, out):
    """--plot F.png: the loss against the buffer's memory, a line for each
    rate, event size, bandwidth and sub-buffer count (written at the end)."""
    if not args.plot:
        return
    from kmodel.cli.outfile import write_output
    write_output(args.plot, None, "--plot", args.force, make=lambda tmp: _plot(rows, tmp))
    out.write(f"plot: {args.plot}\n")


def _plot(rows, path):
    from kmodel.cli.loss_plot import plot_loss
    series = {}
    for r in rows:
        p = r.point
        series.setdefault((p.rate, p.size, p.bandwidth or 0, p.n_subbufs), []).append(
            ((p.subbuf_size * p.n_subbufs) >> 10, 100 * r.lost_frac))
    plot_loss({f"{format_rate(rate)} x {size} B, "
               f"{f'{bw / 1e6:g} MB/s' if bw else 'unlimited'}, {n} sub-buffers": pts
               for (rate, size, bw, n), pts in sorted(series.items())},
              path, "kmodel trace sizing, in modeled time")
