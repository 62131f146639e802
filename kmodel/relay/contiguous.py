"""Reads and writes for backends whose buffer is one contiguous view (vmap, static).

An access is one slice of ``buf.view``: no page lookup at all, which is the
point of the contiguous design.  Accounting is per page, like the page list:
``buf.wpage``/``buf.rpage`` hold the page each access stream is on, and the
hot path bumps that page's counter.  When a stream moves to another page,
``_account`` charges what a page change costs (a TLB probe at the mapping's
page size; on lazy-sync machines, the first touch of a vmalloc page from this
CPU is a vmalloc fault).

Running past the end of the buffer writes what fits, meets the same WARN_ON
as the page list (same semantics for callers), and then oopses as the C
memcpy would when it reaches the vmap guard page or the next block.
"""
from hw import PAGE_SHIFT, PAGE_SIZE
from kmodel.relay.backend import RelayBackend
from kmodel.relay.ltt_relay import ONE_ACCESS, buf_page
from kmodel.relay.relay_trace import (relay_paged, trace_relay_copy, trace_relay_tlb,
                                      trace_relay_tlb_done)
from kmodel.relay.stream import account_run, stream_turns


def _touch(buf, idx, offset, n):
    """The backend's touch hook (a page change), with its tracepoints."""
    if trace_relay_tlb.enabled:
        trace_relay_tlb(buf, idx)
        buf.ops.touch(buf, idx, offset, n)
        trace_relay_tlb_done(buf, idx)
    else:
        buf.ops.touch(buf, idx, offset, n)


def _past_end(buf, fn, offset, length):
    k = buf.chan.k
    k.WARN_ON(True, depth=3)
    k.bug.oops(f"BUG: unable to handle kernel paging request at "
               f"{buf.ops.fault_address(buf, buf.alloc_size):016x}",
               (f"IP: {fn}+0x0/0x0 ({length} bytes at offset {offset}, "
                f"buffer of {buf.alloc_size})",), depth=3)


def _account(buf, offset, end, write, exact=False):
    """Charge an access [offset, end) that changes page or spans pages
    (exact: every page is looked up, even the stream's own)."""
    descs = buf.descs
    touch = _touch if trace_relay_tlb.enabled else buf.ops.touch
    copied = trace_relay_copy.enabled
    cur = None if exact else (buf.wpage if write else buf.rpage)
    idx = offset >> PAGE_SHIFT
    last = (end - 1) >> PAGE_SHIFT
    if idx == last:                         # one page, another than the stream's
        d = descs[idx]
        if d is not cur:
            touch(buf, idx, offset, end - offset)
        d.acct += end - offset + ONE_ACCESS
        if copied:
            trace_relay_copy(buf, idx, offset - d.offset, end - offset, write)
        if write:
            buf.wpage = d
        else:
            buf.rpage = d
        return
    t = buf.turns
    if not copied and touch is not _touch and t is not None:
        # untraced, and a page change is a TLB lookup only: one run of them
        v0 = descs[idx + 1 if descs[idx] is cur else idx].vpn
        t.tm.tlb_probe_range(buf.cost, t.size, v0, descs[last].vpn - v0 + 1)
        for i in range(idx, last + 1):
            descs[i].acct += PAGE_SIZE + ONE_ACCESS
        descs[idx].acct -= offset & (PAGE_SIZE - 1)
        descs[last].acct -= ((last + 1) << PAGE_SHIFT) - end
        if write:
            buf.wpage = descs[last]
        else:
            buf.rpage = descs[last]
        return
    while idx <= last:
        d = descs[idx]
        lo = idx << PAGE_SHIFT
        n = min(end, lo + PAGE_SIZE) - max(offset, lo)
        if d is not cur:
            touch(buf, idx, max(offset, lo), n)
            cur = d
        d.acct += n + ONE_ACCESS
        if copied:
            trace_relay_copy(buf, idx, max(offset, lo) - lo, n, write)
        idx += 1
    if write:
        buf.wpage = cur
    else:
        buf.rpage = cur


def contig_write(buf, offset, src, length):
    """The contiguous ltt_relay_write: one slice assignment (through buf.view:
    buf_page.run is the view from the page on)."""
    page = buf.wpage
    offset &= buf.alloc_mask
    poff = offset - page.offset
    end = poff + length
    if 0 <= poff and end <= PAGE_SIZE and length:
        page.run[poff:end] = src
        page.acct += length + ONE_ACCESS
        return length
    stop = offset + length
    if not length or stop > buf.alloc_size:
        return _contig_copy(buf, offset, src, length, True)
    buf.view[offset:stop] = src                 # one slice, across pages
    poff &= buf.alloc_mask                      # (the stream may go round the end)
    if poff <= PAGE_SIZE and page is not NO_PAGE and buf.turns is not None and \
            not relay_paged.enabled:
        account_run(buf, True, page, poff, poff + length, True)     # the stream goes on
    else:
        _account(buf, offset, stop, True)
    return length


def contig_read(buf, offset, dest, length):
    """The contiguous ltt_relay_read: one slice copy."""
    page = buf.rpage
    offset &= buf.alloc_mask
    poff = offset - page.offset
    end = poff + length
    if 0 <= poff and end <= PAGE_SIZE and length:
        dest[:length] = page.run[poff:end]
        page.acct += length + ONE_ACCESS
        return length
    stop = offset + length
    if not length or stop > buf.alloc_size:
        return _contig_copy(buf, offset, dest, length, False)
    dest[:length] = buf.view[offset:stop]
    poff &= buf.alloc_mask
    if poff <= PAGE_SIZE and page is not NO_PAGE and buf.turns is not None and \
            not relay_paged.enabled:
        account_run(buf, False, page, poff, poff + length, True)
    else:
        _account(buf, offset, stop, False)
    return length


def _contig_copy(buf, offset, mem, length, write):
    """The rare cases: empty accesses, and accesses that run off the end."""
    if not length:
        return 0
    end = offset + length
    fit = min(end, buf.alloc_size) - offset
    if fit < length:
        mem = memoryview(mem).cast("B")[:fit]
    if write:
        buf.view[offset:offset + fit] = mem
    else:
        mem[:fit] = buf.view[offset:offset + fit]
    _account(buf, offset, offset + fit, write)
    if fit < length:
        _past_end(buf, "ltt_relay_write" if write else "ltt_relay_read", offset, length)
    return length


def _lookup(buf, offset, write):
    """A page lookup: an access of no bytes (the caller moves the data itself)."""
    idx = offset >> PAGE_SHIFT
    d = buf.descs[idx]
    if d is not (buf.wpage if write else buf.rpage):
        _touch(buf, idx, offset, 1)
        if write:
            buf.wpage = d
        else:
            buf.rpage = d
    d.acct += ONE_ACCESS
    return d


def contig_read_get_page(buf, offset):
    """The page holding offset: its descriptor (page and offset in the buffer)."""
    return _lookup(buf, offset & buf.alloc_mask, False)


def contig_offset_address(buf, offset):
    """A view from offset to the end of its page (as the page list gives)."""
    offset &= buf.alloc_mask
    _lookup(buf, offset, True)
    return buf.view[offset:((offset >> PAGE_SHIFT) + 1) << PAGE_SHIFT]


class _NoPage:
    """Where a stream stands before its first access: no offset matches it, so
    the first access takes the page-change path and pays its TLB probe (and,
    on lazy-sync machines, its vmalloc fault)."""
    __slots__ = ()
    offset = -(1 << 62)


NO_PAGE = _NoPage()


def make_descs(k, buf, pages, meta_nid, size, vpn0=None):
    """Per-page descriptors for accounting and pictures (not kernel memory).
    size: the page size (hw.tlb.SIZES index) the buffer's mapping uses; vpn0:
    the mapping's first page number when it maps 4 KiB pages in buffer order
    (vmap), else each page's number is its physical address's in the linear
    map.  Sets buf.turns for stream.account_run (the caller clears it where
    page changes cost more)."""
    descs = []
    shift = k.timing.linear_shift
    for i, page in enumerate(pages):
        d = buf_page()
        d.page = page
        d.offset = i * PAGE_SIZE
        d.virtual = page.virtual[:PAGE_SIZE]
        d.nid = page.nid
        d.paddr = page.pfn << PAGE_SHIFT
        d.meta_nid = meta_nid
        d.vpn = vpn0 + i if vpn0 is not None else d.paddr >> shift
        d.run = buf.view[d.offset:]         # the mapping is contiguous: one run
        d.run_end = buf.alloc_size
        descs.append(d)
    for i, d in enumerate(descs):
        d.next = descs[(i + 1) % len(descs)]
    buf.descs = descs
    buf.turns = stream_turns(k.timing, size, ONE_ACCESS)
    buf.wpage = buf.rpage = NO_PAGE
    buf.hpage[0] = buf.hpage[1] = NO_PAGE
    return descs


class ContiguousBackend(RelayBackend):
    """What vmap and static share: one view, accessed by the functions above.
    A subclass gives alloc_buf/free_buf, tlb_size, describe, and the two hooks
    of this family: touch(buf, idx, offset, n), what a stream's move to page
    idx costs, and fault_address(buf, offset), the address a run past the end
    faults at."""
    contiguous = True
    meta_per_page = False
    write = staticmethod(contig_write)
    read = staticmethod(contig_read)
    read_get_page = staticmethod(contig_read_get_page)
    offset_address = staticmethod(contig_offset_address)

    @staticmethod
    def touch(buf, idx, offset, n):
        raise NotImplementedError

    @staticmethod
    def fault_address(buf, offset):
        raise NotImplementedError

    def variant(self, errata, exact):
        if not exact:
            return self
        cls = type(self)
        ops = cls.__dict__.get("_exact_ops")
        if ops is None:
            ops = exact_variant(cls)
            cls._exact_ops = ops
        return ops


def exact_write(buf, offset, src, length):
    """contig_write with every page through the TLB model (CONFIG_KMODEL_EXACT_TLB)."""
    offset &= buf.alloc_mask
    end = offset + length
    if not length or end > buf.alloc_size:
        return _contig_copy(buf, offset, src, length, True)
    buf.view[offset:end] = src
    _account(buf, offset, end, True, exact=True)
    return length


def exact_read(buf, offset, dest, length):
    """contig_read with every page through the TLB model."""
    offset &= buf.alloc_mask
    end = offset + length
    if not length or end > buf.alloc_size:
        return _contig_copy(buf, offset, dest, length, False)
    dest[:length] = buf.view[offset:end]
    _account(buf, offset, end, False, exact=True)
    return length


def exact_variant(backend_cls):
    """The backend's ops without the fast path, for CONFIG_KMODEL_EXACT_TLB."""
    cls = type(f"Exact{backend_cls.__name__}", (backend_cls,),
               {"write": staticmethod(exact_write), "read": staticmethod(exact_read)})
    return cls()
