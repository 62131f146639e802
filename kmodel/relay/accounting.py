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

All accesses through the relay to a per-CPU buffer are charged to that
buffer's CPU: the tracer writes its own CPU's buffer.  A consumer reading
delivered sub-buffers on another CPU is charged on its own CPU through
``consumer_read``.

Coherence: each page records which CPU's cache holds its lines
(``buf_page.holder``, None for memory) and whether they are modified there.
The opener clears the pages when it allocates them (``zeroed_by_opener``), so
they start dirty in its cache, or, for those cleared more than an LLC ago,
written back to their home node.  A fold charges the writer's first page of
bytes on a page it does not hold as a fetch (hw.timing.TimingModel.fetch:
from the holder's cache, through the home node, or from memory), the rest as
before; then the writer holds the page, unless the buffer is larger than its
LLC, whose lines have left (written back) by the next lap.  A consumer's read
takes the lines the same way; lines it takes dirty are written back to the
home node.  So the writer's next lap takes its lines back from the consumer.
The model tracks whole pages, not lines, and charges no write-back cycles
(they are posted); it counts them (``writeback_local``/``_remote``).
"""
from hw import PAGE_SHIFT, PAGE_SIZE
from kmodel.relay.ltt_relay import ACCESS_SHIFT, ONE_ACCESS, TURN_SHIFT
from kmodel.relay.stream import flush_tally

ACCESS_MASK = (1 << (TURN_SHIFT - ACCESS_SHIFT)) - 1


def fold_buf(tm, buf, ws=None):
    """Fold buf's per-page counts into its CPU's counters; ws is the working set
    its stream runs in (default: the buffer alone).  See working_sets()."""
    c = buf.cost
    if ws is None:
        ws = buf.alloc_size
    if buf.tally[1]:
        flush_tally(buf)
    size = buf.ops.tlb_size(tm)
    meta_per_page = buf.ops.meta_per_page
    region = buf.ops.reserved_region
    stream = tm.region_stream if region else tm.stream
    lookups = c.tlb_lookups
    meta = c.meta_lines
    keeps = tm.holds(ws)
    for d in buf.descs:
        acct = d.acct
        if acct:
            ops = (acct >> ACCESS_SHIFT) & ACCESS_MASK
            turns = acct >> TURN_SHIFT
            if turns:
                buf.priv.charge_turns(c, d, turns)
            nbytes = acct & (ONE_ACCESS - 1)
            if d.holder is not c and not region:
                first = min(nbytes, PAGE_SIZE)
                tm.fetch(c, d.nid, first, d.holder)
                nbytes -= first
            if nbytes:
                stream(c, d.nid, nbytes, ws)
            if keeps:
                d.holder = c
                d.dirty = True
            else:                       # gone by the next lap: written back
                c.writeback[d.nid] += acct & (ONE_ACCESS - 1)
                d.holder = None
                d.dirty = False
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


def zeroed_by_opener(k, buf):
    """The pages of a new buffer were cleared by the CPU that allocates them
    (the opener's, or the hotplug CPU's): __GFP_ZERO for the page list,
    relay_alloc_buf's memset for vmap.  See the module doc."""
    tm = k.timing
    tm.zeroed(tm.cpus[k.current.cpu], buf.descs, PAGE_SIZE)


def consumer_read(buf, offset, length, cpu):
    """consumer_read - the consumer on CPU cpu reads length bytes at offset of
    buf (a delivered sub-buffer): charged on cpu, by where each page's lines
    are (see the module doc).  The writer's pending counts are folded first,
    so the lines are where the writer left them."""
    k = buf.chan.k
    tm = k.timing
    c = tm.cpus[cpu]
    tm.flush()                  # every buffer's pending counts, in its working set
    keeps = tm.holds(buf.alloc_size)
    offset &= buf.alloc_mask
    end = offset + length
    for idx in range(offset >> PAGE_SHIFT, ((end - 1) >> PAGE_SHIFT) + 1):
        d = buf.descs[idx]
        lo = idx << PAGE_SHIFT
        n = min(end, lo + PAGE_SIZE) - max(offset, lo)
        h = d.holder
        if h is c:
            tm.stream(c, d.nid, n, buf.alloc_size)
            continue
        tm.fetch(c, d.nid, n, h)
        if h is not None and d.dirty:
            h.writeback[d.nid] += n         # the reader's snoop writes them home
        d.holder = c if keeps else None
        d.dirty = False
