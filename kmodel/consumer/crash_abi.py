"""kmodel crash export: a pmem region laid out as LTTng's own lttng-crash reads it.

lttng-crash (lttng-tools, src/bin/lttng-crash/lttng-crash.c, v2.13.9) walks a
directory; a directory holding a file named ``metadata`` is a trace, whose
``metadata`` it copies as it is and whose other files it reads as buffers,
each starting with a self-describing *crash ABI* record (lttng-ust's
RB_CRASH_DUMP_ABI, major 0, minor 0, layout type 0: lttng-crash reads no
other).  The record is packed, in the writer's byte order:

    magic[16]          0x17 0x7B 0xF1 0x77 0xBF, repeated (stored XORed in
                       lttng-crash, so that a memory scan does not find itself)
    mmap_length u64    the bytes of the buffer file lttng-crash reads
    endian u16         0x1234 as written
    major, minor u16   0, 0
    word_size u8       8
    layout_type u8     0
    offset: 11 u32     where the producer and consumer positions, the commit
                       counters (an array, and the seq field in an element),
                       the writer's sub-buffer table (array, id field), the
                       sub-buffer array (array, the offset of its pages), the
                       pages' data offset, and the packet header's
                       content_size and packet_size are
    length: 8 u8       the bytes of each of those fields
    stride: 3 u32      of the three arrays
    buf_size, subbuf_size, num_subbuf u64; mode u32 (0 overwrite, 1 discard)

Offsets are from the start of the file.  For each position from the consumed
one to the produced one, a sub-buffer at a time, lttng-crash reads the commit
counter's ``seq``: a full lap copies the packet as its header says, a
partial one the committed bytes, with the header's sizes patched to them.

kmodel's region (pmem_layout.py) keeps the same things in a layout of its
own, with checksums; ``export`` writes, for each CPU's slot, one file in the
ABI's layout: the record, the positions, the commit sequence of each
sub-buffer (its newest entry whose checksums hold, as ``kmodel crash
extract`` vouches for it), a sub-buffer table, and the buffer's bytes as the
region holds them, but for two header fields of a packet the crash left
unfinished: a full one's content size, an open one's end time (from the
records ``crash extract`` recovers; LTTng leaves 0 there, and babeltrace2
orders the streams' events by it).  The sub-buffer array lists every
backend sub-buffer of the slot (n + 1 in an era 2.x overwrite buffer: the
reader's spare), and buf_wsb is the region's own table (pmem_table.py), as
the writers left it: a sub-buffer swapped with the reader is read where it
is.  The ABI has no field for the reader's ``buf_rsb``; a packet the reader
held unconsumed at the crash is in the reader's sub-buffer, so its
position's wsb entry names that one (``_writer_ids``), else lttng-crash
would read the stale spare the get left in its place.

What the ABI cannot say, and the export therefore does not carry: the loss
counters (lttng-crash reads none; a packet's ``events_discarded`` says what
was lost before it closed), and the checksums: lttng-crash trusts what it
reads, where ``kmodel crash extract`` drops a sub-buffer whose checksums do
not hold.  The export leaves out such a sub-buffer's commits (its sequence
says nothing committed in that lap), so the two readers agree.
"""
import os
import struct

from kmodel.consumer.crash import CrashError, trace_metadata, write_from_region
from kmodel.consumer.ctf import stream_name
from kmodel.relay.packet import NO_CPU, unpack_packet_header
from kmodel.relay.pmem_layout import (HEADER_SIZE, META_HEAD, PmemLayoutError, _vouched,
                                      entries, table_at, unpack_header)
from kmodel.relay.pmem_table import position_subbufs, read_table
from kmodel.relay.sb_id import SB_ID_INDEX_MASK

MAGIC = bytes([0x17, 0x7B, 0xF1, 0x77, 0xBF] * 3 + [0x17])
ABI = struct.Struct("<16sQHHHBB11I8B3IQQQI")        # 124 bytes, packed
ENDIAN = 0x1234
TIMESTAMP_END_AT, CONTENT_SIZE_AT, PACKET_SIZE_AT = 40, 48, 56   # in the packet header
# Where each part of a buffer file is: the record, then 8-byte words.
PROD, CONSUMED, ARRAYS = 128, 136, 144


def layout(n_subbufs, subbuf_size, n_alloc=None):
    """(commit array, wsb array, sb array, pages, data, file length) offsets;
    n_alloc: the backend sub-buffers (the sb array's and the data's count)."""
    n_alloc = n_subbufs if n_alloc is None else n_alloc
    commit = ARRAYS
    wsb = commit + 8 * n_subbufs
    sb = wsb + 8 * n_subbufs
    pages = sb + 8 * n_alloc
    data = (pages + 8 * n_alloc + 4095) & ~4095
    return commit, wsb, sb, pages, data, data + n_alloc * subbuf_size


def pack_abi(n_subbufs, subbuf_size, overwrite, n_alloc=None):
    """The crash ABI record of a buffer file (major 0, minor 0, layout 0)."""
    commit, wsb, sb, pages, _data, length = layout(n_subbufs, subbuf_size, n_alloc)
    offsets = (PROD, CONSUMED, commit, 0, wsb, 0, sb, 0, 0, CONTENT_SIZE_AT, PACKET_SIZE_AT)
    return ABI.pack(MAGIC, length, ENDIAN, 0, 0, 8, 0, *offsets, *(8,) * 8, 8, 8, 8,
                    n_subbufs * subbuf_size, subbuf_size, n_subbufs, 0 if overwrite else 1)


def buffer_file(data, h, cpu, overwrite, recovered=()):
    """The bytes of the buffer file of slot cpu, or None for a slot no buffer used.
    recovered: the slot's packets as kmodel crash extract recovers them
    (pmem_layout.Packet), whose end time a packet left open takes."""
    S, n, n_alloc = h["subbuf_size"], h["n_subbufs"], h["n_alloc"]
    slot = HEADER_SIZE + cpu * h["slot_size"]
    meta = data[slot:slot + h["meta_size"]]
    buf = data[slot + h["meta_size"]:slot + h["meta_size"] + S * n_alloc]
    _magic, _cpu, produced, consumed, *_lost = META_HEAD.unpack_from(meta)
    if produced == 0:
        return None
    where = position_subbufs(h, meta, table_at(n), buf)
    if isinstance(where, str):
        return None                             # (crash extract reports the slot)
    ids = _writer_ids(h, meta, where, overwrite)
    commit, wsb, sb, pages, at, length = layout(n, S, n_alloc)
    out = bytearray(length)
    out[:ABI.size] = pack_abi(n, S, overwrite, n_alloc)
    struct.pack_into("<QQ", out, PROD, produced, consumed & ~1)     # (the reader's bit off)
    out[at:at + S * n_alloc] = buf
    for b in range(n_alloc):                    # the sub-buffer array: each one's pages
        struct.pack_into("<Q", out, sb + 8 * b, pages + 8 * b)
        struct.pack_into("<Q", out, pages + 8 * b, at + b * S)
    for idx, b in enumerate(where):
        sbuf = buf[b * S:(b + 1) * S]
        ph = unpack_packet_header(sbuf)
        lap = ph.packet_seq_num // n if ph.packet_seq_num % n == idx else 0
        committed, data_end = _vouched(sbuf, entries(meta, idx), lap, S)
        committed = committed if isinstance(committed, int) else 0
        struct.pack_into("<Q", out, commit + 8 * idx, lap * S + committed)
        struct.pack_into("<Q", out, wsb + 8 * idx, ids[idx])
        if committed == S and ph.content_size == 0 and data_end:
            # full but not delivered when the kernel died: its content is
            # the region's data end (pmem_layout), as kmodel crash extract says
            struct.pack_into("<Q", out, at + b * S + CONTENT_SIZE_AT, data_end * 8)
    base_of = {(slot + h["meta_size"] + b * S): at + b * S for b in range(n_alloc)}
    for p in recovered:
        # A packet open when the kernel died says timestamp_end 0 (LTTng's
        # client_buffer_begin writes it so too), which babeltrace2 then
        # orders the streams by; it takes its last record's time instead, as
        # kmodel crash extract gives it.
        base = base_of[p.offset]
        if unpack_packet_header(out, base).timestamp_end == 0:
            out[base + TIMESTAMP_END_AT:base + TIMESTAMP_END_AT + 8] = \
                p.data[TIMESTAMP_END_AT:TIMESTAMP_END_AT + 8]
    return bytes(out)


def _writer_ids(h, meta, where, overwrite):
    """The buf_wsb IDs the export writes: the region's table as the kernel left
    it (LTTng's ID layout: rb_backend.py), but for a position the reader held
    unconsumed, whose bytes are in the reader's sub-buffer (pmem_table.py):
    the ABI has no buf_rsb, and lttng-crash reads positions through wsb alone,
    so that entry names the reader's sub-buffer.  A region with no table
    (version 2) and a discard channel's: the indexes."""
    n = h["n_subbufs"]
    if h["version"] < 3:
        return list(range(n))
    wsb, rsb = read_table(meta, table_at(n), n)
    ids = [w if (w & SB_ID_INDEX_MASK) == b else rsb for w, b in zip(wsb, where)]
    return ids if overwrite else [i & SB_ID_INDEX_MASK for i in ids]


def crash_export(path, outdir, overwrite):
    """crash_export - lay region file path out in outdir (new, or empty) as
    lttng-crash reads it: ``metadata`` and one buffer file a CPU slot.
    overwrite: the channel's mode, which the ABI records and the region does
    not (lttng-crash reads it for the sub-buffer table's ids alone).
    Returns (the number of buffer files, the slots left out and why)."""
    skipped: list[str] = []

    def write(region, scan, d, release):
        try:
            h = unpack_header(region)
        except PmemLayoutError as e:
            raise CrashError(f"{path}: {e}") from None
        files = 0
        with open(os.path.join(d, "metadata"), "w") as f:
            f.write(trace_metadata(scan))
        for cpu in range(h["nr_cpus"]):
            glob = unpack_packet_header(
                region, HEADER_SIZE + cpu * h["slot_size"] + h["meta_size"]).cpu_id == NO_CPU
            try:
                raw = buffer_file(region, h, cpu, overwrite,
                                  scan.packets.get(None if glob else cpu, ()))
            except (struct.error, ValueError, IndexError, KeyError) as e:
                # counters or a table no buffer could have (a damaged or forged
                # region): the slot is left out, as crash extract drops it
                skipped.append(f"slot {cpu}: {e}")
                continue
            if raw is None:
                continue
            with open(os.path.join(d, stream_name(None if glob else cpu)), "wb") as f:
                f.write(raw)
            files += 1
        return files
    return write_from_region(path, outdir, write)[1], skipped
