"""trace record's options in time: the workload, the consumer, the timers.

``--time 10ms`` makes a recording in modeled time (kmodel.consumer.timed_record)
instead of ticks; the other options here need it.  Rates are per second,
sizes in bytes, periods as LTTng names them (``--switch-timer`` and
``--read-timer`` in microseconds, as ``lttng enable-channel`` takes them).
"""
from hw.time_units import parse_bandwidth, parse_duration, parse_rate
from kmodel.cli.bounds import CPU, IntIn, UnitIn
from kmodel.cli.errors import UsageError
from kmodel.consumer.timed_record import TimedOptions
from kmodel.perf.arrivals import Arrival, SizeDist, Workload, parse_cpu_rates

MAX_TIME_NS = 100 * 10**9               # 100 s of modeled time
MAX_RATE = 1e9                          # events a second on a CPU
MAX_TIMER_US = 10**9
TIME = UnitIn(parse_duration, 0, MAX_TIME_NS, " ns")
RATE = UnitIn(parse_rate, 0, MAX_RATE, "/s")
BANDWIDTH = UnitIn(parse_bandwidth, 0, 1e15, " B/s")


# The options of a recording in time, with the value each takes when not given.
# Their parser defaults are None, so that one given without --time is refused
# by name rather than ignored.
TIME_DEFAULTS = {"event_rate": "100k", "arrivals": "constant", "event_size": "32",
                 "irq_rate": "0", "irq_duration": "0", "wakeup_latency": "0",
                 "switch_timer": 0, "read_timer": 0, "bursts": None, "cpu_rates": None,
                 "consumer_cpu": None, "bandwidth": None, "clock_skew": None}


def add_time_options(r):
    """add_time_options - the options of trace record in time, on parser r."""
    g = r.add_argument_group("recording in modeled time (with --time)")
    g.add_argument("--time", type=TIME, metavar="DURATION",
                   help="modeled time to run, e.g. 10ms, 2s")
    g.add_argument("--event-rate", type=RATE, metavar="RATE",
                   help="events a second on each CPU (in a burst), e.g. 2M (100k)")
    g.add_argument("--arrivals", choices=[a.value for a in Arrival],
                   help="constant spacing or Poisson arrivals (constant)")
    g.add_argument("--bursts", metavar="ON/OFF",
                   help="events only in ON windows every ON+OFF, e.g. 5ms/45ms")
    g.add_argument("--cpu-rates", metavar="CPU:RATE,...",
                   help="per-CPU rates overriding --event-rate, e.g. 0:2M,1:0")
    g.add_argument("--event-size", metavar="SIZE",
                   help="bytes an event takes in the buffer (header included): N, LO-HI "
                   "(uniform) or exp:MEAN (32)")
    g.add_argument("--irq-rate", type=RATE, metavar="RATE",
                   help="interrupts a second on each CPU, Poisson (0)")
    g.add_argument("--irq-duration", type=TIME, metavar="DURATION",
                   help="each interrupt handler's run time, e.g. 2us")
    g.add_argument("--consumer-cpu", type=CPU, metavar="CPU",
                   help="the CPU the consumer task runs on (the boot CPU)")
    g.add_argument("--wakeup-latency", type=TIME, metavar="DURATION",
                   help="from the consumer's wake-up to its running, e.g. 50us (0)")
    g.add_argument("--bandwidth", type=BANDWIDTH, metavar="BW",
                   help="the consumer's output, e.g. 100MB/s (a disk) or 1Gb/s (a link); "
                   "default: unlimited")
    g.add_argument("--switch-timer", type=IntIn(0, MAX_TIMER_US), metavar="USEC",
                   help="switch timer period in microseconds, as lttng's (0: none)")
    g.add_argument("--read-timer", type=IntIn(0, MAX_TIMER_US), metavar="USEC",
                   help="read timer period in microseconds, as lttng's (0: the writer "
                   "wakes the consumer at delivery)")
    g.add_argument("--clock-skew", metavar="CPU:DURATION,...",
                   help="the TSC of these CPUs ahead of the others', "
                   "e.g. 1:2us,3:500ns (default: synchronized)")


def _parse(what, fn, text):
    try:
        return fn(text)
    except ValueError as e:
        raise UsageError(f"{what}: {e}") from None


def parse_skew(text):
    """'1:2us,3:500ns' -> {1: 2000, 3: 500}."""
    out = {}
    for item in str(text).split(","):
        cpu, sep, d = item.partition(":")
        if not sep or not cpu.strip().isdigit():
            raise ValueError(f"{text!r}: CPU:DURATION,... (e.g. 1:2us,3:500ns)")
        out[int(cpu)] = parse_duration(d.strip())
    return out


def timed_options(args, spec):
    """timed_options - the TimedOptions of args (every option checked against
    the machine spec before anything runs), or None without --time."""
    time_only = [name for name in TIME_DEFAULTS if getattr(args, name) is not None]
    if args.time is None:
        if time_only:
            raise UsageError(f"--{time_only[0].replace('_', '-')} needs --time (a recording "
                             "in modeled time)")
        return None
    for given, tick_option, time_option in ((args.rate, "--rate", "--event-rate"),
                                            (args.consumer_rate, "--consumer-rate",
                                             "--bandwidth")):
        if given is not None:
            raise UsageError(f"{tick_option} counts per tick: with --time, {time_option}")
    for name, default in TIME_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.events is not None or args.duration is not None:
        raise UsageError("--time records in modeled time: not with --events or --duration")
    if not timed_consumer(args.consumer):
        raise UsageError(f"--consumer {args.consumer} takes no sub-buffer at a time: not "
                         f"with --time (in time: {', '.join(timed_consumers())})")
    time_ns = _parse("--time", parse_duration, args.time)
    if not 0 < time_ns <= MAX_TIME_NS:
        raise UsageError(f"--time {args.time}: must be more than 0 and at most 100s")
    rate = _parse("--event-rate", parse_rate, args.event_rate)
    irq_rate = _parse("--irq-rate", parse_rate, args.irq_rate)
    cpu_rates = _parse("--cpu-rates", parse_cpu_rates, args.cpu_rates) if args.cpu_rates \
        else ()
    for what, r in [("--event-rate", rate), ("--irq-rate", irq_rate)] + [
            (f"--cpu-rates {c}", r) for c, r in cpu_rates]:
        if not 0 <= r <= MAX_RATE:
            raise UsageError(f"{what}: {r:g} a second is more than {MAX_RATE:g}")
    cpus = set(spec.possible_cpus)
    for c, _ in cpu_rates:
        if c not in cpus:
            raise UsageError(f"--cpu-rates: CPU {c} is not a CPU of the machine")
    size = _parse("--event-size", SizeDist.parse, args.event_size)
    on = off = 0
    if args.bursts:
        parts = args.bursts.split("/")
        if len(parts) != 2:
            raise UsageError(f"--bursts {args.bursts!r}: ON/OFF, e.g. 5ms/45ms")
        on, off = (_parse("--bursts", parse_duration, p) for p in parts)
        if on <= 0:
            raise UsageError(f"--bursts {args.bursts!r}: the on window must be longer than 0")
    irq_d = _parse("--irq-duration", parse_duration, args.irq_duration)
    if irq_rate and irq_d * irq_rate >= 0.5e9:
        raise UsageError(f"--irq-rate {args.irq_rate} of --irq-duration {args.irq_duration}: "
                         "interrupts would take half the CPU or more")
    latency = _parse("--wakeup-latency", parse_duration, args.wakeup_latency)
    bw = _parse("--bandwidth", parse_bandwidth, args.bandwidth) if args.bandwidth else None
    if bw is not None and bw <= 0:
        raise UsageError(f"--bandwidth {args.bandwidth}: must be more than 0")
    if args.consumer_cpu is not None and args.consumer_cpu not in spec.present_cpus:
        raise UsageError(f"--consumer-cpu {args.consumer_cpu}: not a present CPU of the "
                         f"machine ({', '.join(map(str, spec.present_cpus))})")
    for what, v in (("--switch-timer", args.switch_timer), ("--read-timer", args.read_timer)):
        if not 0 <= v <= MAX_TIMER_US:
            raise UsageError(f"{what} {v}: microseconds, 0..{MAX_TIMER_US}")
    skew = _parse("--clock-skew", parse_skew, args.clock_skew) if args.clock_skew else {}
    for c, ns in skew.items():
        if c not in cpus or ns > 10**9:
            raise UsageError(f"--clock-skew: CPU {c}: a CPU of the machine, at most 1s")
    events = sum(Workload(rate, cpu_rates=cpu_rates, burst_on_ns=on,
                          burst_off_ns=off).mean_rate(c) for c in spec.present_cpus)
    events = events * time_ns / 1e9 + 2 * irq_rate * time_ns / 1e9 * len(spec.present_cpus)
    if events > 10_000_000:
        raise UsageError(f"about {events:,.0f} events in {args.time}: at most 10,000,000 a "
                         "run (a lower --event-rate, or a shorter --time)")
    w = Workload(rate, Arrival(args.arrivals), on, off, cpu_rates, size, irq_rate, irq_d)
    return TimedOptions(w, time_ns, args.consumer_cpu, latency, bw, args.switch_timer,
                        args.read_timer, skew)


def write_time_report(out, where, rec):
    """write_time_report - the first lines of trace record's report in time:
    the workload, what tracing cost each CPU, the consumer's share, and the
    worst latency from an event to the consumer."""
    from hw.time_units import format_duration
    t, tm = rec.time, rec.timed
    out.write(f"trace in {where}/ ({format_duration(t.elapsed_ns)} modeled, "
              f"{rec.consumer.summary()})\n")
    out.write(f"workload: {tm.workload.describe()}\n")
    cost = ", ".join(f"CPU {c} {100 * ns / max(t.elapsed_ns, 1):.2f}%"
                     for c, ns in sorted(t.tracing_ns.items()))
    out.write(f"tracing's CPU time: {cost}\n")
    drain = rec.drain
    out.write(f"consumer on CPU {drain.cpu}: {drain.taken} sub-buffers, reading "
              f"{format_duration(t.consumer_ns)} of CPU, busy "
              f"{100 * t.consumer_busy_ns / max(t.elapsed_ns, 1):.1f}% of the time"
              + (f" and {format_duration(t.consumer_after_ns)} after it, writing out"
                 if t.consumer_after_ns >= 1 else "") + "; "
              f"worst event-to-consumer latency {format_duration(t.worst_latency_ns)}\n")
    if t.irqs:
        out.write(f"interrupts: {t.irqs} ({t.nested_irqs} nested)\n")


def timed_consumer(name):
    """timed_consumer - can the consumer called name record in time (does it
    write one sub-buffer at a time: Consumer.write_subbuf)?"""
    from kmodel.consumer.base import Consumer, get_consumer
    cls = get_consumer(name)
    return cls is not None and cls.write_subbuf is not Consumer.write_subbuf


def timed_consumers():
    from kmodel.consumer.base import consumer_names
    return [n for n in consumer_names() if timed_consumer(n)]
