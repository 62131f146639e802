"""The sub-buffer table in a pmem slot: which backend sub-buffer holds which
position, for the kernel that writes it and a reader of a crashed one.

An era 2.x overwrite buffer has n + 1 backend sub-buffers: the writers'
table ``wsb[n]`` names the one each position-sub-buffer is written in, and
the reader's ``rsb`` the one it owns (rb_backend.py; LTTng's ``buf_wsb`` and
``buf_rsb``, include/ringbuffer/backend_types.h).  The reader's get swaps its
spare for the delivered sub-buffer it takes (update_read_sb_index), and its
put swaps it back when no writer entered the place meanwhile.  The region
keeps a copy of the table (since layout version 3, pmem_layout.table_at), one
8-byte store an ID, stored by the ring buffer's table hook after each change
of the table in memory: a writer entering a sub-buffer (its noref flag
cleared), a delivery (noref set, the lap tagged), a get and a put.

The order of the stores is what makes the copy readable at any instant a
SIGKILL can hit.  A swap changes two IDs; the sub-buffer that holds an
unconsumed packet must stay named by one of them at every instant, so the
new name is stored before the old one is overwritten:

- get (the reader takes sub-buffer A from wsb[idx], leaving its spare B
  there): ``rsb = A`` first, then ``wsb[idx] = B``.  Between the two, A is
  named twice and B (stale bytes) by nobody;
- put (A goes back to wsb[idx] if no writer entered B): ``wsb[idx] = A``
  first, then ``rsb = B``.  Between the two, A again is named twice.

A reader therefore accepts a table in which one index appears twice, and
reads position idx from the reader's sub-buffer when that one holds a newer
packet of idx than wsb[idx]'s (``position_subbufs``): the packet a reader
held at the crash, which the consumer had not given back.  LTTng's
lttng-crash reads positions through wsb alone (it has no rsb in its ABI);
kmodel crash export therefore names the reader's sub-buffer in wsb[idx]
for that position (crash_abi.py).
"""
import struct

from kmodel.relay.packet import PACKET_MAGIC, unpack_packet_header
from kmodel.relay.sb_id import RSB, SB_ID_INDEX_MASK

TABLE_ID = struct.Struct("<Q")                  # one sub-buffer ID of the table


def table_offset(at: int, n_subbufs: int, which: int) -> int:
    """The offset in a slot's metadata of wsb[which], or of rsb (which RSB),
    for a table at offset at (pmem_layout.table_at)."""
    return at + TABLE_ID.size * (n_subbufs if which == RSB else which)


def store_id(meta, at: int, id_: int) -> None:
    """One ID to the region: a single 8-byte store (the unit a crash cannot
    tear, as an unsigned long store on LTTng's 64-bit machines)."""
    TABLE_ID.pack_into(meta, at, id_)


def persist_table(meta, at: int, n_subbufs: int, wsb_ids, rsb_id: int, order) -> None:
    """persist_table - store the IDs named in order (positions, or RSB), in
    that order, from the table in memory (wsb_ids[i], rsb_id), in the table
    at offset at of a slot's metadata."""
    for which in order:
        store_id(meta, table_offset(at, n_subbufs, which),
                 rsb_id if which == RSB else wsb_ids[which])


def read_table(meta, at: int, n_subbufs: int) -> tuple[list[int], int]:
    """(wsb IDs, rsb ID) as the slot's metadata holds them at offset at."""
    ids = [TABLE_ID.unpack_from(meta, at + TABLE_ID.size * i)[0] for i in range(n_subbufs + 1)]
    return ids[:-1], ids[-1]


def _idx_seq(buf, b: int, S: int, n: int, idx: int) -> int:
    """The packet_seq_num of backend sub-buffer b's packet if it is one of
    position idx's, else -1."""
    ph = unpack_packet_header(buf, b * S)
    if ph.magic != PACKET_MAGIC or ph.packet_seq_num % n != idx:
        return -1
    return ph.packet_seq_num


def position_subbufs(h: dict, meta, at: int, buf) -> list[int] | str:
    """position_subbufs - the backend sub-buffer each position idx is read
    from: wsb[idx]'s index, but the reader's when it holds a newer packet of
    idx (a get's swap, or a crash between a swap's two stores); the identity
    for a region with no table (version 2).  A table naming a sub-buffer the
    slot does not have is damage: its reason, as a string.  at: where the
    table is in meta (pmem_layout.table_at)."""
    n, S, n_alloc = h["n_subbufs"], h["subbuf_size"], h["n_alloc"]
    if h["version"] < 3:
        return list(range(n))
    wsb, rsb = read_table(meta, at, n)
    out = [w & SB_ID_INDEX_MASK for w in wsb]
    r = rsb & SB_ID_INDEX_MASK
    if any(b >= n_alloc for b in out) or r >= n_alloc:
        return "sub-buffer table"
    if n_alloc == n:                            # no spare: the reader reads in place
        return out
    ph = unpack_packet_header(buf, r * S)
    if ph.magic == PACKET_MAGIC:
        idx = ph.packet_seq_num % n
        if out[idx] != r and ph.packet_seq_num > _idx_seq(buf, out[idx], S, n, idx):
            out[idx] = r
    return out
