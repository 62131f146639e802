"""An exact LRU model of a two-level data TLB.

Each CPU has one first-level dTLB per page size (64 x 4K, 32 x 2M, 4 x 1G on
Skylake) and a shared second-level STLB for the sizes that it holds.  A lookup
that misses both levels is a page walk: that is what the timing model calls a
TLB miss.  Real TLBs are set-associative with pseudo-LRU replacement; this one
is fully associative LRU, which is exact for the sequential and strided
patterns a tracer makes and a documented approximation otherwise.

How the LRU order is kept.  A fully associative LRU set of capacity C holds
the C most recently used distinct keys.  A tracer looks pages up in runs
(a copy across pages, a stream going on to the next page), so the order is
kept as runs too: ``(start, end)`` pairs, oldest first, each the keys
start..end-1 used in ascending order (the higher, the more recent).  A run
of lookups a..b-1 is then one step, computed in closed form:

  - the keys of the run that fall in one stored run all hit or all miss.  For
    a key k of stored run [s, e), the distinct keys used between its last use
    and its lookup now are the r_k keys more recent than it (e-1-k in its run,
    plus every key of the runs newer than it) and the run's keys before it,
    a..k-1, less those already counted (the ones in newer runs, M).  k hits
    when that is under C: e-1-a + newer - M < C, which does not depend on k;
  - afterwards the run's keys are the newest, as one run (merged with the
    newest stored run when that ends at a); stored runs lose the keys looked
    up; the oldest keys past C go (the lowest keys of the oldest runs).

The step is a pure function of the state and the run, so a DTLB remembers
its lookups (both levels at once, ``DTLB.steps``): a stream going round a
ring buffer comes back to the same states lap after lap, and a lookup of 16
pages costs one dictionary lookup.
An order that would take more than MAX_RUNS runs (random lookups) is kept key
by key in an OrderedDict instead, as it always was, and goes back to runs
when its keys form few runs again.  tests/test_tlb_runs.py holds both to a
plain OrderedDict LRU.
"""
from collections import OrderedDict

SIZES = ("4K", "2M", "1G")
SHIFTS = (12, 21, 30)
MAX_RUNS = 8                # more runs than this: the set is kept key by key
_STEPS_MAX = 1 << 14        # remembered steps per DTLB geometry, at most (then it starts over)


def stlb_key(size_idx, vpn):
    """The STLB holds several page sizes: an entry is the page number with its
    size above it, so that the pages of a run are consecutive keys."""
    return size_idx << 56 | vpn


def run_step(C, runs, a, n):
    """run_step - the lookups of keys a .. a+n-1, in order, on an LRU set of
    capacity C > 0 whose order is runs: (runs after, hits, misses), where
    misses is ((start, count), ...) of the keys that missed, in order.  See
    the module doc."""
    b = a + n
    newer = 0
    seen = []                   # the run's keys found in newer runs, as (p, q)
    hits = []
    for s, e in reversed(runs):
        if s < b and a < e:
            p = a if a > s else s
            q = b if b < e else e
            m = 0
            for x, y in seen:
                if x < p:
                    m += (y if y < p else p) - x
            if e - 1 - a + newer - m < C:
                hits.append((p, q))
            seen.append((p, q))
        newer += e - s
    out = []
    for s, e in runs:
        if s < b and a < e:
            if s < a:
                _append(out, s, a)
            if b < e:
                _append(out, b, e)
        else:
            _append(out, s, e)
    _append(out, a, b)
    over = sum(e - s for s, e in out) - C
    while over > 0:
        s, e = out[0]
        if e - s <= over:
            del out[0]
            over -= e - s
        else:
            out[0] = (s + over, e)
            over = 0
    nhits = 0
    misses = []
    at = a
    for p, q in sorted(hits):
        nhits += q - p
        if p > at:
            misses.append((at, p - at))
        at = q
    if at < b:
        misses.append((at, b - at))
    return tuple(out), nhits, tuple(misses)


def _append(out, s, e):
    """Add run [s, e) as the newest of out, merged with the newest if it ends
    at s (its keys are older and ascending: one run)."""
    if out and out[-1][1] == s:
        out[-1] = (out[-1][0], e)
    else:
        out.append((s, e))


class LRU:
    """A fully associative LRU set of integer keys with a fixed capacity: its
    order as runs (runs, a tuple), or key by key (entries, an OrderedDict,
    oldest first) when it takes more than MAX_RUNS runs."""
    __slots__ = ("capacity", "runs", "entries", "since")

    def __init__(self, capacity):
        self.capacity = capacity
        self.runs = ()
        self.entries = None
        self.since = 0          # lookups since the set went key by key

    def access(self, key):
        """access - look key up; True on a hit.  A miss inserts it (LRU eviction)."""
        return self.access_run(key, 1)[0] == 1

    def access_run(self, a, n):
        """access_run - look up keys a .. a+n-1 in order: (hits, misses), misses
        being ((start, count), ...) of the keys that missed, in order."""
        C = self.capacity
        if C <= 0:
            return 0, ((a, n),)
        runs = self.runs
        if runs is not None:
            if self.goes_on(a):
                # all miss, and the set is the newest C keys of one run
                s = runs[0][0] if runs else a
                self.runs = ((s if a + n - s <= C else a + n - C, a + n),)
                return 0, ((a, n),)
            r = run_step(C, runs, a, n)
            if len(r[0]) <= MAX_RUNS:
                self.runs = r[0]
                return r[1], r[2]
            self.runs = None                    # too many runs: key by key from here
            self.entries = OrderedDict.fromkeys(k for s, e in r[0] for k in range(s, e))
            self.since = 0
            return r[1], r[2]
        return self._access_keys(a, n)

    def goes_on(self, a):
        """goes_on - kept as runs, and empty or one run that a lookup of a goes
        on from (a stream past its newest key): access_run's O(1) case, which
        no remembered step is needed for."""
        runs = self.runs
        return runs is not None and (not runs or (len(runs) == 1 and runs[0][1] == a))

    def _access_keys(self, a, n):
        """access_run() of a set kept key by key: one key at a time."""
        e = self.entries
        C = self.capacity
        hits = 0
        misses = []
        for key in range(a, a + n):
            if key in e:
                e.move_to_end(key)
                hits += 1
                continue
            if len(e) >= C:
                e.popitem(last=False)
            e[key] = None
            if misses and misses[-1][0] + misses[-1][1] == key:
                misses[-1] = (misses[-1][0], misses[-1][1] + 1)
            else:
                misses.append((key, 1))
        self.since += n
        if self.since >= C:
            self._maybe_runs()
        return hits, tuple(misses)

    def access_key(self, key):
        """access_key - access() of a set kept key by key (runs is None),
        written out: random lookups, one at a time."""
        e = self.entries
        hit = key in e
        if hit:
            e.move_to_end(key)
        else:
            if len(e) >= self.capacity:
                e.popitem(last=False)
            e[key] = None
        self.since += 1
        if self.since >= self.capacity:
            self._maybe_runs()
        return hit

    def _maybe_runs(self):
        """Now and then, key by key: do the keys form few runs again?"""
        self.since = 0
        runs = _as_runs(self.entries)
        if runs is not None:
            self.runs = runs
            self.entries = None

    def keys(self):
        """keys - the keys held, oldest first."""
        if self.runs is not None:
            return [k for s, e in self.runs for k in range(s, e)]
        return list(self.entries)

    def flush(self):
        self.runs = ()
        self.entries = None


def _as_runs(entries):
    """The order of an OrderedDict of keys as runs, or None past MAX_RUNS // 2."""
    runs = []
    for k in entries:
        if runs and runs[-1][1] == k:
            runs[-1][1] = k + 1
        else:
            if len(runs) >= MAX_RUNS // 2:
                return None
            runs.append([k, k + 1])
    return tuple((s, e) for s, e in runs)


_DTLB_STEPS = {}            # DTLB geometry -> {(size, first, n, l1 runs, stlb runs): step}


class DTLB:
    """One CPU's data TLBs: first level per page size, shared STLB.

    While both levels keep their order as runs, a whole lookup (both levels)
    is one remembered step, shared by every DTLB of the same geometry: (l1
    runs, STLB runs, STLB hits, walks) after it.  A stream that both levels
    take in O(1) (each one run that the lookup goes on from: a buffer larger
    than the STLB's reach) is not remembered: it never comes back to a state."""
    __slots__ = ("l1", "stlb", "stlb_sizes", "steps")

    def __init__(self, l1_entries, stlb_entries, stlb_sizes):
        self.l1 = [LRU(l1_entries.get(s, 0)) for s in SIZES]
        self.stlb = LRU(stlb_entries)
        self.stlb_sizes = stlb_sizes
        geometry = (tuple(t.capacity for t in self.l1), stlb_entries, tuple(sorted(stlb_sizes)))
        self.steps = _DTLB_STEPS.setdefault(geometry, {})

    def lookup_range(self, size_idx, first, n):
        """lookup_range - look up vpns first .. first+n-1 in order, in the first
        level of their size, then the STLB for those it misses: (STLB hits,
        page walks)."""
        l1 = self.l1[size_idx]
        stlb = self.stlb
        r1 = l1.runs
        rs = stlb.runs
        if n == 1 and r1 is None:               # random lookups, key by key
            if l1.access_key(first):
                return 0, 0
            if size_idx not in self.stlb_sizes:
                return 0, 1
            key = size_idx << 56 | first        # stlb_key(), inline
            if rs is None:
                return (1, 0) if stlb.access_key(key) else (0, 1)
            return (1, 0) if stlb.access_run(key, 1)[0] else (0, 1)
        if r1 is None or rs is None:
            return self._lookup_range(size_idx, first, n)
        key = (size_idx, first, n, r1, rs)
        r = self.steps.get(key)
        if r is not None:
            l1.runs, stlb.runs, hits, walks = r
            return hits, walks
        if l1.goes_on(first) and (size_idx not in self.stlb_sizes or
                                  stlb.goes_on(size_idx << 56 | first)):
            return self._lookup_range(size_idx, first, n)     # both in O(1)
        hits, walks = self._lookup_range(size_idx, first, n)
        if l1.runs is not None and stlb.runs is not None:
            if len(self.steps) >= _STEPS_MAX:
                self.steps.clear()
            self.steps[key] = (l1.runs, stlb.runs, hits, walks)
        return hits, walks

    def _lookup_range(self, size_idx, first, n):
        l1_hits, misses = self.l1[size_idx].access_run(first, n)
        if not misses:
            return 0, 0
        if size_idx not in self.stlb_sizes:
            return 0, n - l1_hits
        stlb = self.stlb
        base = size_idx << 56                   # stlb_key() of each run's first page
        hits = 0
        for s, m in misses:
            hits += stlb.access_run(base | s, m)[0]
        return hits, n - l1_hits - hits

    def flush(self):
        for t in self.l1:
            t.flush()
        self.stlb.flush()
