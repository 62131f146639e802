"""What relay reads and writes cost in the timing model.

The hot path only bumps two integers on the page it touched (``wbytes``,
``wops`` or ``rbytes``, ``rops``).  ``fold_buf`` turns them into the CPU's
modeled counters: streamed bytes on the page's node, one TLB lookup per
access at the buffer's mapping page size, and one cache-hot metadata line per
access on the node of the rchan_buf (and of the buf_page, for the page list).
The timing model calls the fold before it reports, so nothing is lost.

Work that happens only when an access stream changes page (a TLB probe that
may miss, a vmalloc fault, a list walk) is charged right away by ``touch``.
All accesses to a per-CPU buffer are charged to that buffer's CPU: the tracer
writes its own CPU's buffer, and the model counts the reader as local too.
"""


def fold_buf(tm, buf):
    c = buf.cost
    size = buf.ops.tlb_size(tm)
    meta_per_page = buf.ops.meta_per_page
    lookups = c.tlb_lookups
    meta = c.meta_lines
    for d in buf.descs:
        ops = d.wops + d.rops
        if ops:
            tm.stream(c, d.nid, d.wbytes + d.rbytes)
            c.ops += ops
            lookups[size] += ops
            meta[buf.nid] += ops
            if meta_per_page:
                meta[d.meta_nid] += ops
            d.wbytes = d.wops = d.rbytes = d.rops = 0


def touch(tm, buf, vpn):
    """touch - an access stream of buf moved to virtual page vpn: probe the TLB."""
    tm.tlb_probe(buf.cost, buf.ops.tlb_size(tm), vpn)
