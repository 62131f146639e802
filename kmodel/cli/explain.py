"""kmodel explain write|read OFFSET LEN: one access, step by step, with its cost.

The steps are not computed by a second implementation: the access runs in the
emulator under a profile hook that records each call of the relay's lookup
functions (ltt_relay_cache_page, ltt_relay_find_next_page/prev_page, the TLB
probe), and snapshots of the timing model and the pages' counters around
them.  The narrative is read off those records.
"""
import sys

from hw import PAGE_SIZE
from hw.tlb import SIZES
from kmodel.cli.errors import UsageError
from kmodel.cli.setup_channel import do_access, open_channel, parse_access
from kmodel.relay.accounting import fold_buf
from kmodel.relay.ltt_relay import ONE_ACCESS

WATCH = {"ltt_relay_cache_page", "ltt_relay_find_next_page", "ltt_relay_find_prev_page",
         "_touch_linear", "touch", "ltt_relay_write", "ltt_relay_read", "contig_write",
         "contig_read"}
CACHE_NAMES = ("wpage", "rpage", "hpage[0]", "hpage[1]")


class Snapshot:
    __slots__ = ("cycles", "iters", "misses", "stlb", "faults", "acct")

    def __init__(self, buf):
        c = buf.cost
        self.cycles = c.cycles
        self.iters = c.list_iters
        self.misses = list(c.tlb_misses)
        self.stlb = list(c.stlb_hits)
        self.faults = c.vmalloc_faults
        self.acct = [d.acct for d in buf.descs]


def record(buf, fn):
    events = []

    def hook(frame, event, arg):
        if event in ("call", "return"):
            name = frame.f_code.co_name
            if name in WATCH:
                data = dict(frame.f_locals) if event == "call" else arg
                events.append((event, name, data, Snapshot(buf)))
    old = sys.getprofile()
    sys.setprofile(hook)
    try:
        fn()
    finally:
        sys.setprofile(old)
    return events


def page_name(buf, d):
    if d is None or not hasattr(d, "page") or d.page is None:
        return "no page"
    return f"page {d.offset // PAGE_SIZE}"


def cache_line(buf):
    return ", ".join(f"{n}={page_name(buf, d)}" for n, d in
                     zip(CACHE_NAMES, (buf.wpage, buf.rpage, buf.hpage[0], buf.hpage[1])))


def tlb_text(before, after):
    for i, s in enumerate(SIZES):
        if after.misses[i] > before.misses[i]:
            return f"TLB {s} miss, page walk"
        if after.stlb[i] > before.stlb[i]:
            return f"TLB {s} STLB hit"
    return "TLB hit"


def _row(text, cycles):
    """One line of a step: text, then its cycles; 77 columns at most."""
    return f"    {text:<54}{cycles:>12,} cycles" if cycles is not None else f"    {text}"


def data_row(k, buf, idx, nbytes, is_write, poff):
    d = buf.descs[idx]
    lines = (nbytes + 63) // 64
    per = k.timing.line_cycles[k.cpu_to_node(buf.cpu)][d.nid]
    verb = "copy" if is_write else "read"
    where = "to" if is_write else "from"
    text = f"{verb} {nbytes} B {where} page {idx} (N{d.nid}) +{poff:#x}: {lines} x {per}"
    return _row(text, lines * per)


def explain_pagelist(k, buf, is_write, offset, length, events, first):
    out = []
    step = 0
    cur = None          # (desc, before-snapshot) of the piece being copied
    pending = None
    lookups = [e for e in events if e[1] == "ltt_relay_cache_page"]
    if not lookups:
        page = buf.wpage if is_write else buf.rpage
        out.append(" 1. the cached page holds the whole access: no lookup, no walk")
        out.append(f"    ({'wpage' if is_write else 'rpage'} = page {page.offset // PAGE_SIZE}, "
                   f"offsets {page.offset:#x}-{page.offset + PAGE_SIZE - 1:#x}; "
                   "its TLB entry is the most recent: a hit)")
        out.append(data_row(k, buf, page.offset // PAGE_SIZE, length, is_write,
                            offset - page.offset))
        return out
    direction = None
    for kind, name, data, snap in events:
        if name == "ltt_relay_cache_page" and kind == "call":
            step += 1
            start = data["page"]
            off = data["offset"]
            diff = off - start.offset
            frm = (f"{CACHE_NAMES[data['which']]} (page {start.offset // PAGE_SIZE}, "
                   f"at {start.offset:#x})" if step == 1 else
                   f"page {start.offset // PAGE_SIZE} (at {start.offset:#x})")
            out.append(f"{step:2d}. look up offset {off} ({off:#x}) from {frm}: "
                       f"{diff:+d} bytes")
            pending = (start, snap)
            direction = None
        elif name in ("ltt_relay_find_next_page", "ltt_relay_find_prev_page") and kind == "call":
            direction = "forward" if name.endswith("next_page") else "backward"
        elif name == "ltt_relay_cache_page" and kind == "return":
            start, before = pending
            found = data
            iters = snap.iters - before.iters
            if direction is None and found is not start:
                direction = "forward"       # the next page: the walk's first step, inline
            if found is start:
                out.append(_row("the page at hand holds it: no walk", None))
            else:
                upd = (f"; {CACHE_NAMES[0] if is_write else CACHE_NAMES[1]} := "
                       f"{page_name(buf, found)}" if direction == "forward" else
                       "; cache unchanged")
                out.append(_row(f"walk {direction} {iters} step{'s' if iters > 1 else ''}"
                                f" -> {page_name(buf, found)}{upd}",
                                snap.cycles - before.cycles))
            cur = found
        elif name == "_touch_linear" and kind == "call":
            pending = (cur, snap)
        elif name == "_touch_linear" and kind == "return":
            d, before = pending
            out.append(_row(tlb_text(before, snap) + ", linear map",
                            snap.cycles - before.cycles))
            idx = d.offset // PAGE_SIZE
            # the bytes of this piece: the page's counter after the copy
            nxt = _next_snapshot(events, snap)
            nbytes = (nxt.acct[idx] - snap.acct[idx]) & (ONE_ACCESS - 1)
            poff = (first if step == 1 else 0) & (PAGE_SIZE - 1)
            out.append(data_row(k, buf, idx, nbytes, is_write, poff))
    return out


def _next_snapshot(events, snap):
    seen = False
    for _, _, _, s in events:
        if seen:
            return s
        if s is snap:
            seen = True
    return snap


def explain_contiguous(k, buf, is_write, offset, length, events, first):
    out = []
    touches = [e for e in events if e[1] == "touch"]
    kind = buf.ops.describe(buf).mapping
    out.append(f" 1. one slice {'assignment' if is_write else 'copy'} of {length} bytes at "
               f"{offset:#x} of the {kind}")
    out.append("    (an offset is an address: no page lookup)")
    start, end = events[0][3], events[-1][3]
    if not touches:
        out.append("    (same page as the stream's last access: its TLB entry is a hit)")
    step = 1
    for ev_kind, name, data, snap in events:
        if name == "touch" and ev_kind == "call":
            before = snap
            idx = data["idx"]
        elif name == "touch" and ev_kind == "return":
            step += 1
            text = f"page {idx}: {tlb_text(before, snap)}"
            if snap.faults > before.faults:
                text += "; vmalloc fault"
            out.append(f"{step:2d}." + _row(text, snap.cycles - before.cycles)[3:])
    for idx, (a, b) in enumerate(zip(start.acct, end.acct)):
        n = (b - a) & (ONE_ACCESS - 1)
        if n:
            poff = (first & (PAGE_SIZE - 1)) if idx == first // PAGE_SIZE else 0
            out.append(data_row(k, buf, idx, n, is_write, poff))
    return out


def cmd_explain(args, out):
    is_write = args.op == "write"
    from hw.units import parse_size
    try:
        offset, length = parse_size(args.offset), parse_size(args.length)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if length <= 0:
        raise UsageError("LEN must be positive")
    k, chan, buf = open_channel(args, "explain")
    try:
        for a in args.before or []:
            do_access(buf, *parse_access(a))
        masked = offset & (chan.alloc_size - 1)
        if masked + length > chan.alloc_size:
            raise UsageError(f"{length} bytes at offset {masked} run past the end of the "
                             f"{chan.alloc_size}-byte buffer (the layer above never asks that)")
        fold_buf(k.timing, buf)
        k.timing.reset()
        cpu_node = k.cpu_to_node(buf.cpu)
        out.write(f"{args.op} {length} bytes at offset {offset}, CPU {buf.cpu} (node "
                  f"{cpu_node}) of {k.spec.name}\n{chan.backend.name} buffer of "
                  f"{chan.n_subbufs} x {chan.subbuf_size} = {chan.alloc_size} bytes, "
                  f"{chan.placement} pages\n")
        if not chan.backend.contiguous:
            out.write(f"cache before: {cache_line(buf)}\n")
        out.write(f"offset {offset} & {chan.alloc_size - 1:#x} = {masked} "
                  f"(page {masked // PAGE_SIZE} +{masked % PAGE_SIZE:#x})\n\n")
        events = record(buf, lambda: do_access(buf, is_write, offset, length))
        if chan.backend.contiguous:
            lines = explain_contiguous(k, buf, is_write, masked, length, events, masked)
        else:
            lines = explain_pagelist(k, buf, is_write, masked, length, events, masked)
        out.write("\n".join(lines) + "\n\n")
        if not chan.backend.contiguous:
            out.write(f"cache after: {cache_line(buf)}\n")
        t = k.timing.totals()
        tlbm = sum(t[f"tlb_misses_{s}"] for s in SIZES)
        out.write(f"total, as the model counts it: {t['cycles']:,} cycles\n"
                  f"  bytes local {t['bytes_local']:,}, remote {t['bytes_remote']:,}; walk steps "
                  f"{t['walk_steps']}; TLB misses {tlbm}; vmalloc faults {t['vmalloc_faults']}\n")
    finally:
        k.shutdown()
    return 0
