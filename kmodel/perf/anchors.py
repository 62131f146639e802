"""The model beside published figures: what ``kmodel machine check`` prints and
docs/model.md shows.

Each anchor is an operation, a figure for it, and where the figure comes from.
The prediction is what the model does for the same operation on a booted
kernel of the preset: a chain of dependent loads, a copy stream through the
relay, an atomic on a line owned here or on another node, a TLB miss.  A row
passes when the prediction is within 25% of the figure.

Read the ``kind`` column.  A "published" figure is a measurement someone else
made and reported.  An "estimate" is what the preset itself assumes (its
comments say why), so that row checks how the model composes its inputs, not
the inputs.  The inputs are checked against this host in bench/bench_model.py.
"""
from dataclasses import dataclass

from kmodel.kernel import boot

TOLERANCE = 0.25


@dataclass(frozen=True)
class Anchor:
    what: str           # the operation
    unit: str
    figure: float
    kind: str           # published or estimate
    source: str
    predict: object     # predict(k) -> the model's figure, in unit


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


def check(preset):
    """[(anchor, prediction, relative difference, within tolerance)] for a preset."""
    rows = []
    for a in ANCHORS[preset]:
        k = boot(preset, maxcpus=None)
        try:
            got = a.predict(k)
        finally:
            k.shutdown()
        diff = (got - a.figure) / a.figure
        rows.append((a, got, diff, abs(diff) <= TOLERANCE))
    return rows
