"""kmodel explain write|read OFFSET LEN: one access, step by step, with its cost.
(kmodel explain record SIZE, one record through a locking layer: explain_record.py.)

The steps are not computed by a second implementation: the access runs in the
emulator with probes on the relay's tracepoints (kmodel/relay/relay_trace.py:
each lookup, walk, TLB lookup and copy), each probe taking a snapshot of the
timing model and the pages' counters.  The narrative is read off those events.
"""
from hw import PAGE_SIZE
from hw.tlb import SIZES
from kmodel.cli.bounds import SizeIn
from kmodel.cli.setup_channel import (ACCESS, HOST_LIMIT, add_access_option,
                                      add_channel_options, check_access, check_accesses,
                                      do_access, open_channel)
from kmodel.core.tracepoint import tracing
from kmodel.relay import relay_trace as rt
from kmodel.relay.accounting import fold_buf

CACHE_NAMES = ("wpage", "rpage", "hpage[0]", "hpage[1]")
EVENTS = {rt.trace_relay_lookup: "lookup", rt.trace_relay_walk: "walk",
          rt.trace_relay_lookup_done: "lookup_done", rt.trace_relay_tlb: "tlb",
          rt.trace_relay_tlb_done: "tlb_done", rt.trace_relay_copy: "copy"}


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
    """record - run fn with a probe on every relay tracepoint; the events of
    buf, as (event, args after buf, Snapshot) in the order they fired."""
    events = []

    def probe_for(name):
        def probe(b, *args):
            if b is buf:
                events.append((name, args, Snapshot(buf)))
        return probe
    with tracing({tp: probe_for(name) for tp, name in EVENTS.items()}):
        fn()
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
    """The copy: its bytes, from the cache level that holds the buffer (its
    working set here: the buffer alone), at that level's bandwidth; or, when
    the page's lines are not this CPU's (another CPU's cache has them, the
    opener's after its zeroing, or memory), fetched from there (one row more)."""
    d = buf.descs[idx]
    tm = k.timing
    cpu_nid = k.cpu_to_node(buf.cpu)
    verb = "copy" if is_write else "read"
    to = "to" if is_write else "from"
    what = f"{verb} {nbytes} B {to} page {idx} (N{d.nid}) +{poff:#x}"
    if d.holder is buf.cost or buf.ops.reserved_region:
        cycles, where = tm.stream_cost(cpu_nid, d.nid, nbytes, buf.alloc_size)
        return _row(f"{what}: {where}", cycles)
    cycles, where = tm.fetch_cost(cpu_nid, d.nid, nbytes, d.holder)
    if d.holder is None:                # in memory only: no cache has the lines
        return _row(f"{what}: {where}", cycles)
    return _row(what, None) + "\n" + _row(f"  fetched from {where}", cycles)


def explain_pagelist(k, buf, is_write, offset, length, events, first):
    out = []
    step = 0
    pending = None      # (cached page, snapshot) of the lookup under way
    lookups = [e for e in events if e[0] == "lookup"]
    if not lookups:
        page = buf.wpage if is_write else buf.rpage
        out.append(" 1. the cached page holds the whole access: no lookup, no walk")
        out.append(f"    ({'wpage' if is_write else 'rpage'} = page {page.offset // PAGE_SIZE}, "
                   f"offsets {page.offset:#x}-{page.offset + PAGE_SIZE - 1:#x})")
        if buf.cost.last_vpn[k.timing.linear_size] == page.vpn:
            out.append("    (its linear-map TLB entry is the most recent: a hit)")
        else:
            out.append("    (no TLB lookup is charged here: the model looks the TLB up when a")
            out.append("    stream changes page, so this linear-map page's first miss is")
            out.append("    charged at the stream's next page change)")
        out.append(data_row(k, buf, page.offset // PAGE_SIZE, length, is_write,
                            offset - page.offset))
        return out
    direction = None
    for name, args, snap in events:
        if name == "lookup":
            step += 1
            which, start, off = args
            diff = off - start.offset
            frm = (f"{CACHE_NAMES[which]} (page {start.offset // PAGE_SIZE}, "
                   f"at {start.offset:#x})" if step == 1 else
                   f"page {start.offset // PAGE_SIZE} (at {start.offset:#x})")
            out.append(f"{step:2d}. look up offset {off} ({off:#x}) from {frm}: "
                       f"{diff:+d} bytes")
            pending = (start, snap)
            direction = None
        elif name == "walk":
            direction = "forward" if args[0] else "back"
        elif name == "lookup_done":
            start, before = pending
            found = args[1]
            iters = snap.iters - before.iters
            if found is start:
                out.append(_row("the page at hand holds it: no walk", None))
            else:
                upd = (f"; {CACHE_NAMES[0] if is_write else CACHE_NAMES[1]} := "
                       f"{page_name(buf, found)}" if direction == "forward" else
                       "; cache kept")
                out.append(_row(f"walk {direction}, {iters} iteration"
                                f"{'s' if iters > 1 else ''} -> {page_name(buf, found)}{upd}",
                                snap.cycles - before.cycles))
        elif name == "tlb":
            pending = (args[0], snap)
        elif name == "tlb_done":
            out.append(_row(tlb_text(pending[1], snap) + ", linear map",
                            snap.cycles - pending[1].cycles))
        elif name == "copy":
            idx, poff, nbytes, _ = args
            out.append(data_row(k, buf, idx, nbytes, is_write, poff))
    return out


def explain_contiguous(k, buf, is_write, offset, length, events, first):
    out = []
    kind = buf.ops.describe(buf).mapping
    out.append(f" 1. one slice {'assignment' if is_write else 'copy'} of {length} bytes at "
               f"{offset:#x} of the {kind}")
    out.append("    (an offset is an address: no page lookup)")
    if not any(e[0] == "tlb" for e in events):
        out.append("    (same page as the stream's last access: its TLB entry is a hit)")
    step = 1
    copies = []
    for name, args, snap in events:
        if name == "tlb":
            before = snap
        elif name == "tlb_done":
            step += 1
            text = f"page {args[0]}: {tlb_text(before, snap)}"
            if snap.faults > before.faults:
                text += "; vmalloc fault"
            out.append(f"{step:2d}." + _row(text, snap.cycles - before.cycles)[3:])
        elif name == "copy":
            copies.append(args)
    if not copies:                  # the fast path: one page, the stream's own
        page = buf.wpage if is_write else buf.rpage
        copies = [(page.offset // PAGE_SIZE, offset - page.offset, length, is_write)]
    for idx, poff, nbytes, _ in copies:
        out.append(data_row(k, buf, idx, nbytes, is_write, poff))
    return out


def cmd_explain(args, out):
    is_write = args.op == "write"
    offset, length = args.offset, args.length
    check_accesses((args.before or []) + [(is_write, offset, length)], "--before")
    k, chan, buf = open_channel(args, "explain")
    try:
        masked = check_access(chan, offset, length)
        for a in args.before or []:
            do_access(buf, *a)
        fold_buf(k.timing, buf)
        k.timing.reset()
        cpu_node = k.cpu_to_node(buf.cpu)
        out.write(f"{args.op} {length} bytes at offset {offset}, CPU {buf.cpu} (node "
                  f"{cpu_node}) of {k.spec.name}\n{chan.backend.name} buffer of "
                  f"{chan.n_subbufs} x {chan.subbuf_size} = {chan.alloc_size} bytes, "
                  f"{chan.placement} pages\n")
        ring = buf.ops.describe(buf).ring
        if ring:
            out.write(f"cache before: {cache_line(buf)}\n")
        out.write(f"offset {offset} & {chan.alloc_size - 1:#x} = {masked} "
                  f"(page {masked // PAGE_SIZE} +{masked % PAGE_SIZE:#x})\n\n")
        events = record(buf, lambda: do_access(buf, is_write, offset, length))
        explain = explain_pagelist if ring else explain_contiguous
        lines = explain(k, buf, is_write, masked, length, events, masked)
        out.write("\n".join(lines) + "\n\n")
        if ring:
            out.write(f"cache after: {cache_line(buf)}\n")
        t = k.timing.totals()
        tlbm = sum(t[f"tlb_misses_{s}"] for s in SIZES)
        out.write(f"total, as the model counts it: {t['cycles']:,} cycles\n"
                  f"  bytes local {t['bytes_local']:,}, remote {t['bytes_remote']:,} (by the "
                  f"pages' home node),\n  lines from other caches {t['c2c_lines']:,}; TLB misses "
                  f"{tlbm}; vmalloc faults {t['vmalloc_faults']}\n  list iterations "
                  f"{t['list_iters']} (walk steps, beyond the next page: {t['walk_steps']})\n")
    finally:
        k.shutdown()
    return 0


def cmd_explain_record(args, out):
    """kmodel explain record SIZE: one record through a locking layer."""
    from kmodel.cli.explain_record import explain_record, open_layered
    k, rbc, rb = open_layered(args)
    try:
        by = f" by CPU {args.before_cpu}" if args.before_cpu is not None else ""
        n = args.records_before
        first = (f"{n} record{'s' if n > 1 else ''} of {args.before_size} bytes written "
                 f"first{by}\n" if n else "")
        out.write(f"record of {args.size} bytes, CPU {args.cpu} (node {k.cpu_to_node(args.cpu)}) "
                  f"of {k.spec.name}\n"
                  f"ltt-relay-{args.layer}, {args.mode} mode, {args.scope} buffers\n"
                  f"{args.backend} buffer of {rbc.n_subbufs} x {rbc.subbuf_size} = "
                  f"{rbc.alloc_size} bytes, {args.placement} pages\n{first}")
        explain_record(k, rbc, rb, args.size, args.mode, out)
    finally:
        k.shutdown()
    return 0


def add_parser(sub):
    """add_parser - add ``kmodel explain write|read OFFSET LEN`` and
    ``kmodel explain record SIZE`` to sub, the subparsers of kmodel's
    top-level parser (kmodel.cli.main)."""
    from kmodel.cli.explain_record import add_record_options
    s = sub.add_parser("explain", help="one read or write, or one record through a layer, "
                       "step by step, with its cost")
    ops = s.add_subparsers(dest="op", metavar="write|read|record")
    ops.required = True
    for op, what in (("write", "one ltt_relay_write"), ("read", "one ltt_relay_read")):
        p = ops.add_parser(op, help=f"{what} at OFFSET, LEN bytes, step by step")
        p.add_argument("offset", type=ACCESS.OFFSET)
        p.add_argument("length", type=SizeIn(1, HOST_LIMIT))
        add_channel_options(p)
        add_access_option(p, "--before", "an access to make first (moves the cache "
                          "pointers); repeatable")
        p.set_defaults(func=cmd_explain)
    r = ops.add_parser("record", help="one record of SIZE bytes through a locking layer "
                       "(reserve, copy, commit), each cmpxchg and counter")
    add_record_options(r)
    add_channel_options(r)
    r.set_defaults(func=cmd_explain_record)
