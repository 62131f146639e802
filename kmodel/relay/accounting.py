"""What relay reads and writes cost in the timing model.

The hot path only bumps one integer on the page it touched: ``acct +=
length + ONE_ACCESS`` counts an access and its bytes (and ``+ ONE_TURN``, on
the page list, the list step that brought a stream to this page: the fold
charges it through the backend's ``priv.charge_turns``).  ``fold_buf`` turns it into the CPU's
modeled counters: streamed bytes on the page's node, served from the cache
level that holds the CPU's working set (``working_sets``), one TLB lookup per
access at the buffer's mapping page size, and one cache-hot metadata line per
access on the node of the rchan_buf (and of the buf_page, for the page list).
The timing model calls the fold before it reports, so nothing is lost.

Work that happens only when an access stream changes page (a TLB probe that
may miss, a vmalloc fault, a list walk) is charged right away, where the
backend changes page: the page list's lookup and ``_touch_linear``, a
contiguous backend's ``touch`` hook.  With CONFIG_KMODEL_EXACT_TLB=y, buffers
use their backend's exact variant (``variant(errata, exact)``): no
fast path, so every access probes the TLB model (whose MRU shortcut is per
CPU, which keeps it exact under any interleaving of streams).

For the page list, the cache pointers start on page 0 (the patch's), so the
first page's first touch takes no probe; its compulsory TLB miss moves to the
next page change, which falls in the same 1 GiB or 2 MiB linear-map page.

All accesses to a per-CPU buffer are charged to that buffer's CPU: the tracer
writes its own CPU's buffer, and the model counts the reader as local too.
"""
from kmodel.relay.ltt_relay import ACCESS_SHIFT, ONE_ACCESS, TURN_SHIFT
from kmodel.relay.stream import flush_tally

ACCESS_MASK = (1 << (TURN_SHIFT - ACCESS_SHIFT)) - 1


def fold_buf(tm, buf, ws=None):
    """Fold buf's per-page counts into its CPU's counters; ws is the working set
    its stream runs in (default: the buffer alone).  See working_sets()."""
    c = buf.cost
    if ws is None:
        ws = buf.alloc_size
    flush_tally(buf)
    size = buf.ops.tlb_size(tm)
    meta_per_page = buf.ops.meta_per_page
    stream = tm.region_stream if buf.ops.reserved_region else tm.stream
    lookups = c.tlb_lookups
    meta = c.meta_lines
    for d in buf.descs:
        acct = d.acct
        if acct:
            ops = (acct >> ACCESS_SHIFT) & ACCESS_MASK
            turns = acct >> TURN_SHIFT
            if turns:
                buf.priv.charge_turns(c, d, turns)
            stream(c, d.nid, acct & (ONE_ACCESS - 1), ws)
            c.ops += ops
            lookups[size] += ops
            meta[buf.nid] += ops
            if meta_per_page:
                meta[d.meta_nid] += ops
            d.acct = 0



def working_sets(bufs):
    """The working set of each CPU's streams since the last fold: the sizes of
    the buffers it touched, summed.  A ring written cyclically touches its
    whole buffer between two visits to a line, and so does every other buffer
    the CPU wrote or read in the meantime: that is the reuse distance, and it
    decides which cache level serves the stream (hw.timing)."""
    ws = {}
    for buf in bufs:
        if buf.cost is not None and (buf.tally[1] or any(d.acct for d in buf.descs)):
            ws[buf.cost] = ws.get(buf.cost, 0) + buf.alloc_size
    return ws
