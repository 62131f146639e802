"""The model beside figures for the same operations: what ``kmodel machine
check`` prints and docs/model.md shows.

Each anchor is an operation, a figure for it, and where the figure comes from.
The prediction is what the model does for the same operation on a booted
kernel of the preset: a chain of dependent loads, a copy stream through the
relay, an atomic on a line owned here or on another node, a TLB miss, an
event through the lockless layer.

Two kinds of row, reported apart:

- ANCHORS, the self-checks: the figure is one of the preset's own inputs
  (dram_ns, stream_gbps, atomic_cycles, line_transfer_ns, page_walk_cycles),
  whether it was taken from a publication or estimated.  Model and figure
  agree by construction; the row checks how the model composes its inputs (a
  relay stream pays its TLB and list steps on top of the bandwidth), and is
  not validation.
- INDEPENDENT, figures that are not inputs to the model: a measurement on a
  named CPU, or LTTng's published cost of an event.  A row passes within 25%,
  or, for a figure that bounds what the model counts (``bound``), when the
  prediction is below it.  These are the validation, such as it is.
"""
from dataclasses import dataclass

from kmodel.kernel import boot

TOLERANCE = 0.25


@dataclass(frozen=True)
class Anchor:
    what: str           # the operation
    unit: str
    figure: float
    kind: str           # published or estimate (of the preset's input); or independent
    source: str
    predict: object     # predict(k) -> the model's figure, in unit
    bound: bool = False     # the figure bounds the model's from above (more work in it)

    def passes(self, got):
        """(relative difference, passes?) of a prediction against the figure."""
        diff = (got - self.figure) / self.figure
        return diff, (got <= self.figure if self.bound else abs(diff) <= TOLERANCE)


def _latency_ns(remote):
    def predict(k):
        tm = k.timing
        c = tm.cpus[k.boot_cpu]
        nid = (c.nid + 1) % k.spec.nr_nodes if remote else c.nid
        big = 4 * tm.level_bytes[2]                 # a chain far larger than the LLC
        return tm.dep_load(c, nid, big) / k.spec.timing.cpu_ghz
    return predict


def _copy_gbps(level):
    """One core writing a buffer of the level's size, or four times the LLC, through
    the relay (page list, 64 KiB writes, a second pass): bytes per second."""
    def predict(k):
        from kmodel.relay.relay_alloc import ltt_relay_open
        tm = k.timing
        kib = k.spec.timing.cache_kib
        size = {"L2": kib["L2"] << 9, "LLC": kib["LLC"] << 9}.get(level, kib["LLC"] << 12)
        size = max(1 << (size.bit_length() - 1), 64 << 10)  # a power of two, for the ring
        k.modules.insmod("ltt_relay_alloc")
        chan = ltt_relay_open(k, "m", None, size // 4, 4, None)
        buf = chan.buf[k.boot_cpu]
        data = bytes(65536)
        for off in range(0, size, 65536):
            buf.ops.write(buf, off, data, 65536)
        t0 = tm.totals()["cycles"]
        for off in range(0, size, 65536):
            buf.ops.write(buf, off, data, 65536)
        cycles = tm.totals()["cycles"] - t0
        return size * k.spec.timing.cpu_ghz / cycles
    return predict


def _cmpxchg_cycles(remote):
    def predict(k):
        from kmodel.core.atomic import atomic_long_t
        tm = k.timing
        here = tm.cpus[k.boot_cpu]
        owner = next(c for c in tm.cpus.values() if c.nid != here.nid) if remote else here
        line = atomic_long_t(k, name="anchor")
        line.line_owner = owner                     # uncontended: already this CPU's
        before = here.cycles
        tm.atomic(here, line)
        return here.cycles - before
    return predict


def _page_walk_cycles(k):
    """A lookup of a 4 KiB page evicted long ago (4096 pages since, past any
    preset's STLB): a page walk."""
    tm = k.timing
    c = tm.cpus[k.boot_cpu]
    for vpn in range(4097):
        tm.tlb(c, 0, vpn)
    before = c.cycles
    tm.tlb(c, 0, 0)
    return c.cycles - before


# The operations every preset is checked on, in order: (what, unit, predict).
OPERATIONS = (
    ("idle load latency, local DRAM", "ns", _latency_ns(False)),
    ("idle load latency, remote DRAM", "ns", _latency_ns(True)),
    ("copy bandwidth, L2-sized working set", "GB/s", _copy_gbps("L2")),
    ("copy bandwidth, LLC-sized working set", "GB/s", _copy_gbps("LLC")),
    ("copy bandwidth, DRAM-sized working set", "GB/s", _copy_gbps("DRAM")),
    ("uncontended LOCK CMPXCHG", "cycles", _cmpxchg_cycles(False)),
    ("LOCK CMPXCHG on a line last written on the other socket", "cycles",
     _cmpxchg_cycles(True)),
    ("page walk (4 KiB, STLB miss)", "cycles", _page_walk_cycles),
)
BANDWIDTH_SOURCE = ("estimate", "the preset's stream_gbps")

# preset -> one (figure, kind, source) per operation
FIGURES = {
    "xeon-2s-skylake": (
        (90, "published, approximate",
         "Intel Memory Latency Checker idle latency as published for 2S Skylake-SP"),
        (144, "published, approximate", "the same, other socket"),
        (40, *BANDWIDTH_SOURCE), (18, *BANDWIDTH_SOURCE), (11, *BANDWIDTH_SOURCE),
        (18, "published", "uops.info, LOCK CMPXCHG m64,r64 on Skylake-class cores: 18-19"),
        (260, "published, approximate", "Intel MLC c2c HITM latency for 2S Skylake-SP "
         "(~115 ns = 242 cycles) plus the instruction"),
        (30, "estimate", "a walk that hits the paging-structure caches"),
    ),
    "nehalem-2009": (
        (65, "published", "Molka et al., PACT 2009, Xeon X5570"),
        (106, "published", "the same paper"),
        (30, *BANDWIDTH_SOURCE), (20, *BANDWIDTH_SOURCE), (9, *BANDWIDTH_SOURCE),
        (20, "estimate", "Agner Fog's instruction tables, Nehalem (about 20)"),
        (342, "published, approximate", "Molka et al., PACT 2009: ~110 ns for a modified "
         "line in the other socket (322 cycles), plus the instruction"),
        (40, "estimate", "the preset's page_walk_cycles"),
    ),
}

ANCHORS = {preset: [Anchor(what, unit, figure, kind, source, predict)
                    for (what, unit, predict), (figure, kind, source) in zip(OPERATIONS, rows)]
           for preset, rows in FIGURES.items()}


def _event_ns_of(size):
    """One event of size bytes (kmodel's 16-byte header, the rest payload)
    through the lockless layer on a per-CPU page-list buffer, one writer, in
    the steady state: the buffer's work of a trace event (reserve, copy,
    commit), in ns."""
    def predict(k):
        from kmodel.perf.layer_workloads import modeled_cost_per_event
        cycles = modeled_cost_per_event(k.spec.name, "lockless", "pagelist", "per-cpu", 1,
                                        size=size)["cycles"]
        return cycles / k.spec.timing.cpu_ghz
    return predict


_event_ns = _event_ns_of(64)


# An event of LTTng 0.5.0 at its probe site, timestamp and argument
# serialization included, on a 3 GHz Pentium 4: the model counts only the
# buffer's share of that work, so its figure must come out below.
LTTNG_EVENT = Anchor(
    "one trace event at the probe site (the model: the buffer's work alone)", "ns", 220,
    "independent, an upper bound", "M. Desnoyers, \"LTTng very heavy system usage scenario: "
    "probes\", systemtap mailing list, 17 Dec 2005 (LTTng 0.5.0, 3 GHz Pentium 4): "
    "\"Probe execution time at probe site: 220ns/event\"", _event_ns, bound=True)

# The same probe of LTTng 0.x a year later, with the buffer's counters as local
# (UP) atomics, the local_t design kmodel's lockless layer models: a loop of
# 20,000 probe calls into a flight-recorder trace, averaged, hot, probe and
# timestamp included, on a 3 GHz CPU the file does not name (with SMP
# atomics: 767.51 cycles, the mean of three runs; docs/model.md).
LTTNG_EVENT_LOCAL = Anchor(
    "one event, LTTng 0.x's flight recorder, local atomics, hot (the model: the buffer's "
    "work)", "ns", 205.63, "independent, an upper bound",
    "M. Desnoyers, \"Atomic UP test results\", ltt/branches/poly/doc/developer/"
    "lttng-atomic-up.txt, LTT svn r2244 (git giraldeau/lttv d7d9a4ce, 9 Nov 2006), test-"
    "time-probe2.ko, cpu MHz 3000.077: \"Atomic UP, one trace, flight recorder ... Res : "
    "616.90 cycles per loop. 205.63 ns per loop\"", _event_ns, bound=True)

# ftrace's and perf's cost of one benchmark_event (kernel/trace/trace_benchmark.c:
# a string of BENCHMARK_EVENT_STRLEN, 128, bytes and a u64), timed with trace_clock_local
# around the tracepoint with interrupts off, hot: the tracepoint, the ring
# buffer's reserve and commit, the copy.  The machine is not stated; the
# modern preset is the closest.
_RT_SOURCE = ("S. Rostedt, \"Re: Question about bpf perfbuf/ringbuf: pinned in backend "
              "with overwriting\", bpf mailing list, 19 Dec 2023, <20231219122850.433be151@"
              "gandalf.local.home> (CONFIG_TRACEPOINT_BENCHMARK, machine not stated): \"the "
              "average perf event takes 204ns per event, and the average ftrace event takes "
              "84ns per event\"")
FTRACE_EVENT = Anchor(
    "one ftrace event of 128 bytes, hot (the model: a 128-byte event's buffer work)", "ns",
    84, "independent, an upper bound", _RT_SOURCE, _event_ns_of(128), bound=True)
PERF_EVENT = Anchor(
    "one perf event of 128 bytes, hot (the model: a 128-byte event's buffer work)", "ns",
    204, "independent, an upper bound", _RT_SOURCE, _event_ns_of(128), bound=True)


def _event_in_time_ns(k):
    """A CPU's time per event in a recording in modeled time (1M events a
    second of 64 bytes for 2 ms on the boot CPU, the consumer on the same
    CPU): the writer's work, the packet switches and the consumer's reads of
    the data (accounting.consumer_read), in ns.  (k names the preset; the
    recording boots a kernel of its own.)"""
    import tempfile

    from kmodel.consumer.record import RecordOptions
    from kmodel.consumer.timed_record import TimedOptions, TimedRecorder
    from kmodel.perf.arrivals import SizeDist, Workload
    cpu = k.boot_cpu
    quiet = tuple((c, 0.0) for c in k.spec.present_cpus if c != cpu)
    w = Workload(1e6, cpu_rates=quiet, size=SizeDist.parse("64"))
    with tempfile.TemporaryDirectory() as d:
        rec = TimedRecorder(RecordOptions(machine=k.spec.name), TimedOptions(w, 2_000_000, cpu),
                            d)
        stats = rec.run()
    return rec.time.tracing_ns[cpu] / stats[cpu].produced


LTTNG_EVENT_IN_TIME = Anchor(
    "a CPU's time per event recorded in time (1M/s of 64 B, its consumer on it)", "ns", 220, LTTNG_EVENT.kind, LTTNG_EVENT.source,
    _event_in_time_ns, bound=True)

# Figures that are not inputs to the model, per preset.
INDEPENDENT = {
    "nehalem-2009": (
        Anchor("copy bandwidth, a working set past the LLC (64 MiB measured), one thread",
               "GB/s", 9.283, "independent, measured on a Xeon X5660 (Westmere-EP, the 32 nm "
               "shrink of Nehalem-EP, on the same two-socket platform)",
               "T. Benson, \"Single-threaded memory performance for dual socket Xeon E5-* "
               "systems\", Intel Software Tuning forum: cachebench -p -x1 -m26 -d2 -e1 on a "
               "dual-socket X5660, 9283 MB/s", _copy_gbps("DRAM")),
        LTTNG_EVENT, LTTNG_EVENT_LOCAL, LTTNG_EVENT_IN_TIME,
    ),
    "xeon-2s-skylake": (LTTNG_EVENT, LTTNG_EVENT_LOCAL, LTTNG_EVENT_IN_TIME, FTRACE_EVENT,
                        PERF_EVENT),
}


def _run(anchors, preset):
    rows = []
    for a in anchors:
        k = boot(preset, maxcpus=None)
        try:
            got = a.predict(k)
        finally:
            k.shutdown()
        rows.append((a, got, *a.passes(got)))
    return rows


def check(preset):
    """[(anchor, prediction, relative difference, passes)] for a preset's
    self-checks (its inputs), then for its independent figures."""
    return _run(ANCHORS[preset], preset), _run(INDEPENDENT.get(preset, ()), preset)
