"""Pictures of a relay channel, for `relay show NAME` and `kmodel draw`.

For each CPU with a buffer: its node, where its rchan_buf lives, and the ring
of pages in buffer order, each with its PFN, node and offset range, and the
cache pointers that point at it.  Long rings are cut in the middle; a page
that a pointer points at is always shown.  Lines fit 80 columns.
"""
from hw import PAGE_SIZE
from hw.units import format_size



def _pointers(buf):
    return {"wpage": buf.wpage, "rpage": buf.rpage, "hpage[0]": buf.hpage[0],
            "hpage[1]": buf.hpage[1]}


def channel_header(name, chan):
    return (f"channel {name}: {chan.n_subbufs} x {format_size(chan.subbuf_size)} "
            f"sub-buffers = {format_size(chan.alloc_size)} a CPU, "
            f"{chan.backend.name}, {chan.backend.placement_note or chan.placement + ' pages'}")


def draw_buffer(k, buf, max_pages=8):
    """The lines of one CPU's buffer."""
    cpu = buf.cpu
    state = "online" if k.cpu_online(cpu) else "offline"
    descs = buf.descs
    remote = sum(1 for d in descs if d.nid != k.cpu_to_node(cpu))
    head = (f"cpu {cpu} ({state}, node {k.cpu_to_node(cpu)}): rchan_buf on node {buf.nid}, "
            f"{len(descs)} pages" + (f", {remote} remote" if remote else ""))
    lines = [head]
    ptrs = _pointers(buf)
    marks = {}
    for pname, d in ptrs.items():
        marks.setdefault(id(d), []).append(pname)
    keep = set(range(min(len(descs), max_pages // 2)))
    keep |= set(range(max(0, len(descs) - 2), len(descs)))
    keep |= {i for i, d in enumerate(descs) if id(d) in marks}
    desc = buf.ops.describe(buf)
    lines += [f"  {line}" for line in desc.details]
    first = "  head" if desc.ring else "  page"
    skipped = 0
    for i, d in enumerate(descs):
        if i not in keep:
            skipped += 1
            continue
        if skipped:
            lines.append(f"       ... {skipped} more page{'s' if skipped > 1 else ''} ...")
            skipped = 0
        lo, hi = d.offset, d.offset + PAGE_SIZE - 1
        cell = f"[{i:3d}] pfn {d.page.pfn:#07x} N{d.nid} {lo:06x}-{hi:06x}"
        ptr = marks.get(id(d))
        mark = f"  <- {' '.join(ptr)}" if ptr else ""
        if desc.ring:                   # a list: links from the head round to it
            lines.append(f"{first if i == 0 else '      '} -> {cell}{mark}")
        else:                           # an array of pages: no links to draw
            lines.append(f"    {cell}{mark}")
    if skipped:
        lines.append(f"       ... {skipped} more ...")
    if desc.ring and descs:
        lines.append("       -> back to head")
    return lines


def draw_channel(k, name, chan, cpus=None, max_pages=8):
    """draw_channel - the picture of a channel, as a list of lines."""
    lines = [channel_header(name, chan)]
    for cpu in k.for_each_possible_cpu():
        buf = chan.buf[cpu]
        if buf is None or (cpus is not None and cpu not in cpus):
            continue
        lines.extend(draw_buffer(k, buf, max_pages))
    return lines
