"""The sub-buffer table of a layered buffer (LTTng's lib_ring_buffer_backend).

The sub-buffer layer (ring_buffer.py) speaks of positions: sub-buffer
``idx = (pos / subbuf_size) % n_subbufs`` of lap ``pos / (n * subbuf_size)``.
Where those bytes live in the allocation layer's buffer is this table's
business, as in lttng-modules (include/ringbuffer/backend_internal.h,
backend_types.h; read at ed19c0a1):

- ``wsb[idx]``: the ID of the backend sub-buffer the writers fill for
  position-sub-buffer idx; ``rsb``: the ID of the reader's own.  An ID is
  LTTng's ``unsigned long`` cut in three: the index of a backend sub-buffer
  (its bytes are ``index * subbuf_size`` onwards in the allocation layer's
  buffer), the *noref* flag (no writer references it: delivered and not yet
  entered again) and, above, the *offset tag* (the lap, ``buf_trunc_val``, it
  was delivered in);
- in overwrite mode of era 2.x there are n + 1 backend sub-buffers: the
  reader's get swaps its spare for the one it takes
  (``update_read_sb_index``), so a writer that laps the reader writes the
  spare and never the sub-buffer the reader holds;
- in discard mode, and in era 2009, the table is the identity and the reader
  reads the writers' sub-buffer in place (LTTng: "no page exchange, use the
  writer page directly"; 2009: no table at all, the same bytes).

The counters of records per backend sub-buffer (``records_commit``,
``records_unread``) are LTTng's too: ``records_count`` and ``records_overrun``
are taken from them when a sub-buffer is delivered (deliver_count_events),
``records_read`` when the reader puts it back.

Differences from LTTng: IDs are Python ints with LTTng's 64-bit layout; the
table is the emulator's object beside the buffer, not in the allocation.  The
pmem backend keeps a copy of it in its region, stored through the ring
buffer's table hook after each change (pmem_table.py), so that a reader of a
crashed kernel finds which backend sub-buffer holds which position.
"""
from __future__ import annotations

from kmodel.core.atomic import atomic_long_cmpxchg, atomic_long_t
from kmodel.core.errno import EAGAIN
from kmodel.core.straight import stepped, with_twin
from kmodel.relay.sb_id import (RSB, SB_ID_INDEX_MASK, SB_ID_NOREF_MASK,  # (its ID layout)
                                SB_ID_NOREF_SHIFT, SB_ID_OFFSET_SHIFT)

__all__ = ["SB_ID_OFFSET_SHIFT", "SB_ID_NOREF_MASK", "SB_ID_INDEX_MASK", "RSB", "subbuffer_id",
           "subbuffer_id_get_index", "subbuffer_id_is_noref", "subbuffer_id_offset",
           "lib_ring_buffer_backend", "lib_ring_buffer_clear_noref",
           "lib_ring_buffer_set_noref_offset", "update_read_sb_index",
           "subbuffer_count_records_overrun"]


def subbuffer_id(offset: int, noref: int, index: int) -> int:
    """subbuffer_id - an ID from its offset tag, noref flag and index."""
    return (offset << SB_ID_OFFSET_SHIFT) | (noref << SB_ID_NOREF_SHIFT) | index


def subbuffer_id_get_index(id_: int) -> int:
    return id_ & SB_ID_INDEX_MASK


def subbuffer_id_is_noref(id_: int) -> bool:
    return bool(id_ & SB_ID_NOREF_MASK)


def subbuffer_id_offset(id_: int) -> int:
    """The offset tag (the lap it was delivered in)."""
    return id_ >> SB_ID_OFFSET_SHIFT


class lib_ring_buffer_backend:
    """struct lib_ring_buffer_backend, the part kmodel keeps: the writer table
    (one atomic_long_t ID per position-sub-buffer), the reader's ID, whether
    there is a spare (extra_reader_sb), and the records counters of each
    backend sub-buffer (struct lib_ring_buffer_backend_pages)."""
    __slots__ = ("wsb", "rsb", "extra_reader_sb", "subbuf_size", "n", "records_commit",
                 "records_unread", "records_read", "data_size", "base")

    def __init__(self, k, n: int, subbuf_size: int, extra_reader_sb: bool):
        self.n = n
        self.subbuf_size = subbuf_size
        self.extra_reader_sb = extra_reader_sb
        # lib_ring_buffer_backend_allocate: wsb[i] = i, noref set in overwrite
        # mode; the reader's is the last one, noref set.
        noref = 1 if extra_reader_sb else 0
        self.wsb = [atomic_long_t(k, subbuffer_id(0, noref, i), name=f"buf_wsb[{i}].id")
                    for i in range(n)]
        self.rsb = subbuffer_id(0, 1, n) if extra_reader_sb else 0
        # base[idx]: where wsb[idx]'s sub-buffer starts (index * subbuf_size), kept
        # with the table for the writers' lookup (LTTng: the backend_pages pointer)
        self.base = [i * subbuf_size for i in range(n)]
        nb = n + 1 if extra_reader_sb else n
        self.records_commit = [0] * nb
        self.records_unread = [0] * nb
        self.records_read = 0
        self.data_size = [0] * nb       # each backend sub-buffer's content, at delivery

    def ids(self) -> list[int]:
        """The indexes in the writer table, then the reader's (a permutation of
        0..n when there is a spare: the table's invariant)."""
        out = [subbuffer_id_get_index(w.counter) for w in self.wsb]
        if self.extra_reader_sb:
            out.append(subbuffer_id_get_index(self.rsb))
        return out

    def write_offset(self, pos: int) -> int:
        """Where position pos's byte is in the allocation layer's buffer: through
        wsb (lib_ring_buffer_write's backend_pages lookup)."""
        S = self.subbuf_size
        return ((self.wsb[(pos // S) % self.n].counter & SB_ID_INDEX_MASK) * S
                + (pos & (S - 1)))

    def read_offset(self) -> int:
        """Where the reader's sub-buffer starts (GET_MMAP_READ_OFFSET)."""
        return (self.rsb & SB_ID_INDEX_MASK) * self.subbuf_size


@stepped
def lib_ring_buffer_clear_noref(bufb: lib_ring_buffer_backend, idx: int):
    """lib_ring_buffer_clear_noref (backend.h) - a writer enters sub-buffer idx:
    it references wsb[idx] now, so no reader may swap it out.  Read plainly
    first; the cmpxchg only when the flag is set (LTTng: "called on the fast
    path for each record")."""
    w = bufb.wsb[idx]
    id_ = w.counter
    while id_ & SB_ID_NOREF_MASK:
        got = yield from atomic_long_cmpxchg(w, id_, id_ & ~SB_ID_NOREF_MASK)
        if got == id_:
            return
        id_ = got


def lib_ring_buffer_set_noref_offset(bufb: lib_ring_buffer_backend, idx: int,
                                     offset: int) -> None:
    """lib_ring_buffer_set_noref_offset - at delivery, by the one committer that
    won it: no writer references wsb[idx] now; tag it with the lap.  A plain
    store, as LTTng's (no concurrent writer of it: see its comment)."""
    w = bufb.wsb[idx]
    w.counter = subbuffer_id(offset, 1, w.counter & SB_ID_INDEX_MASK)


def _update_read_sb_index_now(bufb: lib_ring_buffer_backend, consumed_idx: int,
                              consumed_count: int) -> int:
    """The straight form of update_read_sb_index, by hand: its cmpxchg written
    out (atomic_long_cmpxchg's twin: the same charge, one call the less; a
    get/put of a 2.x overwrite buffer makes two)."""
    w = bufb.wsb[consumed_idx]
    old_id = w.counter
    if not bufb.extra_reader_sb:
        bufb.rsb = old_id
        return 0
    if not old_id & SB_ID_NOREF_MASK or old_id >> SB_ID_OFFSET_SHIFT != consumed_count:
        return -EAGAIN
    new = (consumed_count << SB_ID_OFFSET_SHIFT) | SB_ID_NOREF_MASK | \
        (bufb.rsb & SB_ID_INDEX_MASK)
    k = w.k                             # atomic_long_cmpxchg(w, old_id, new)
    t = k.timing
    t.atomic(t.cpus[k.current.cpu], w, True)
    if w.counter != old_id:
        return -EAGAIN
    w.counter = new
    bufb.base[consumed_idx] = (new & SB_ID_INDEX_MASK) * bufb.subbuf_size
    bufb.rsb = old_id
    return 0


@with_twin(_update_read_sb_index_now)
def update_read_sb_index(bufb: lib_ring_buffer_backend, consumed_idx: int,
                         consumed_count: int):
    """update_read_sb_index (backend_internal.h) - with a spare: exchange the
    reader's sub-buffer for wsb[consumed_idx], if no writer references it and
    it holds lap consumed_count; 0, or -EAGAIN (the caller retries or gives
    up).  Without: the reader reads the writers' sub-buffer in place."""
    w = bufb.wsb[consumed_idx]
    old_id = w.counter
    if not bufb.extra_reader_sb:
        bufb.rsb = old_id
        return 0
    if not old_id & SB_ID_NOREF_MASK or old_id >> SB_ID_OFFSET_SHIFT != consumed_count:
        return -EAGAIN
    # subbuffer_id(consumed_count, 1, index of rsb), written out (the hot path)
    new = (consumed_count << SB_ID_OFFSET_SHIFT) | SB_ID_NOREF_MASK | \
        (bufb.rsb & SB_ID_INDEX_MASK)
    got = yield from atomic_long_cmpxchg(w, old_id, new)
    if got != old_id:
        return -EAGAIN
    bufb.base[consumed_idx] = (new & SB_ID_INDEX_MASK) * bufb.subbuf_size
    bufb.rsb = old_id
    return 0


def subbuffer_count_records_overrun(bufb: lib_ring_buffer_backend, idx: int) -> tuple[int, int]:
    """subbuffer_get_records_count and subbuffer_count_records_overrun, at the
    delivery of position-sub-buffer idx: (records committed in it this lap,
    records left unread from the last time its backend sub-buffer was
    delivered).  The unread count becomes this lap's.  (records_commit is
    kept by position, not by backend sub-buffer as LTTng's: no reader swaps
    wsb[idx] while a writer is in it, so the two are the same count.)"""
    b = bufb.wsb[idx].counter & SB_ID_INDEX_MASK
    count = bufb.records_commit[idx]
    overruns = bufb.records_unread[b]
    bufb.records_unread[b] = count
    bufb.records_commit[idx] = 0
    return count, overruns
