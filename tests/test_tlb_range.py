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
            [list(t.entries) for t in d.l1], list(d.stlb.entries))


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
