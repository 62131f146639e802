"""The TLB's LRU sets kept as runs (hw.tlb) against a plain LRU: an
OrderedDict, one key at a time.  Same hits, same misses, same order, on
random mixes of runs and single lookups (hypothesis), on streams round rings,
and across the switch to key-by-key order and back."""
from collections import OrderedDict

from hypothesis import given, settings, strategies as st

from hw.tlb import DTLB, LRU, MAX_RUNS, run_step


class PlainLRU:
    """The simple model: an OrderedDict of keys, oldest first."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.e = OrderedDict()

    def access(self, key):
        e = self.e
        if key in e:
            e.move_to_end(key)
            return True
        if self.capacity > 0:
            if len(e) >= self.capacity:
                e.popitem(last=False)
            e[key] = None
        return False


def plain_run(lru, a, n):
    hits = [lru.access(k) for k in range(a, a + n)]
    return sum(hits), [a + i for i, h in enumerate(hits) if not h]


def missed_keys(misses):
    return [k for s, m in misses for k in range(s, s + m)]


OPS = st.lists(st.tuples(st.integers(0, 120), st.integers(1, 40)), max_size=60)


@settings(max_examples=400, deadline=None)
@given(cap=st.integers(1, 40), ops=OPS)
def test_runs_are_the_plain_lru(cap, ops):
    lru, ref = LRU(cap), PlainLRU(cap)
    for a, n in ops:
        hits, misses = lru.access_run(a, n)
        rh, rm = plain_run(ref, a, n)
        assert (hits, missed_keys(misses)) == (rh, rm)
        assert lru.keys() == list(ref.e)


@settings(max_examples=200, deadline=None)
@given(cap=st.integers(1, 64), ring=st.integers(1, 300), chunk=st.integers(1, 40),
       laps=st.integers(1, 4), noise=st.lists(st.integers(0, 1000), max_size=5))
def test_a_stream_round_a_ring_then_noise(cap, ring, chunk, laps, noise):
    """Laps of a ring (the runs go round and keep few runs), then single keys
    that scatter the order past MAX_RUNS (key by key), then laps again (back to
    runs)."""
    lru, ref = LRU(cap), PlainLRU(cap)
    seq = [(f, min(chunk, ring - f)) for _ in range(laps) for f in range(0, ring, chunk)]
    seq += [(5000 + 7 * x, 1) for x in noise * 4] + seq
    for a, n in seq:
        hits, misses = lru.access_run(a, n)
        assert (hits, missed_keys(misses)) == plain_run(ref, a, n)
        assert lru.keys() == list(ref.e)


def test_random_lookups_go_key_by_key_and_come_back():
    lru, ref = LRU(32), PlainLRU(32)
    for i in range(200):
        key = (i * 7919) % 997
        assert lru.access(key) == ref.access(key)
    assert lru.runs is None                     # scattered: key by key
    for a in range(0, 96, 8):                   # a stream: three laps' worth
        assert plain_run(ref, 2000 + a, 8)[0] == lru.access_run(2000 + a, 8)[0]
    for key in range(2096, 2200):
        assert lru.access(key) == ref.access(key)
    assert lru.runs is not None and len(lru.runs) <= MAX_RUNS
    assert lru.keys() == list(ref.e)


def test_the_closed_form_on_hand_worked_cases():
    # C=2, 5 older than 7: 5 hits (2 keys since), 6 misses and evicts 7, 7 misses
    assert run_step(2, ((5, 6), (7, 8)), 5, 3) == (((6, 8),), 1, ((6, 2),))
    # C=3, 7 older than 5: both hit (7 is still the third most recent)
    assert run_step(3, ((7, 8), (5, 6)), 5, 3) == (((5, 8),), 2, ((6, 1),))


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 300), st.integers(1, 20)),
                    max_size=40))
def test_a_dtlb_is_two_plain_levels(ops):
    """Each size's first level, then the STLB for what it missed (keys with
    the size above the page number)."""
    d = DTLB({"4K": 8, "2M": 4, "1G": 0}, 24, {0, 1})
    l1 = [PlainLRU(8), PlainLRU(4), PlainLRU(0)]
    stlb = PlainLRU(24)
    for size, first, n in ops:
        hits = walks = 0
        for vpn in range(first, first + n):
            if l1[size].access(vpn):
                continue
            if size in (0, 1) and stlb.access(size << 56 | vpn):
                hits += 1
            else:
                walks += 1
        assert d.lookup_range(size, first, n) == (hits, walks)
    assert [t.keys() for t in d.l1] == [list(t.e) for t in l1]
    assert d.stlb.keys() == list(stlb.e)


def test_single_lookups_key_by_key_then_a_stream_back_to_runs():
    """One page at a time, as a random access pattern and then a stream make
    them: the DTLB's key-by-key shortcut (LRU.access_key), and the set's
    return to runs in the middle of it."""
    d = DTLB({"4K": 16, "2M": 4}, 48, {0, 1})
    l1, stlb = PlainLRU(16), PlainLRU(48)
    vpns = [(i * 7919) % 211 for i in range(120)] + list(range(1000, 1200))
    for vpn in vpns:
        want = (0, 0) if l1.access(vpn) else ((1, 0) if stlb.access(vpn) else (0, 1))
        assert d.lookup_range(0, vpn, 1) == want
        assert d.l1[0].keys() == list(l1.e) and d.stlb.keys() == list(stlb.e)
    assert d.l1[0].runs is not None and d.stlb.runs is not None
