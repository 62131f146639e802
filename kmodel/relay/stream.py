"""A stream's runs of pages: the counts of an access that spans pages, in one go.

A tracer writes its buffer as a stream: most accesses stay in the page the
stream is on, and the others go on to the next page or span a few.  Every
backend has a page loop for the general case; this is the accounting its
written-out fast path shares, for an access that starts on the stream's
cached page (or exactly at the next one) and runs forward, page by page as
``buf_page.next`` links them:

  - each page touched gets its bytes and one access in ``acct``; a page the
    stream arrives at also gets the backend's ``turns.weight`` (the page
    list's ONE_TURN: the list step that found it, charged at the fold);
  - the TLB is looked up at each mapping page entered, in order
    (``tlb_probe_range`` over the pages' ``vpn``), as the page loop's touches
    would look it up;
  - the stream's cache pointer moves to the last page.

Whole pages in the middle of a run all get the same count, and a stream's
runs follow each other round the ring: ``rchan_buf.tally`` holds them as one
pending range, [first page, number of pages] (each gets a whole page and the
backend's weight), which the next run extends when it goes on where it ends,
so that a run of n pages costs O(1), not n updates.  ``flush_tally`` adds it
to the pages (the fold calls it first); a run that does not go on where the
range ends flushes it and starts its own.

``rchan_buf.turns`` says a buffer may take it: the timing model, the page size
(index in hw.tlb.SIZES) of its mapping, and the weight; None where page
changes cost more than this counts (vmap on a lazy-sync machine: vmalloc
faults).  Taken only while no relay tracepoint has a probe (relay_paged).
"""
from hw import PAGE_SHIFT, PAGE_SIZE
from kmodel.relay.ltt_relay import ONE_ACCESS


class stream_turns:
    """rchan_buf.turns: what a run's accounting needs, fixed with the pages."""
    __slots__ = ("tm", "size", "weight")

    def __init__(self, tm, size, weight):
        self.tm = tm
        self.size = size
        self.weight = weight


def account_run(buf, write, page, poff, end, skip_cached):
    """account_run - count an access of [poff, end) bytes from the start of
    page, the stream's cached page, where poff <= PAGE_SIZE (it starts on that
    page, or at the start of the next one), end > PAGE_SIZE (it leaves the
    cached page), and it stays in the buffer.  skip_cached: the cached page's
    TLB entry is not looked up again (the contiguous backends' page changes;
    the page list's loop touches it).  Returns the first page it touches."""
    t = buf.turns
    nxt = page.next
    rest = end - PAGE_SIZE                  # the bytes from the start of nxt on
    if poff == PAGE_SIZE:
        first = probe = nxt
    else:
        page.acct += PAGE_SIZE - poff + ONE_ACCESS      # the cached page: no step
        first = page
        probe = nxt if skip_cached else page
    descs = buf.descs
    lo = nxt.offset >> PAGE_SHIFT
    n = rest >> PAGE_SHIFT                  # whole pages from nxt on
    tail = rest & (PAGE_SIZE - 1)
    if tail:
        lp = descs[lo + n]
        lp.acct += tail + t.weight
    else:
        lp = descs[lo + n - 1]
    if n > 1:
        tally = buf.tally
        if tally[1] and (tally[0] + tally[1]) % len(descs) == lo:
            tally[1] += n                   # the stream goes on
        else:
            if tally[1]:
                flush_tally(buf)
            tally[0] = lo
            tally[1] = n
    elif n:
        nxt.acct += PAGE_SIZE + t.weight
    if write:
        buf.wpage = lp
    else:
        buf.rpage = lp
    v0 = probe.vpn
    if v0 != lp.vpn or buf.cost.last_vpn[t.size] != v0:     # else the MRU entry: a hit
        t.tm.tlb_probe_range(buf.cost, t.size, v0, lp.vpn - v0 + 1)
    return first


def flush_tally(buf):
    """flush_tally - add buf's pending range of whole pages to their acct."""
    start, n = buf.tally
    if not n:
        return
    amount = PAGE_SIZE + buf.turns.weight
    descs = buf.descs
    laps, rem = divmod(n, len(descs))
    if laps:
        for d in descs:
            d.acct += laps * amount
    for j in range(start, start + rem):
        descs[j % len(descs)].acct += amount
    buf.tally[1] = 0
