"""The patch's backend: a circular list of node-local pages (ltt/ltt-relay-alloc.c).

Each page is an order-0 page from ``alloc_pages_node(cpu_to_node(cpu),
GFP_KERNEL | __GFP_ZERO, 0)``, described by a ``buf_page`` kmalloc'ed on the
same node and linked into ``buf->pages`` behind a real head sentinel.  Four
cached pointers (``wpage``, ``rpage``, ``hpage[0]``, ``hpage[1]``) remember
the last page written, read and looked up for each of two sub-buffer headers.

``ltt_relay_cache_page`` finds the page holding an offset from a cached page:
the signed distance is wrapped into (-alloc_size/2, alloc_size/2], so the walk
goes the short way round the ring (ties go forward, because a forward walk
updates the cache).  A forward walk stores the page it found in the cache; a
backward walk does not.

Where this differs from the patch (docs/errata.md): the page at hand is
checked first, so a one-page buffer no longer walks away from the page that
holds the offset; and running off the end is an Oops raised before the cache
pointer is overwritten with NULL.  The fast path of ``ltt_relay_write`` and
``ltt_relay_read`` is the patch's loop for its commonest case, an access that
stays inside the cached page, written out to keep it lean.
"""
from hw import PAGE_SHIFT, PAGE_SIZE
from kmodel.core.list import (INIT_LIST_HEAD, list_add_tail, list_del_init,
                              list_for_each, list_for_each_reverse, list_for_each_entry_safe)
from kmodel.core.errno import ENOMEM
from kmodel.core.printk import KERN_WARNING
from kmodel.mm.gfp import GFP_KERNEL, __GFP_ZERO
from kmodel.mm.page import page_address, page_to_nid, page_to_phys, set_page_private
from kmodel.relay.accounting import zeroed_by_opener
from kmodel.relay.backend import Description, RelayBackend
from kmodel.relay.ltt_relay import ONE_ACCESS, TURN_ACCESS, buf_page
from kmodel.relay.stream import account_run, stream_turns
from kmodel.relay.relay_trace import (relay_paged, trace_relay_cache, trace_relay_copy,
                                      trace_relay_lookup, trace_relay_lookup_done,
                                      trace_relay_tlb, trace_relay_tlb_done, trace_relay_walk)

PAGE_MASK = ~(PAGE_SIZE - 1)
WPAGE, RPAGE, HPAGE0, HPAGE1 = 0, 1, 2, 3


def PAGE_ALIGN(size):
    return (size + PAGE_SIZE - 1) & PAGE_MASK


# --- allocation --------------------------------------------------------------
def relay_alloc_buf(k, buf, size, nid):
    """relay_alloc_buf - allocate the pages of a buffer on node nid (the patch's).

    Returns 0, or -ENOMEM after freeing everything allocated so far.
    """
    size = PAGE_ALIGN(size)
    n_pages = size >> PAGE_SHIFT
    INIT_LIST_HEAD(buf.pages)
    descs = []
    for i in range(n_pages):
        bp = k.kmalloc_node(buf_page, GFP_KERNEL, nid)
        if bp is None:
            return relay_depopulate(k, buf)
        bp.page = k.alloc_pages_node(nid, GFP_KERNEL | __GFP_ZERO, 0)
        if bp.page is None:
            k.kfree(bp)
            return relay_depopulate(k, buf)
        list_add_tail(bp.list, buf.pages)
        bp.offset = i << PAGE_SHIFT
        set_page_private(bp.page, bp)
        bp.virtual = page_address(bp.page)
        bp.nid = page_to_nid(bp.page)
        bp.paddr = page_to_phys(bp.page)
        bp.meta_nid = k.slab.kobj_to_nid(bp)
        descs.append(bp)
        if i == 0:
            buf.wpage = bp
            buf.hpage[0] = bp
            buf.hpage[1] = bp
            buf.rpage = bp
    buf.page_count = n_pages
    buf.descs = descs
    link_pages(k, buf)
    zeroed_by_opener(k, buf)            # __GFP_ZERO cleared them on this CPU
    if not n_pages:
        # Only the patch's behaviour gets here (a size product that wrapped to
        # 0): the cache pointers stay NULL, and the first access oopses.
        buf.wpage = buf.rpage = buf.hpage[0] = buf.hpage[1] = NullBufPage(k)
    return 0


class NullBufPage:
    """A NULL struct buf_page *: any field read is a NULL pointer dereference."""
    __slots__ = ("k",)

    def __init__(self, k):
        object.__setattr__(self, "k", k)

    def __getattr__(self, name):
        self.k.bug.oops("BUG: unable to handle kernel NULL pointer dereference at "
                        "0000000000000008", (f"reading buf_page->{name} of a NULL page",),
                        depth=2)


def link_pages(k, buf):
    """What the fast paths read off each buf_page, fixed with the pages: next
    (list.next, the real head skipped: the page list never changes while the
    buffer lives), vpn (its page of the linear map), and run/run_end (the
    frames after it that are physically next to it, in list order: a copy
    across them is one slice of the node's linear map, as one memcpy would
    be).  Not the patch's: the list walks and their costs are unchanged."""
    descs = buf.descs
    shift = k.timing.linear_shift
    for bp in descs:
        pos = bp.list.next
        if pos is buf.pages:
            pos = pos.next
        bp.next = pos.owner
        bp.vpn = bp.paddr >> shift
    i = 0
    while i < len(descs):
        j = i + 1
        while (j < len(descs) and descs[j].nid == descs[i].nid and
               descs[j].paddr == descs[j - 1].paddr + PAGE_SIZE):
            j += 1
        node = k.physmem.nodes[descs[i].nid]
        first = (descs[i].paddr >> PAGE_SHIFT) - node.start_pfn
        view = node.view[first << PAGE_SHIFT:(first + j - i) << PAGE_SHIFT]
        for m in range(i, j):
            descs[m].run = view[(m - i) << PAGE_SHIFT:]
            descs[m].run_end = j << PAGE_SHIFT
        i = j


def relay_depopulate(k, buf):
    """The depopulate: label of relay_alloc_buf, and relay_destroy_buf's page loop."""
    for bp in list_for_each_entry_safe(buf.pages):
        list_del_init(bp.list)
        bp.run = bp.next = None
        k.__free_page(bp.page)
        k.kfree(bp)
    buf.descs = []
    buf.wpage = buf.rpage = None
    buf.hpage[0] = buf.hpage[1] = None
    return -ENOMEM


# --- finding a page ----------------------------------------------------------
def meta_ws(buf):
    """The working set a list walk runs in: the buf_pages it chases one by one,
    a kmalloc-32 object a page."""
    return buf.page_count * buf_page.SIZEOF


class pagelist_buf:
    """The page list's part of a buffer (rchan_buf.priv): the cycles of one
    list step, fixed when its pages are (a dependent load of a buf_page, at
    the latency of the cache level that holds them; None past the LLC, when
    it is the DRAM latency of the buf_page's node)."""
    __slots__ = ("step",)

    def __init__(self, k, buf):
        lv = k.timing.level_of(meta_ws(buf))
        self.step = k.timing.level_load[lv] if lv is not None else None

    def step_cycles(self, c, nid):
        """The cycles of a list step to a buf_page on node nid, for CPU c."""
        return self.step if self.step is not None else c.line_cycles[nid]

    def charge_turns(self, c, d, turns):
        """The list steps of page turns that arrived at d (counted in its acct
        as ONE_TURNs), charged at the fold: what ltt_relay_cache_page's
        next-page step charges, turns times."""
        c.list_iters += turns
        c.meta_lines[d.meta_nid] += turns
        c.cycles += turns * self.step_cycles(c, d.meta_nid)


def _random_access_warning(buf, direction, i, offset, orig_iter_off, iter_off, diff_offset):
    k = buf.chan.k
    k.printk(KERN_WARNING + f"{direction} random access detected in ltt_relay. "
             f"Iterations {i}, offset {offset}, orig iter->off {orig_iter_off}, "
             f"iter->off {iter_off} diff_offset {diff_offset}.")
    k.WARN_ON(1, depth=3)         # reported at ltt_relay_find_{next,prev}_page


def _find_page(buf, page, offset, diff_offset, forward):
    """The loop of ltt_relay_find_{next,prev}_page: list_for_each_entry(_reverse)
    started at page's own list_head, so it visits every other entry and the
    real head, which it skips."""
    if trace_relay_walk.enabled:
        trace_relay_walk(buf, forward)
    head = buf.pages
    orig_iter_off = page.offset
    i = 0
    c = buf.cost
    for pos in (list_for_each(page.list) if forward else list_for_each_reverse(page.list)):
        if pos is head:
            continue
        i += 1
        it = pos.owner
        c.meta_lines[it.meta_nid] += 1
        if it.offset <= offset < it.offset + PAGE_SIZE:
            buf.chan.k.timing.walk(c, i, it.meta_nid, meta_ws(buf))
            if i > 1 and buf.chan.k.config["CONFIG_LTT_RELAY_CHECK_RANDOM_ACCESS"] == "y":
                _random_access_warning(buf, "Forward" if forward else "Backward", i, offset,
                                       orig_iter_off, it.offset, diff_offset)
            return it
    buf.chan.k.timing.walk(c, max(i, 1), buf.nid, meta_ws(buf))
    return None


def ltt_relay_find_prev_page(buf, page, offset, diff_offset):
    """ltt_relay_find_prev_page - walk backwards from page, skipping the real head."""
    return _find_page(buf, page, offset, diff_offset, False)


def ltt_relay_find_next_page(buf, page, offset, diff_offset):
    """ltt_relay_find_next_page - walk forwards from page, skipping the real head."""
    return _find_page(buf, page, offset, diff_offset, True)


def _set_cache(buf, which, page):
    if trace_relay_cache.enabled:
        trace_relay_cache(buf, which, page)
    if which == WPAGE:
        buf.wpage = page
    elif which == RPAGE:
        buf.rpage = page
    else:
        buf.hpage[which - HPAGE0] = page


def _lookup_fn():
    """ltt_relay_cache_page, or its form that fires relay_lookup and
    relay_lookup_done around it: chosen once per access, not per page."""
    return _traced_cache_page if trace_relay_lookup.enabled else ltt_relay_cache_page


def _traced_cache_page(buf, which, page, offset):
    trace_relay_lookup(buf, which, page, offset)
    found = ltt_relay_cache_page(buf, which, page, offset)
    trace_relay_lookup_done(buf, which, found)
    return found


def ltt_relay_cache_page(buf, which, page, offset):
    """ltt_relay_cache_page - the page holding offset, found from page.

    which names the cache pointer (WPAGE, RPAGE, HPAGE0, HPAGE1) that a forward
    walk updates.  Returns None where the C would go on with a NULL page (after
    its WARN_ON); the caller turns that into the oops the C would hit.  Its
    callers reach it through _lookup_fn(), which adds the lookup tracepoints.
    """
    diff_offset = offset - page.offset
    if 0 <= diff_offset < PAGE_SIZE and not buf.errata:
        return page                 # erratum fix: the page at hand holds the offset
    alloc_size = buf.alloc_size
    half_buf_size = alloc_size >> 1
    if diff_offset <= -half_buf_size:
        diff_offset += alloc_size
    elif diff_offset > half_buf_size:
        diff_offset -= alloc_size
    if diff_offset >= PAGE_SIZE:
        if diff_offset < 2 * PAGE_SIZE:
            # The next page: the first iteration of ltt_relay_find_next_page,
            # written out because a sequential stream does this at every page.
            pos = page.list.next
            if pos is buf.pages:
                pos = pos.next
            it = pos.owner
            if it.offset <= offset < it.offset + PAGE_SIZE:
                if trace_relay_walk.enabled:
                    trace_relay_walk(buf, True)
                c = buf.cost
                c.meta_lines[it.meta_nid] += 1
                c.list_iters += 1
                c.cycles += buf.priv.step_cycles(c, it.meta_nid)
                _set_cache(buf, which, it)
                return it
        found = ltt_relay_find_next_page(buf, page, offset, diff_offset)
        if buf.chan.k.WARN_ON(found is None):
            return None             # the C stores NULL in the cache here, then oopses
        _set_cache(buf, which, found)
        return found
    if diff_offset < 0:
        found = ltt_relay_find_prev_page(buf, page, offset, diff_offset)
        if buf.chan.k.WARN_ON(found is None):
            return None
        return found
    return page


def _null_deref(buf, fn):
    buf.chan.k.bug.oops("BUG: unable to handle kernel NULL pointer dereference at "
                        "0000000000000000", (f"IP: {fn}+0x0/0x0 (page lookup found no page)",),
                        depth=3)


def _touch_linear(buf, page):
    """The TLB lookup of a page change, through the linear map."""
    tm = buf.chan.k.timing
    size = tm.linear_size
    vpn = page.paddr >> tm.linear_shift
    if buf.cost.last_vpn[size] != vpn:      # else the MRU entry: a hit
        tm.tlb_probe(buf.cost, size, vpn)


def _traced_touch_linear(buf, page):
    trace_relay_tlb(buf, page.offset >> PAGE_SHIFT)
    _touch_linear(buf, page)
    trace_relay_tlb_done(buf, page.offset >> PAGE_SHIFT)


def _touch_fn():
    """_touch_linear, or its traced form: chosen once per access, not per page."""
    return _traced_touch_linear if trace_relay_tlb.enabled else _touch_linear


# --- reading and writing -----------------------------------------------------
# The patch's loop (_ltt_relay_copy) handles every access.  ltt_relay_write and
# ltt_relay_read first try three written-out cases of a sequential stream, with
# the same effects and counts (tests/test_fast_paths.py holds them to it):
#   - the access stays in the stream's cached page: one slice, no lookup;
#   - a page turn: the access fits in the next page, found by one list step
#     (counted as a ONE_TURN on that page, charged at the fold);
#   - a run: the access spans pages that are next to each other in the linear
#     map, starting on the cached page or the next: one slice over them, the
#     counts page by page (_run_span).
# The last two are taken only while no relay tracepoint has a probe
# (relay_paged), so that a probe sees every page an access touches; a buffer
# under CONFIG_LTT_RELAY_ERRATA or CONFIG_KMODEL_EXACT_TLB has the patch's loop
# alone (PATCH_OPS).

def _turns_written_out(buf):
    """The patch's loop may take a run at a time: no relay tracepoint has a
    probe, and the buffer runs the port's code, not the patch's own
    (PATCH_OPS: CONFIG_LTT_RELAY_ERRATA, CONFIG_KMODEL_EXACT_TLB)."""
    return buf.ops is not PATCH_OPS and not relay_paged.enabled


def ltt_relay_write(buf, offset, src, length):
    """ltt_relay_write - write length bytes of src at offset; returns length.

    Mirrors the patch's ltt_relay_write: the offset is taken modulo the buffer
    size, and a write that runs past the end of the buffer writes what fits,
    meets the patch's WARN_ON, and oopses.  Where it differs: the stream's
    common cases come first, written out (see above); the rest is the patch's
    loop, _ltt_relay_copy.
    """
    page = buf.wpage
    poff = (offset - page.offset) & buf.alloc_mask     # from the cached page, forward
    end = poff + length
    if end <= PAGE_SIZE:
        if length:
            page.virtual[poff:end] = src
            page.acct += length + ONE_ACCESS
            return length
        return 0
    if poff == PAGE_SIZE and end <= 2 * PAGE_SIZE and not relay_paged.enabled:
        page = page.next                        # the page turn
        page.virtual[:length] = src
        page.acct += length + TURN_ACCESS
        buf.wpage = page
        if buf.cost.last_vpn[buf.turns.size] != page.vpn:
            _turn_probe(buf, page)              # another linear-map page
        return length
    span = _run_span(buf, WPAGE, page, poff, end)
    if span is not None:
        span[0][span[1]:span[1] + length] = src
        return length
    return _ltt_relay_copy(buf, WPAGE, offset & buf.alloc_mask, src, length)


def ltt_relay_read(buf, offset, dest, length):
    """ltt_relay_read - read length bytes at offset into dest; returns length."""
    if not length:
        return 0                                # "if (unlikely(!len)) return 0;"
    page = buf.rpage
    poff = (offset - page.offset) & buf.alloc_mask
    end = poff + length
    if end <= PAGE_SIZE:
        dest[:length] = page.virtual[poff:end]
        page.acct += length + ONE_ACCESS
        return length
    if poff == PAGE_SIZE and end <= 2 * PAGE_SIZE and not relay_paged.enabled:
        # the page turn, as ltt_relay_write's (the patch's read mirrors its
        # write too; a call to share these lines costs a 4 KiB read a third)
        page = page.next
        dest[:length] = page.virtual[:length]
        page.acct += length + TURN_ACCESS
        buf.rpage = page
        if buf.cost.last_vpn[buf.turns.size] != page.vpn:
            _turn_probe(buf, page)
        return length
    span = _run_span(buf, RPAGE, page, poff, end)
    if span is not None:
        dest[:length] = span[0][span[1]:span[1] + length]
        return length
    return _ltt_relay_copy(buf, RPAGE, offset & buf.alloc_mask, dest, length)


def _turn_probe(buf, page):
    """The TLB lookup of a page turn into another page of the linear map."""
    t = buf.turns
    t.tm.tlb_probe(buf.cost, t.size, page.vpn)


def _run_span(buf, which, page, poff, end):
    """An access of [poff, end) counted from the start of page, the stream's
    cached page, that spans pages of one run (buf_page.run) starting at page
    or at the next one: counted by stream.account_run, as the patch's loop
    would count it.  Returns (view, start) to copy the bytes through in one
    slice, or None when it is not such an access."""
    if poff > PAGE_SIZE or relay_paged.enabled:
        return None
    first = page.next if poff == PAGE_SIZE else page
    if first.offset + end - (poff & PAGE_SIZE) > first.run_end:
        return None
    account_run(buf, which == WPAGE, page, poff, end, False)
    return first.run, poff & (PAGE_SIZE - 1)


def _ltt_relay_copy(buf, which, offset, mem, length):
    """The patch's loop of ltt_relay_write (which == WPAGE, mem is the source) and
    of ltt_relay_read (which == RPAGE, mem is the destination): page by page,
    each page found from the previous one by ltt_relay_cache_page.  Untraced,
    a page boundary where the next page holds the offset takes the stream's
    run from there in one step (stream.account_run), as the loop would."""
    orig_len = length
    write = which == WPAGE
    page = buf.wpage if write else buf.rpage
    if not length:
        return 0
    if (offset & ~PAGE_MASK) + length > PAGE_SIZE:
        mem = memoryview(mem).cast("B")     # several pages: slices of it copy nothing
    copied = trace_relay_copy.enabled
    lookup = _lookup_fn()                       # chosen once per access, not per page
    touch = _touch_fn()
    fast = _turns_written_out(buf)
    pos = 0
    while True:
        if fast and not offset & ~PAGE_MASK and page.next.offset == offset:
            nxt = page.next                     # the next pages, a run at a time
            n = length if length < nxt.run_end - offset else nxt.run_end - offset
            account_run(buf, write, page, PAGE_SIZE, PAGE_SIZE + n, False)
            if write:
                nxt.run[:n] = mem if n == orig_len else mem[pos:pos + n]
            else:
                mem[pos:pos + n] = nxt.run[:n]
            page = buf.wpage if write else buf.rpage
        else:
            page = lookup(buf, which, page, offset)
            if page is None:
                _null_deref(buf, "ltt_relay_write" if write else "ltt_relay_read")
            touch(buf, page)
            poff = offset & ~PAGE_MASK
            n = length if length < PAGE_SIZE - poff else PAGE_SIZE - poff
            if write:
                page.virtual[poff:poff + n] = mem if n == orig_len else mem[pos:pos + n]
            else:
                mem[pos:pos + n] = page.virtual[poff:poff + n]
            page.acct += n + ONE_ACCESS
            if copied:
                trace_relay_copy(buf, page.offset >> PAGE_SHIFT, poff, n, write)
        length -= n
        if not length:
            break
        pos += n
        offset += n
        # "Underlying layer should never ask for writes across subbuffers."
        if offset >= buf.alloc_size:
            buf.chan.k.WARN_ON(True)
    return orig_len


def ltt_relay_read_get_page(buf, offset):
    """ltt_relay_read_get_page - the buf_page to read whole from (updates rpage)."""
    offset &= buf.alloc_mask
    page = _lookup_fn()(buf, RPAGE, buf.rpage, offset)
    if page is not None:
        _touch_fn()(buf, page)
        page.acct += ONE_ACCESS
    return page


def ltt_relay_offset_address(buf, offset):
    """ltt_relay_offset_address - a view from offset to the end of its page.

    For sub-buffer headers: hpage[odd] caches the page for even and odd
    sub-buffers; a miss restarts from wpage.  Writing through the view is safe
    while the write stays inside the page, as the patch's comment says.
    """
    offset &= buf.alloc_mask
    odd = 1 if offset & buf.subbuf_size else 0
    page = buf.hpage[odd]
    if offset < page.offset or offset >= page.offset + PAGE_SIZE:
        buf.hpage[odd] = page = buf.wpage
    page = _lookup_fn()(buf, HPAGE0 + odd, page, offset)
    if page is None:
        _null_deref(buf, "ltt_relay_offset_address")
    _touch_fn()(buf, page)
    page.acct += ONE_ACCESS
    return page.virtual[offset & ~PAGE_MASK:]


class PagelistBackend(RelayBackend):
    """The patch's page list.  Its variant for the errata and for the exact TLB
    is the patch's own loop, with no fast path in front of it."""
    name = "pagelist"
    meta_per_page = True
    write = staticmethod(ltt_relay_write)
    read = staticmethod(ltt_relay_read)
    read_get_page = staticmethod(ltt_relay_read_get_page)
    offset_address = staticmethod(ltt_relay_offset_address)

    @staticmethod
    def tlb_size(tm):
        return tm.linear_size

    def alloc_buf(self, k, buf, nid):
        ret = relay_alloc_buf(k, buf, buf.alloc_size, nid)
        if not ret:
            buf.priv = pagelist_buf(k, buf)
            buf.turns = stream_turns(k.timing, k.timing.linear_size, TURN_ACCESS)
        return ret

    def free_buf(self, k, buf):
        relay_depopulate(k, buf)
        buf.priv = buf.turns = None

    def pages(self, buf):
        from kmodel.core.list import list_for_each_entry
        return [(bp.offset, bp.page) for bp in list_for_each_entry(buf.pages)]

    def describe(self, buf):
        return Description("page list", [], ring=True)

    def variant(self, errata, exact):
        return PATCH_OPS if errata or exact else self


def patch_ltt_relay_write(buf, offset, src, length):
    """ltt_relay_write exactly as the patch runs it: every access through
    ltt_relay_cache_page and the TLB model, no fast path (CONFIG_LTT_RELAY_ERRATA,
    CONFIG_KMODEL_EXACT_TLB)."""
    return _ltt_relay_copy(buf, WPAGE, offset & buf.alloc_mask, src, length)


def patch_ltt_relay_read(buf, offset, dest, length):
    return _ltt_relay_copy(buf, RPAGE, offset & buf.alloc_mask, dest, length)


class PatchPagelistBackend(PagelistBackend):
    write = staticmethod(patch_ltt_relay_write)
    read = staticmethod(patch_ltt_relay_read)


PATCH_OPS = PatchPagelistBackend()
