"""tlb_probe_range is n tlb_probe calls in one loop: checked against them, on
the same random sequences (hypothesis), counters and LRU state alike."""
from hypothesis import given, settings, strategies as st

from hw.timing import TimingModel
from hw.topology import load_preset

RUNS = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3000), st.integers(0, 80)),
                max_size=40)


def state(tm, c):
    d = c.dtlb
    return (c.cycles, list(c.tlb_misses), list(c.stlb_hits), list(c.last_vpn),
            [t.keys() for t in d.l1], d.stlb.keys())


@settings(max_examples=300, deadline=None)
@given(runs=RUNS, preset=st.sampled_from(["xeon-2s-skylake", "nehalem-2009"]))
def test_a_range_probe_is_the_probes_one_by_one(runs, preset):
    spec = load_preset(preset)
    a, b = TimingModel(spec), TimingModel(spec)
    ca, cb = a.cpus[0], b.cpus[0]
    for size, first, n in runs:
        a.tlb_probe_range(ca, size, first, n)
        for vpn in range(first, first + n):
            b.tlb_probe(cb, size, vpn)
        assert state(a, ca) == state(b, cb)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(0, 2), ring=st.integers(1, 2000), chunk=st.integers(1, 80),
       passes=st.integers(1, 3), preset=st.sampled_from(["xeon-2s-skylake", "nehalem-2009"]),
       base=st.integers(0, 50))
def test_a_stream_around_a_ring_is_the_probes_one_by_one(size, ring, chunk, passes, preset,
                                                        base):
    """A ring of pages streamed in chunks, pass after pass: the runs that miss
    the first level and hit the STLB whole, miss it whole, or partly (the
    bulk paths of DTLB.lookup_range)."""
    spec = load_preset(preset)
    a, b = TimingModel(spec), TimingModel(spec)
    ca, cb = a.cpus[0], b.cpus[0]
    for p in range(passes):
        for first in range(0, ring, chunk):
            n = min(chunk, ring - first)
            a.tlb_probe_range(ca, size, base + first, n)
            for vpn in range(base + first, base + first + n):
                b.tlb_probe(cb, size, vpn)
        assert state(a, ca) == state(b, cb)
