"""Reads and writes for backends whose buffer is one contiguous view (vmap, static).

An access is one slice of ``buf.view``: no page lookup at all, which is the
point of the contiguous design.  Accounting is per page, like the page list:
the hot path bumps the counters of the page it stays on; when an access
stream moves to another page, ``touch_page`` charges what a page change costs
(a TLB probe at the mapping's page size; on lazy-sync machines, the first
touch of a vmalloc page from this CPU is a vmalloc fault).

Running past the end of the buffer writes what fits, meets the same WARN_ON
as the page list (same semantics for callers), and then oopses as the C
memcpy would when it reaches the vmap guard page or the next block.
"""
from hw import PAGE_SHIFT, PAGE_SIZE

from kmodel.relay.ltt_relay import buf_page


def touch_page(buf, idx, offset, n):
    buf.ops.touch(buf, idx, offset, n)


def _past_end(buf, fn, offset, length):
    k = buf.chan.k
    k.WARN_ON(True, depth=3)
    k.bug.oops(f"BUG: unable to handle kernel paging request at "
               f"{buf.ops.fault_address(buf, buf.alloc_size):016x}",
               (f"IP: {fn}+0x0/0x0 ({length} bytes at offset {offset}, "
                f"buffer of {buf.alloc_size})",), depth=3)


def _account(buf, offset, end, write):
    """Charge an access [offset, end) that may span pages or change page."""
    descs = buf.descs
    idx = offset >> PAGE_SHIFT
    last = (end - 1) >> PAGE_SHIFT
    while idx <= last:
        lo = max(offset, idx << PAGE_SHIFT)
        hi = min(end, (idx + 1) << PAGE_SHIFT)
        if write:
            if idx != buf.last_w:
                touch_page(buf, idx, lo, hi - lo)
                buf.last_w = idx
            descs[idx].wbytes += hi - lo
            descs[idx].wops += 1
        else:
            if idx != buf.last_r:
                touch_page(buf, idx, lo, hi - lo)
                buf.last_r = idx
            descs[idx].rbytes += hi - lo
            descs[idx].rops += 1
        idx += 1


def contig_write(buf, offset, src, length):
    """The contiguous ltt_relay_write: one slice assignment."""
    offset &= buf.alloc_mask
    end = offset + length
    idx = offset >> PAGE_SHIFT
    if length and idx == buf.last_w and (end - 1) >> PAGE_SHIFT == idx:
        buf.view[offset:end] = src
        d = buf.descs[idx]
        d.wbytes += length
        d.wops += 1
        return length
    if not length:
        return 0
    if end > buf.alloc_size:
        fit = buf.alloc_size - offset
        buf.view[offset:] = memoryview(src).cast("B")[:fit]
        _account(buf, offset, buf.alloc_size, True)
        _past_end(buf, "ltt_relay_write", offset, length)
    buf.view[offset:end] = src
    _account(buf, offset, end, True)
    return length


def contig_read(buf, offset, dest, length):
    """The contiguous ltt_relay_read: one slice copy."""
    offset &= buf.alloc_mask
    end = offset + length
    idx = offset >> PAGE_SHIFT
    if length and idx == buf.last_r and (end - 1) >> PAGE_SHIFT == idx:
        dest[:length] = buf.view[offset:end]
        d = buf.descs[idx]
        d.rbytes += length
        d.rops += 1
        return length
    if not length:
        return 0
    if end > buf.alloc_size:
        fit = buf.alloc_size - offset
        memoryview(dest).cast("B")[:fit] = buf.view[offset:]
        _account(buf, offset, buf.alloc_size, False)
        _past_end(buf, "ltt_relay_read", offset, length)
    dest[:length] = buf.view[offset:end]
    _account(buf, offset, end, False)
    return length


def contig_read_get_page(buf, offset):
    """The page holding offset: its descriptor (page and offset in the buffer)."""
    offset &= buf.alloc_mask
    _account(buf, offset, offset + 1, False)
    return buf.descs[offset >> PAGE_SHIFT]


def contig_offset_address(buf, offset):
    """A view from offset to the end of its page (as the page list gives)."""
    offset &= buf.alloc_mask
    _account(buf, offset, offset + 1, True)
    return buf.view[offset:((offset >> PAGE_SHIFT) + 1) << PAGE_SHIFT]


def make_descs(k, pages, meta_nid):
    """Per-page descriptors for accounting and pictures (not kernel memory)."""
    descs = []
    for i, page in enumerate(pages):
        d = buf_page()
        d.page = page
        d.offset = i * PAGE_SIZE
        d.virtual = page.virtual[:PAGE_SIZE]
        d.nid = page.nid
        d.paddr = page.pfn << PAGE_SHIFT
        d.meta_nid = meta_nid
        descs.append(d)
    return descs
