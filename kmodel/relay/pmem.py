"""The fourth backend: buffers in memory that survives a reboot (the seed mail's
"video memory based backend (useful for crash trace extraction, because this
storage survives a hot reboot)").

The memory is the boot's ``reserve_mem=SIZE:ALIGN:trace`` region
(kmodel.mm.reserve_mem), which no allocator hands out, so the next kernel
finds it where this one left it, and with ``--pmem FILE`` it is a host file
that outlives the emulator.  A channel on ``pmem`` formats the region with the
self-describing layout of pmem_layout.py: a header, then a slot per possible
CPU (metadata, then the CPU's buffer).  Buffers are read and written through
the linear map, as the static backend's block is, so everything above the
allocation interface (the sub-buffer layer, the locking layers, the
consumers) runs on it unchanged.  What it adds is ``commit_hook``: each time
the sub-buffer layer moves a sub-buffer's commit sequence it calls it, and it
stores that sequence in the slot's metadata with its checksums
(pmem_layout.persist_commit), so that a reader with no kernel can tell
complete sub-buffers from partial ones; and ``table_hook``: after each
change of the sub-buffer table (an era 2.x reader's swap, a noref flag) it
stores the changed IDs in the slot's copy (pmem_table.py), so that a reader
finds which backend sub-buffer holds which position, the reader's too.

One channel holds the region at a time (another gets -EBUSY, in dmesg), and
not while the region keeps the previous boot's trace (pmem_boot.py): that one
must be saved and cleared first.
"""
from hw import PAGE_SHIFT, PAGE_SIZE
from kmodel.core.errno import EBUSY, ENOMEM
from kmodel.core.printk import KERN_ERR
from kmodel.mm.page import Page
from kmodel.relay.backend import Description
from kmodel.relay.contiguous import make_descs
from kmodel.relay.pmem_boot import PMEM_REGION, pmem_boot, pmem_exit, pmem_state
from kmodel.relay.pmem_layout import (HEADER_SIZE, META_HEAD, SB_META, format_slot,
                                      MAX_BUFFER_BYTES, free_header, geometry, pack_header,
                                      persist_commit,
                                      persist_counters, persist_deliver, table_at)
from kmodel.relay.pmem_table import TABLE_ID, persist_table
from kmodel.relay.rb_backend import SB_ID_INDEX_MASK
from kmodel.relay.static import StaticBackend


class pmem_buf:
    """The pmem backend's part of a buffer (rchan_buf.priv): its slot."""
    __slots__ = ("block", "slot", "meta")

    def __init__(self, block, slot, meta):
        self.block = block      # the first frame (the static backend's fault address)
        self.slot = slot        # offset of the slot in the region
        self.meta = meta        # the slot's metadata, a view of the region


def _refuse(k, errno, why):
    k.printk(KERN_ERR + f"ltt_relay: pmem backend: {why}")
    return -errno


def pmem_alloc_buf(k, buf, nid):
    st = pmem_state(k)
    chan = buf.chan
    if st is None:
        return _refuse(k, ENOMEM, f"no reserve_mem region named {PMEM_REGION!r} (boot with "
                                  f"reserve_mem=SIZE:ALIGN:{PMEM_REGION})")
    if st.previous is not None:
        return _refuse(k, EBUSY, "the region keeps the previous boot's trace; save it "
                                 "(kmodel crash extract), then echo 1 > "
                                 "/sys/kernel/debug/ltt/previous_boot/clear")
    if st.owner is not None and st.owner is not chan:
        return _refuse(k, EBUSY, f"the region holds channel {st.owner.base_filename!r}")
    ncpus = max(k.cpu_possible_mask) + 1
    n_alloc = chan.n_subbufs + chan.extra_subbufs      # num_subbuf_alloc
    ms, slot_size, need = geometry(chan.subbuf_size, chan.n_subbufs, ncpus, n_alloc)
    if chan.alloc_size * ncpus > MAX_BUFFER_BYTES:      # no reader would take it
        return _refuse(k, ENOMEM, f"{ncpus} CPUs x {chan.alloc_size >> 10} KiB: more than "
                                  f"the {MAX_BUFFER_BYTES >> 20} MiB of buffers a region "
                                  "holds")
    if need > st.size:
        return _refuse(k, ENOMEM, f"{ncpus} CPUs x {chan.alloc_size >> 10} KiB need "
                                  f"{need >> 10} KiB with the metadata; the region has "
                                  f"{st.size >> 10} KiB")
    if st.owner is None:                        # the channel's first buffer: format
        st.view[:HEADER_SIZE] = free_header()  # (a crash here leaves a free region)
        for cpu in range(ncpus):                # no slot keeps an earlier channel's
            at = HEADER_SIZE + cpu * slot_size  # metadata (a CPU offline now would)
            st.view[at:at + ms] = bytes(ms)
        _write_header(k, st, chan, "kmodel")
        st.owner = chan
    slot = HEADER_SIZE + buf.cpu * slot_size
    format_slot(st.view, slot, buf.cpu, chan.n_subbufs)
    data = slot + ms
    buf.view = st.view[data:data + buf.alloc_size]
    buf.view[:] = bytes(buf.alloc_size)         # a fresh buffer reads as zeroes
    first = (st.start + data) >> PAGE_SHIFT
    rnid = k.physmem.pfn_to_nid(first)
    buf.page_count = buf.alloc_size >> PAGE_SHIFT
    pages = [Page(first + i, rnid, 0, buf.view[i * PAGE_SIZE:]) for i in range(buf.page_count)]
    buf.priv = pmem_buf(pages[0], slot, st.view[slot:slot + ms])
    make_descs(k, buf, pages, buf.nid, k.timing.linear_size)
    st.nbufs += 1
    return 0


def _write_header(k, st, chan, header):
    """The region header of chan's format, header its records' header format."""
    ncpus = max(k.cpu_possible_mask) + 1
    name = getattr(chan.parent, "name", "") or chan.base_filename
    head = pack_header(st.size, chan.subbuf_size, chan.n_subbufs, ncpus, k.machine.boots,
                       name, chan.n_subbufs + chan.extra_subbufs, header)
    st.view[:len(head)] = head


def pmem_record_header(k, chan, header):
    """The channel's records take header (a HeaderType's name): the region
    says so, before any record is written (the region header is formatted
    when the first buffer is allocated, before the channel has a format)."""
    st = pmem_state(k)
    if st is not None and st.owner is chan:
        _write_header(k, st, chan, header)


def pmem_free_buf(k, buf):
    """The data stays in the region (that is the point); the slot is let go."""
    st = pmem_state(k)
    buf.priv = buf.view = buf.turns = None
    buf.descs = []
    if st is not None:
        st.nbufs -= 1
        if st.nbufs == 0:
            st.owner = None


def pmem_commit(rb, idx, seq):
    """commit_hook: after lib_ring_buffer_write_commit_counter moved sub-buffer
    idx's commit sequence to seq (commit_hot[idx].seq; in era 2009, the value
    2.x's rule gives): store it, with the checksums over the bytes it adds.
    The region's sequence is the ring buffer's, so what lttng-crash reads
    from an export (crash_abi.py) and what kmodel's reader vouches for agree:
    a commit behind a hole moves neither, and the one that fills the hole
    does not either; the next commit in order does."""
    S = rb.rbc.subbuf_size
    lap = (seq - 1) // S
    buf = rb.rbuf
    # the metadata stores go to the region too: the slot's counters and one entry
    # (the checksums are kmodel's own, and their CPU work is not charged)
    buf.chan.k.timing.region_stream(buf.cost, buf.descs[0].nid, META_HEAD.size + SB_META.size)
    b = rb.wsb[idx].counter & SB_ID_INDEX_MASK  # the backend sub-buffer the writers fill
    persist_commit(buf.priv.meta, buf.view[b * S:(b + 1) * S], idx, lap, S, seq - lap * S,
                   rb.data_size[idx], _counters(rb))


def pmem_table(rb, order):
    """table_hook: after the sub-buffer table changed in memory, store the IDs
    named in order (positions, or pmem_table.RSB) in the slot's copy, in that
    order (pmem_table.py says why the order matters).  LTTng keeps its table
    in the buffer's own memory (backend_types.h) and needs no copy."""
    buf = rb.rbuf
    buf.chan.k.timing.region_stream(buf.cost, buf.descs[0].nid, TABLE_ID.size * len(order))
    bufb = rb.bufb
    persist_table(buf.priv.meta, table_at(bufb.n), bufb.n, [w.counter for w in bufb.wsb],
                  bufb.rsb, order)


def _counters(rb):
    """What the slot's metadata says of the buffer: (cpu, produced, consumed,
    lost full, lost wrap, lost big, overrun)."""
    return (rb.rbuf.cpu, rb.offset.counter, rb.consumed.counter,
            rb.records_lost_full.counter, rb.records_lost_wrap.counter,
            rb.records_lost_big.counter, rb.records_overrun.counter)


def pmem_deliver(rb, idx, header):
    """deliver_hook: the checksum of the end fields, before they are written."""
    buf = rb.rbuf
    buf.chan.k.timing.region_stream(buf.cost, buf.descs[0].nid, 4)
    persist_deliver(buf.priv.meta, idx, header)


def pmem_counters(rb):
    """counters_hook: the slot's counters, stored as soon as they move: a loss
    counted in a full buffer (no commit follows it) and where a reader resumes
    (else a sub-buffer consumed after the last commit would be extracted
    again) reach the region at once."""
    buf = rb.rbuf
    buf.chan.k.timing.region_stream(buf.cost, buf.descs[0].nid, META_HEAD.size)
    persist_counters(buf.priv.meta, _counters(rb))


class PmemBackend(StaticBackend):
    """The static backend's accesses (one view, the linear map) on a slot of the
    reserved region, plus the commit hook."""
    name = "pmem"
    placement_note = "pages in the reserved region"
    reserved_region = True
    whole_packets = True        # its crash reader checks a header against a whole sub-buffer

    def alloc_buf(self, k, buf, nid):
        return pmem_alloc_buf(k, buf, nid)

    def free_buf(self, k, buf):
        pmem_free_buf(k, buf)

    def commit_hook(self, buf):
        return pmem_commit

    def deliver_hook(self, buf):
        return pmem_deliver

    def counters_hook(self, buf):
        return pmem_counters

    def table_hook(self, buf):
        return pmem_table

    def record_header(self, k, chan, header):
        pmem_record_header(k, chan, header)

    def module_init(self, mod):
        pmem_boot(mod)

    def module_exit(self, mod):
        pmem_exit(mod)

    def describe(self, buf):
        st = pmem_state(buf.chan.k)
        at = st.start + buf.priv.slot if st is not None else 0
        return Description("reserved region (reserve_mem)",
                           [f"slot at {at:#x}, metadata then {buf.page_count} pages; "
                            f"survives a reboot"])
