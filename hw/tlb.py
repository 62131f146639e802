"""An exact LRU model of a two-level data TLB.

Each CPU has one first-level dTLB per page size (64 x 4K, 32 x 2M, 4 x 1G on
Skylake) and a shared second-level STLB for the sizes that it holds.  A lookup
that misses both levels is a page walk: that is what the timing model calls a
TLB miss.  Real TLBs are set-associative with pseudo-LRU replacement; this one
is fully associative LRU, which is exact for the sequential and strided
patterns a tracer makes and a documented approximation otherwise.
"""

from collections import OrderedDict

SIZES = ("4K", "2M", "1G")
SHIFTS = (12, 21, 30)


def stlb_key(size_idx, vpn):
    """The STLB holds several page sizes: an entry is the page number and its
    size in one integer (cheaper to hash than a tuple)."""
    return vpn << 2 | size_idx


class LRU:
    """A fully associative LRU set of page numbers with a fixed capacity.

    An OrderedDict, oldest first: a plain dict evicting its first key with
    next(iter(...)) scans the slots its earlier evictions left empty, which
    cost 600 ns an eviction once a large STLB had turned over (popitem: 100)."""
    __slots__ = ("capacity", "entries")

    def __init__(self, capacity):
        self.capacity = capacity
        self.entries = OrderedDict()

    def access(self, key):
        """access - look key up; True on a hit.  A miss inserts it (LRU eviction)."""
        e = self.entries
        if key in e:
            e.move_to_end(key)
            return True
        if self.capacity <= 0:
            return False
        if len(e) >= self.capacity:
            e.popitem(last=False)
        e[key] = None
        return False

    def flush(self):
        self.entries.clear()


class DTLB:
    """One CPU's data TLBs: first level per page size, shared STLB."""
    __slots__ = ("l1", "stlb", "stlb_sizes")

    def __init__(self, l1_entries, stlb_entries, stlb_sizes):
        self.l1 = [LRU(l1_entries.get(s, 0)) for s in SIZES]
        self.stlb = LRU(stlb_entries)
        self.stlb_sizes = stlb_sizes

    def lookup(self, size_idx, vpn):
        """lookup - returns 0 for an L1 hit, 1 for an STLB hit, 2 for a page walk.

        LRU.access, written out for both levels: this runs at every page
        change of every access stream."""
        l1 = self.l1[size_idx]
        e = l1.entries
        if vpn in e:
            e.move_to_end(vpn)
            return 0
        if l1.capacity > 0:
            if len(e) >= l1.capacity:
                e.popitem(last=False)
            e[vpn] = None
        if size_idx not in self.stlb_sizes:
            return 2
        stlb = self.stlb
        se = stlb.entries
        key = vpn << 2 | size_idx               # stlb_key(), inline
        if key in se:
            se.move_to_end(key)
            return 1
        if stlb.capacity > 0:
            if len(se) >= stlb.capacity:
                se.popitem(last=False)
            se[key] = None
        return 2

    def lookup_range(self, size_idx, first, n):
        """lookup_range - lookup() of vpns first .. first+n-1 in order (a
        multi-page copy's page changes): (STLB hits, page walks).  One loop,
        the two levels written out: an OrderedDict operation is the cost of a
        lookup (about 90 ns an eviction), and bulk forms (map over a range,
        update from dict.fromkeys) measured slower, not faster."""
        l1 = self.l1[size_idx]
        e, cap = l1.entries, l1.capacity
        se = self.stlb.entries if size_idx in self.stlb_sizes else None
        scap = self.stlb.capacity
        hits = walks = 0
        for vpn in range(first, first + n):     # lookup(), written out
            if vpn in e:
                e.move_to_end(vpn)
                continue
            if cap > 0:
                if len(e) >= cap:
                    e.popitem(last=False)
                e[vpn] = None
            if se is not None:
                key = vpn << 2 | size_idx       # stlb_key(), inline: once a page
                if key in se:
                    se.move_to_end(key)
                    hits += 1
                    continue
                if scap > 0:
                    if len(se) >= scap:
                        se.popitem(last=False)
                    se[key] = None
            walks += 1
        return hits, walks

    def flush(self):
        for t in self.l1:
            t.flush()
        self.stlb.flush()

