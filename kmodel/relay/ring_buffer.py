"""The sub-buffer layer above the allocation layer (LTTng's ring buffer frontend).

A channel's buffer is cut into ``n_subbufs`` sub-buffers of ``subbuf_size``
bytes.  Writers reserve space for a record, copy it in, and commit it; each
sub-buffer is a *packet*: a header (magic, CPU, begin and end timestamps,
content and packet size in bits, sequence number, events discarded so far),
then records, then padding.  A sub-buffer is *delivered* to the reader when
every byte reserved in it is committed.  This file is the one algorithm both
locking layers run (layer_locked.py, layer_lockless.py); it touches the
buffer's memory only through the allocation interface (ltt_relay_write,
ltt_relay_read, ltt_relay_offset_address), so it runs on every backend.

Positions are free-running byte counts (as LTTng's, which wrap at 2^64):
``offset`` is where the next reservation goes, ``consumed`` where the reader
is.  For sub-buffer ``idx`` the counters are LTTng's:

- ``commit_hot[idx].cc``: bytes committed into it, over all its laps, so lap
  L is complete when cc == (L+1) * subbuf_size; ``commit_hot[idx].seq`` copies
  cc after a commit with every byte before it committed (2009: after each
  commit), for readers of a crashed kernel (_write_commit_counter);
- ``commit_cold[idx].cc_sb``: the cc at which it was last delivered.  The
  committer that completes a lap takes the delivery with a cmpxchg from
  L*size to L*size+1, writes the packet's end fields, then sets (L+1)*size.

Reservation (a loop on cmpxchg of ``offset``): a record that does not fit in
what is left of the current sub-buffer closes it (the rest is padding,
committed by the reserver) and starts the next one.  Entering a sub-buffer
checks it first:

- its previous lap must be delivered (cc_sb == lap * size), else a writer
  still holds a reservation there from a lap ago: the record is dropped and
  counted in ``records_lost_wrap`` (a nested wrap-around);
- it must not hold unconsumed data: in ``discard`` mode the record is dropped
  (``records_lost_full``); in ``overwrite`` mode (flight recorder) the writer
  pushes ``consumed`` past it after its reservation (_push_reader).

The reader's side follows one of two eras (rb_config.Era; docs/layers.md,
"Eras").  2.x, the default: the sub-buffer table (rb_backend.py) gives the
reader a spare in overwrite mode, swapped in at each get, so the writer
writes the spare and never the sub-buffer the reader holds; records_overrun
and records_count are counted at delivery.  2009: no spare; the reader reads
in place, the writer pushes and overwrites it, and the put says -EIO
(corrupted_subbuffers); records_overrun is counted at the push.  Either way
the reader holds at most one sub-buffer (``reader_held``: LTTng's
buf->get_subbuf), and every byte a writer or reader touches goes through the
table (2009's and discard mode's table is the identity).

A record larger than what a sub-buffer holds after its header is dropped
(``records_lost_big``): in 2.x after the wrap and full checks, in 2009 before
them.  ``events_discarded`` in a packet header is full + wrap + big, sampled
before the reservation that closes the packet.

Differences from LTTng, on purpose: a channel may take kmodel's own 16-byte
record header (timestamp, payload size, event id) instead of LTTng's compact
or large one (rb_channel.header; the shell's channels do unless opened with header=); the clock
(hw.clock) is read at each reservation attempt: modeled nanoseconds on the
running CPU, deterministic (a function of the options, or of the explorer's
schedule); records_count and records_overrun are
always counted (LTTng only with LTTNG_RING_BUFFER_COUNT_EVENTS).

Historical bugs, switchable (CONFIG_KMODEL_RB_ERRATUM_*; docs/layers.md):
``remote_flush`` (lttng-modules 5e391252: a flush from another CPU used the
owner's local_t operations), ``wrap_check`` (0fdec686: the nested wrap-around
check did not see a concurrent commit), ``discard_sample`` (b2cf5e0b and
4ad4ea4c: events discarded sampled when the packet is delivered, not before
it is closed, per sub-buffer), ``ts_end`` (635e457c, 2485a430: timestamp_end
read at delivery, not at the closing reservation), ``remote_switch_mode``
(9dded431: a flush by IPI ran SWITCH_ACTIVE whatever its mode), ``one_subbuf``
(5140d2b3: an overwrite buffer of one sub-buffer was accepted; check_geometry),
``commit_seq`` (7915e163: the commit path passed the record's end plus its
slot size as the end of the area committed, so a partial sub-buffer's
commit_hot.seq never moved and a crash dump lost its records).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from kmodel.core.atomic import (READ_ONCE, WRITE_ONCE, atomic_long_add_return,
                                atomic_long_cmpxchg, atomic_long_read, atomic_long_set,
                                atomic_long_t, local_add_return, local_cmpxchg, local_read,
                                local_set, local_t, plain_long)
from kmodel.core.errno import EAGAIN, EBUSY, EINVAL, EIO, ENOBUFS, ENODATA, ENOSPC, EPERM
from kmodel.core.straight import stepped
from kmodel.core.step import Op
from kmodel.cpu.context import TASK
from kmodel.cpu.sched import Steps, smp_call_function_single
from kmodel.relay.event_header import FULL_TSC, TSC_BITS, EventHeader
from kmodel.relay.packet import (CONTEXT_END, HDR, NO_CPU, PACKET_MAGIC, REC, RECORD_HEADER,
                                 PacketHeader, pack_packet_header, record_size,
                                 unpack_packet_header, unpack_record_header)
from kmodel.relay.rb_backend import (RSB, SB_ID_INDEX_MASK, SB_ID_NOREF_MASK,
                                     lib_ring_buffer_backend, lib_ring_buffer_clear_noref,
                                     lib_ring_buffer_set_noref_offset,
                                     subbuffer_count_records_overrun, update_read_sb_index)
from kmodel.relay.rb_config import DEFAULT_ERA, ERRATA, Era, Mode, Scope, SwitchMode
from kmodel.relay.relay_alloc import ltt_relay_offset_address, ltt_relay_read, ltt_relay_write

if TYPE_CHECKING:
    from kmodel.kernel import Kernel
    from kmodel.relay.layer import LockingLayer
    from kmodel.relay.ltt_relay import rchan, rchan_buf

__all__ = ["CounterOps", "LOCAL_OPS", "ATOMIC_OPS", "PLAIN_OPS", "lib_ring_buffer",
           "rb_channel", "check_geometry", "trace_clock_read", "lib_ring_buffer_reserve",
           "lib_ring_buffer_commit", "lib_ring_buffer_write", "reserve_record", "refuse_record",
           "commit_record", "write_record", "lib_ring_buffer_switch_slow",
           "lib_ring_buffer_switch_remote", "lib_ring_buffer_get_subbuf",
           "lib_ring_buffer_put_subbuf", "lib_ring_buffer_release_subbuf",
           "lib_ring_buffer_poll_deliver", "lib_ring_buffer_finalize", "lib_ring_buffer_read",
           "read_packet", "read_packet_steps", "parse_packet", "subbuf_read_offset",
           "subbuf_packet_size",
           "lib_ring_buffer_snapshot", "lib_ring_buffer_clear_reader",
           "extra_subbufs", "channel_era"]

PAGE = 4096
RING_BUFFER_MAX_NESTING = 4     # include/ringbuffer/frontend.h; 0.226's "ltt_nesting > 4"


# --- the counter operations a locking layer uses ---------------------------------
@dataclass(frozen=True)
class CounterOps:
    """How the layer reads and updates its counters: local_t (lockless, per-CPU),
    atomic_long_t (lockless, global) or plain longs (under the locked layer's lock)."""
    name: str
    new: Callable[..., Any]     # new(k, owner_cpu, name) -> counter
    read: Callable[..., Steps]
    set: Callable[..., Steps]
    add_return: Callable[..., Steps]
    cmpxchg: Callable[..., Steps]

    def __post_init__(self):
        """Each operation's straight form beside it (op__straight), for the
        straight forms of the code that calls them (kmodel.core.straight)."""
        for op in ("read", "set", "add_return", "cmpxchg"):
            object.__setattr__(self, op + "__straight", getattr(self, op).straight)


@stepped
def _plain_add_return(w, i):
    v = yield from READ_ONCE(w)
    yield from WRITE_ONCE(w, v + i)
    return v + i


@stepped
def _plain_cmpxchg(w, old, new):
    v = yield from READ_ONCE(w)
    if v == old:
        yield from WRITE_ONCE(w, new)
    return v


LOCAL_OPS = CounterOps("local_t", lambda k, cpu, name: local_t(k, cpu, name=name),
                       local_read, local_set, local_add_return, local_cmpxchg)
ATOMIC_OPS = CounterOps("atomic_long_t", lambda k, cpu, name: atomic_long_t(k, name=name),
                        atomic_long_read, atomic_long_set, atomic_long_add_return,
                        atomic_long_cmpxchg)
PLAIN_OPS = CounterOps("plain", lambda k, cpu, name: plain_long(k, name=name),
                       READ_ONCE, WRITE_ONCE, _plain_add_return, _plain_cmpxchg)


class commit_counters_hot:
    __slots__ = ("cc", "seq")

    def __init__(self, ops, k, cpu, idx):
        self.cc = ops.new(k, cpu, f"commit_hot[{idx}].cc")
        self.seq = ops.new(k, cpu, f"commit_hot[{idx}].seq")


class lib_ring_buffer:
    """One buffer of the layer: per CPU (cpu is its owner) or the channel's one
    global buffer (cpu None).  rbuf is the allocation layer's rchan_buf."""
    __slots__ = ("k", "rbc", "rbuf", "cpu", "ops", "offset", "consumed", "commit_hot",
                 "commit_cold", "records_lost_full", "records_lost_wrap", "records_lost_big",
                 "records_overrun", "data_size", "content_end", "ts_end",
                 "discarded_at_close", "last_closed_discarded", "finalized", "layer_priv",
                 "persist", "persist_deliver", "persist_counters", "persist_table", "book",
                 "bufb", "spare", "v2", "reader_held", "records_count", "corrupted_subbuffers", "wsb", "n",
                 "sb_shift", "sb_mask", "active_readers", "cons_snapshot", "prod_snapshot",
                 "padded", "events_lost", "entering", "wbase", "last_tsc",
                 "seq_end_slots")

    def __init__(self, rbc: rb_channel, rbuf: rchan_buf, cpu: int | None):
        k = rbc.k
        ops = rbc.ops
        self.k = k
        self.rbc = rbc
        self.rbuf = rbuf
        self.cpu = cpu
        self.ops = ops
        n = rbc.n_subbufs
        self.offset = ops.new(k, cpu, "offset")
        self.consumed = atomic_long_t(k, name="consumed")
        self.commit_hot = [commit_counters_hot(ops, k, cpu, i) for i in range(n)]
        self.commit_cold = [ops.new(k, cpu, f"commit_cold[{i}].cc_sb") for i in range(n)]
        self.records_lost_full = ops.new(k, cpu, "records_lost_full")
        self.records_lost_wrap = ops.new(k, cpu, "records_lost_wrap")
        self.records_lost_big = ops.new(k, cpu, "records_lost_big")
        self.records_overrun = ops.new(k, cpu, "records_overrun")
        self.records_count = ops.new(k, cpu, "records_count")
        self.corrupted_subbuffers = ops.new(k, cpu, "corrupted_subbuffers")
        self.events_lost = ops.new(k, cpu, "events_lost")      # nested too deep
        # The sub-buffer table (rb_backend.py): a spare for the reader in a 2.x
        # overwrite buffer; the identity otherwise.
        self.v2 = rbc.era is Era.V2
        self.spare = self.v2 and rbc.mode is Mode.OVERWRITE
        self.bufb = lib_ring_buffer_backend(k, n, rbc.subbuf_size, self.spare)
        self.wsb = self.bufb.wsb        # (for the writers' lookups: fewer indirections)
        self.wbase = self.bufb.base
        self.n = n
        self.sb_shift = rbc.subbuf_size.bit_length() - 1
        self.sb_mask = rbc.subbuf_size - 1
        self.reader_held = None         # buf->get_subbuf_consumed while buf->get_subbuf
        # Writers between entering a sub-buffer and clearing its noref flag.  LTTng
        # clears (or finds clear) the flag on every record; the flag can be set on
        # the sub-buffer a writer is in only while such a writer is on its way
        # (a delivery sets it on a sub-buffer no writer is in; the reader's put
        # swaps back only a sub-buffer whose flag is still set), so kmodel looks
        # only then: the same flags, one attribute test on the other records.
        self.entering = 0
        self.active_readers = 0         # open buffer files (lib_ring_buffer_open_read: one)
        self.cons_snapshot = self.prod_snapshot = 0     # RING_BUFFER_SNAPSHOT's sample
        # 2.x's packets end at the page after their content (LTTng's packet_size,
        # what consumers write); 2009's are whole sub-buffers, and so are pmem's
        # (its crash reader checks a packet's header against a whole sub-buffer)
        self.padded = self.v2 and not rbc.chan.backend.whole_packets
        # What the reserver that closes a sub-buffer leaves for its delivery
        # (written before the commit that may deliver it):
        self.data_size = [0] * n
        self.content_end = [0] * n      # where the last record reserved in it ends
        self.ts_end = [0] * n
        self.discarded_at_close = [0] * n
        self.last_closed_discarded = 0  # the count the last packet closed carries
        self.finalized = False
        self.layer_priv = None          # the locking layer's own (kmodel.relay.layer)
        backend = rbc.chan.backend
        self.persist = backend.commit_hook(rbuf)            # when seq moves, or None
        self.persist_deliver = backend.deliver_hook(rbuf)   # before a packet's end fields
        self.persist_counters = backend.counters_hook(rbuf)  # after a loss or a consume
        self.persist_table = backend.table_hook(rbuf)       # after the table changed
        if self.persist_table is not None:      # the table as allocated, reader's first
            self.persist_table(self, (RSB, *range(n)))
        self.book = Bookkeeping(rbc.history)
        self.last_tsc = 0               # the last record's tsc (LTTng headers' rule)
        # where lib_ring_buffer_commit says a record's area ends, in slots past its
        # start: 1, or 2 with the commit_seq erratum (7915e163; decided here, not
        # looked up at each commit)
        self.seq_end_slots = 2 if rbc.errata["commit_seq"] else 1

    def events_discarded(self) -> int:
        return (self.records_lost_full.counter + self.records_lost_wrap.counter +
                self.records_lost_big.counter)


class Bookkeeping:
    """The emulator's own records of what happened, for invariants and tests
    (not kernel memory; costs nothing in the model).  The histories (every
    reservation, every delivery) are kept only when asked (history: the
    explorer's layer scenarios check them); a long recording keeps counts."""
    __slots__ = ("history", "reserved", "inflight", "records_per_packet", "delivered",
                 "n_delivered", "spurious_wrap", "produced", "committed")

    def __init__(self, history=False):
        self.history = history
        self.reserved = []              # (begin, end, end of data) of every reservation
        self.inflight = {}              # start -> end of what is reserved and whose
                                        # commit has not finished (the count and the
                                        # delivery it may make): records, headers, padding
        self.records_per_packet = {}    # packet seq -> records committed
        self.delivered = []             # (seq, ts_begin, ts_end, discarded, data size)
        self.n_delivered = 0
        self.spurious_wrap = 0          # wrap losses with no reservation in the way
        self.produced = 0               # records writers asked to write
        self.committed = 0


# --- reserve, commit, switch, deliver ------------------------------------------
def trace_clock_read(k: Kernel) -> int:
    """trace_clock_read - the trace clock on the running CPU (LTTng's
    trace_clock_read64): hw.clock says what it reads, modeled nanoseconds
    (k.trace_clock keeps the last read)."""
    k.trace_clock = t = k.clock_read(k.current.cpu)
    return t


@stepped
def lib_ring_buffer_reserve(rb: lib_ring_buffer, rsize: int,
                            data_len: int | None = None,
                            fmt: EventHeader | None = None, event_id: int = 0) -> Steps:
    """lib_ring_buffer_reserve - room for rsize bytes (a record's size), of
    which data_len (default rsize) are data: (slot, tsc) or (-errno, 0).  A
    packet's content ends at its last record's last data byte, as CTF readers
    expect (padding after it is not content).  With fmt (an EventHeader) and
    event_id, the size is the record's with LTTng's header, compact or
    extended as the id and the time since the buffer's last record decide
    (EventHeader.extended, inlined here: the hot path; rsize is given with
    the extended header, and the big-record test takes the size with the
    header this reservation writes, as record_header_size() gives LTTng's),
    and the tsc returned carries FULL_TSC for an extended header."""
    rbc = rb.rbc
    ops = rb.ops
    S, A = rbc.subbuf_size, rbc.alloc_size
    if fmt is not None:
        payload_len = rsize - fmt.ext_size
    elif rsize > S - HDR and not rb.v2:         # 2009: before anything else
        yield from ops.add_return(rb.records_lost_big, 1)
        _counted(rb)
        return -ENOSPC, 0
    while True:
        o_begin = yield from ops.read(rb.offset)
        tsc = trace_clock_read(rb.k)
        if fmt is not None:                     # record_header_size: rflags from last_tsc
            ext = event_id > fmt.max_id or (tsc - rb.last_tsc) >> TSC_BITS != 0
            rsize = (fmt.ext_size if ext else fmt.size) + payload_len
            if rsize > S - HDR and not rb.v2:   # 2009: before the offsets are looked at
                yield from ops.add_return(rb.records_lost_big, 1)
                _counted(rb)
                return -ENOSPC, 0
        discarded = rb.events_discarded()       # sampled before the reserve (b2cf5e0b)
        begin = o_begin
        off = begin & (S - 1)
        switch_old_end = off != 0 and off + rsize > S
        if switch_old_end:
            begin = (begin + S) & ~(S - 1)
        switch_new_start = begin & (S - 1) == 0
        if switch_new_start:                    # a sub-buffer starts: test it
            idx = (begin // S) % rbc.n_subbufs
            lap = begin // A
            cc_sb = yield from ops.read(rb.commit_cold[idx])
            in_way = cc_sb != lap * S and _in_flight_a_lap_ago(rb, begin, o_begin)
            if not rbc.errata["wrap_check"]:
                again = yield from ops.read(rb.offset)
                if again != o_begin:            # a concurrent reserve moved on: retry
                    continue
            if cc_sb != lap * S:
                if not in_way:
                    rb.book.spurious_wrap += 1
                yield from ops.add_return(rb.records_lost_wrap, 1)
                _counted(rb)
                return -EIO, 0
            if rbc.mode is Mode.DISCARD:
                consumed = yield from atomic_long_read(rb.consumed)
                if begin - (consumed & ~(S - 1)) >= A:
                    yield from ops.add_return(rb.records_lost_full, 1)
                    _counted(rb)
                    return -ENOBUFS, 0
            if rsize > S - HDR:                 # 2.x: after the wrap and full checks
                yield from ops.add_return(rb.records_lost_big, 1)
                _counted(rb)
                return -ENOSPC, 0
            begin += HDR
        end = begin + rsize
        got = yield from ops.cmpxchg(rb.offset, o_begin, end)
        if got != o_begin:
            continue
        break
    if fmt is not None:
        rb.last_tsc = tsc                       # save_last_tsc
    _note_reserved(rb, begin, end, begin + (rsize if data_len is None else data_len))
    if switch_old_end:                          # the padding is reserved too, until committed
        rb.book.inflight[o_begin] = (o_begin + S) & ~(S - 1)
    if switch_new_start:                        # and so is the new packet's header
        rb.book.inflight[begin - HDR] = begin
        if rb.spare:
            rb.entering += 1
        if rbc.mode is Mode.OVERWRITE:
            yield from _push_reader(rb, begin)
    if rb.entering:                             # lib_ring_buffer_clear_noref
        i = ((end - 1) >> rb.sb_shift) % rb.n
        if rb.wsb[i].counter & SB_ID_NOREF_MASK:
            yield from lib_ring_buffer_clear_noref(rb.bufb, i)
            if rb.persist_table is not None:
                rb.persist_table(rb, (i,))
        if switch_new_start:
            rb.entering -= 1
    if switch_old_end:
        yield from _switch_old_end(rb, o_begin, tsc, discarded)
    if switch_new_start:
        yield from _switch_new_start(rb, begin - HDR, tsc)
    if end & (S - 1) == 0:                      # this record fills its sub-buffer
        idx = ((end - 1) // S) % rbc.n_subbufs
        rb.data_size[idx] = rb.content_end[idx] - (begin & ~(S - 1))
        rb.ts_end[idx], rb.discarded_at_close[idx] = tsc, discarded
        rb.last_closed_discarded = max(rb.last_closed_discarded, discarded)
    return begin, (tsc | FULL_TSC if fmt is not None and ext else tsc)


@stepped
def _push_reader(rb, begin):
    """lib_ring_buffer_reserve_push_reader (2009: ltt_reserve_push_reader) -
    in overwrite mode, after the reservation: push consumed past the
    sub-buffer the writer now enters, if it is a whole buffer behind.  The
    reader may hold it: in 2.x it holds its own copy (the table's swap); in
    2009 it reads what is now overwritten, and learns it at its put (-EIO).
    2009 counts the pushed packet's records lost (records_overrun) here; 2.x
    counts them when their sub-buffer is delivered again (_check_deliver)."""
    S, A = rb.rbc.subbuf_size, rb.rbc.alloc_size
    while True:
        consumed = yield from atomic_long_read(rb.consumed)
        if (begin & ~(S - 1)) - (consumed & ~(S - 1)) < A:
            return
        got = yield from atomic_long_cmpxchg(rb.consumed, consumed, (consumed & ~(S - 1)) + S)
        if got != consumed:
            continue
        if not rb.v2:                   # (2.x keeps no records_per_packet)
            lost = rb.book.records_per_packet.pop(consumed // S, 0)
            if lost:
                yield from rb.ops.add_return(rb.records_overrun, lost)
                _counted(rb)


def _counted(rb):
    """A loss was counted: a backend that keeps counters for a crash reader
    stores them now (pmem), not at the next commit, which may never come."""
    if rb.persist_counters is not None:
        rb.persist_counters(rb)


def _note_reserved(rb, begin, end, data_end):
    S = rb.rbc.subbuf_size
    rb.content_end[(begin // S) % rb.rbc.n_subbufs] = data_end   # the packet's last record
    book = rb.book
    if book.history:
        book.reserved.append((begin, end, data_end))
    book.inflight[begin] = end


def _in_flight_a_lap_ago(rb, begin, o_begin):
    """Whether the sub-buffer's previous lap was still being written when cc_sb
    was read: a reservation there in flight (its commit, or the delivery that
    commit makes, not finished), or the reserver's own position in it (a
    channel of one sub-buffer: the record that would close it is the one
    dropped, as lttng-modules' lib_ring_buffer_try_reserve_slow drops it).
    That alone justifies a wrap-around loss.  Sampled with the read of cc_sb,
    since the commit may finish before the loss is decided."""
    lo, hi = begin - rb.rbc.alloc_size, begin - rb.rbc.alloc_size + rb.rbc.subbuf_size
    return lo <= o_begin < hi or any(lo <= s < hi for s in rb.book.inflight)


@stepped
def _switch_old_end(rb, o_old, tsc, discarded):
    """lib_ring_buffer_switch_old_end - close the sub-buffer o_old is in: its
    end fields for the delivery, and the padding committed."""
    rbc = rb.rbc
    S = rbc.subbuf_size
    sb_begin = o_old & ~(S - 1)
    idx = (sb_begin // S) % rbc.n_subbufs
    rb.data_size[idx] = (rb.content_end[idx] - sb_begin if rb.content_end[idx] > sb_begin
                         else o_old - sb_begin)
    if rb.data_size[idx] <= HDR:                # no record: content ends with the context
        rb.data_size[idx] = CONTEXT_END
    rb.ts_end[idx] = tsc
    rb.discarded_at_close[idx] = discarded
    rb.last_closed_discarded = max(rb.last_closed_discarded, discarded)
    padding = S - (o_old - sb_begin)
    rb.book.inflight.setdefault(o_old, sb_begin + S)   # (a flush reserves it here)
    cc = yield from rb.ops.add_return(rb.commit_hot[idx].cc, padding)
    yield from _write_commit_counter(rb, idx, sb_begin + S, cc)
    yield from _check_deliver(rb, idx, sb_begin, cc)
    rb.book.inflight.pop(o_old, None)


@stepped
def _switch_new_start(rb, sb_begin, tsc):
    """lib_ring_buffer_switch_new_start - write the new packet's header, commit it."""
    rbc = rb.rbc
    S = rbc.subbuf_size
    idx = (sb_begin // S) % rbc.n_subbufs
    cpu = rb.cpu if rb.cpu is not None else NO_CPU
    hdr = ltt_relay_offset_address(rb.rbuf, rb.bufb.write_offset(sb_begin))
    hdr[:HDR] = pack_packet_header(PacketHeader(PACKET_MAGIC, tsc, 0, 0, S * 8, sb_begin // S,
                                                0, cpu, rbc.uuid, 0, cpu))
    cc = yield from rb.ops.add_return(rb.commit_hot[idx].cc, HDR)
    yield from _write_commit_counter(rb, idx, sb_begin + HDR, cc)
    yield from _check_deliver(rb, idx, sb_begin, cc)
    rb.book.inflight.pop(sb_begin, None)


@stepped
def _write_commit_counter(rb, idx, end, cc):
    """lib_ring_buffer_write_commit_counter (frontend_internal.h, as fixed by
    lttng-modules 7915e163: end is the end of the area committed) - for a
    reader of a crashed kernel: commit_hot.seq follows the commit count only
    when everything reserved before end is committed (end - cc a whole number
    of sub-buffers), and only forward.  The persist hook (pmem) stores the
    sequence set, nothing else.  2009 copied cc after each record in the
    commit path and never here; its pmem region gets 2.x's sequence."""
    if (end - cc) & (rb.rbc.subbuf_size - 1):
        return
    if rb.v2:
        seq = rb.commit_hot[idx].seq
        if seq.counter >= cc:                   # (a plain load: see lib_ring_buffer_commit)
            return
        yield from rb.ops.set(seq, cc)
    if rb.persist is not None:
        rb.persist(rb, idx, cc)


@stepped
def _check_deliver(rb, idx, sb_begin, cc):
    """lib_ring_buffer_check_deliver - deliver the sub-buffer if this commit
    completed it; one committer wins the cmpxchg on cc_sb."""
    S = rb.rbc.subbuf_size
    base = (sb_begin // rb.rbc.alloc_size) * S
    if cc - base != S:
        return
    got = yield from rb.ops.cmpxchg(rb.commit_cold[idx], base, base + 1)
    if got != base:
        return
    discarded = (rb.events_discarded() if rb.rbc.errata["discard_sample"]
                 else rb.discarded_at_close[idx])
    hdr = ltt_relay_offset_address(rb.rbuf, rb.bufb.write_offset(sb_begin))
    data_size = rb.data_size[idx]
    ts_end = trace_clock_read(rb.k) if rb.rbc.errata["ts_end"] else rb.ts_end[idx]
    h = unpack_packet_header(hdr)._replace(timestamp_end=ts_end,
                                           content_size=data_size * 8,
                                           events_discarded=discarded)
    if rb.padded:                               # client_buffer_end: PAGE_ALIGN(data_size)
        h = h._replace(packet_size=((data_size + PAGE - 1) & ~(PAGE - 1)) * 8)
    rb.bufb.data_size[rb.wsb[idx].counter & SB_ID_INDEX_MASK] = data_size
    if rb.persist_deliver is not None:
        rb.persist_deliver(rb, idx, h)
    hdr[:HDR] = pack_packet_header(h)
    if rb.v2:                                   # deliver_count_events, then the noref
        count, overruns = subbuffer_count_records_overrun(rb.bufb, idx)
        yield from rb.ops.add_return(rb.records_count, count)
        if overruns:
            yield from rb.ops.add_return(rb.records_overrun, overruns)
            _counted(rb)
        if rb.spare:
            lib_ring_buffer_set_noref_offset(rb.bufb, idx, sb_begin // rb.rbc.alloc_size)
            if rb.persist_table is not None:
                rb.persist_table(rb, (idx,))
    book = rb.book
    book.n_delivered += 1
    if book.history:
        book.delivered.append((h.packet_seq_num, h.timestamp_begin, h.timestamp_end, discarded,
                               rb.data_size[idx]))
    yield from rb.ops.set(rb.commit_cold[idx], base + S)


@stepped
def lib_ring_buffer_commit(rb: lib_ring_buffer, slot: int, rsize: int) -> Steps:
    """lib_ring_buffer_commit - the record at slot is written: count it in."""
    rbc = rb.rbc
    S = rbc.subbuf_size
    idx = (slot // S) % rbc.n_subbufs
    book = rb.book
    book.committed += 1
    if rb.v2:                                   # subbuffer_count_record (by position:
        rb.bufb.records_commit[idx] += 1        # wsb[idx] stays until the delivery)
    else:                                       # (2009's overrun, counted at the push)
        book.records_per_packet[slot // S] = book.records_per_packet.get(slot // S, 0) + 1
    hot = rb.commit_hot[idx]
    cc = yield from rb.ops.add_return(hot.cc, rsize)
    # _write_commit_counter, written out: its v_read of seq is a plain load of
    # the line the add just wrote (no step, no charge of its own); the set is a
    # step, so a nested commit can still come between the two.  The area ends
    # at slot + rsize; seq_end_slots is 2 with the commit_seq erratum (before
    # 7915e163 the C passed ctx->buf_offset, already past the record, and added
    # slot_size again, so a partial sub-buffer's seq never moved), else 1.
    in_order = not (slot + rsize * rb.seq_end_slots - cc) & (S - 1)
    if not rb.v2:                               # the seed's: a copy after each commit
        yield from rb.ops.set(hot.seq, cc)
        if in_order and rb.persist is not None:     # (pmem: the sequence 2.x's rule gives)
            rb.persist(rb, idx, cc)
    elif in_order and hot.seq.counter < cc:
        yield from rb.ops.set(hot.seq, cc)
        if rb.persist is not None:
            rb.persist(rb, idx, cc)
    if cc - (slot // rbc.alloc_size) * S == S:  # (_check_deliver's own test, first: most
        yield from _check_deliver(rb, idx, slot & ~(S - 1), cc)     # commits deliver nothing)
    book.inflight.pop(slot, None)


def _page_chunks(offset, n):
    """[(done, chunk)] for each page that n bytes at offset touch."""
    out = []
    done = 0
    while done < n:
        chunk = min(n - done, PAGE - ((offset + done) & (PAGE - 1)))
        out.append((done, chunk))
        done += chunk
    return out


@stepped
def lib_ring_buffer_write(rb: lib_ring_buffer, slot: int, data: bytes | bytearray) -> Steps:
    """lib_ring_buffer_write - copy data to slot through the allocation layer,
    a page at a time; another context can run between two pages."""
    n = len(data)
    slot = rb.wbase[(slot >> rb.sb_shift) % rb.n] + (slot & rb.sb_mask)     # through wsb
    if (slot & (PAGE - 1)) + n <= PAGE:         # one page: one step, data as it is
        rbuf = rb.rbuf
        yield (Op.COPY, rbuf)
        if type(data) is bytearray:             # what ltt_relay_write would pass on as
            rbuf.ops.write(rbuf, slot, data, n)     # it is: the backend's, directly
        else:
            ltt_relay_write(rbuf, slot, data, n)
        return
    view = memoryview(data)
    for done, chunk in _page_chunks(slot, n):
        yield (Op.COPY, rb.rbuf)
        ltt_relay_write(rb.rbuf, slot + done, view[done:done + chunk], chunk)


@stepped
def reserve_record(rb: lib_ring_buffer, payload_len: int, event_id: int = 0) -> Steps:
    """reserve_record - room for a record of payload_len: (slot, tsc), or
    (-errno, 0) when it is dropped (and counted).

    The CPU's nesting count goes up for the record until its commit
    (lib_ring_buffer_get_cpu / _put_cpu in 2.x; 0.226's ltt_nesting): one
    count per CPU for every channel, and a record nested deeper than
    RING_BUFFER_MAX_NESTING (4) is refused with -EPERM.  kmodel keeps the
    count in the contexts (Context.rb_nesting; the CPU's is the sum over its
    stack), so that a run the explorer abandons leaves none behind.  LTTng 2.x only
    warns (WARN_ON_ONCE); 2009 counted it in the buffer's events_lost, and
    kmodel counts it there in both eras, so that every record is accounted.
    The record's header is the channel's format (rb_channel.header;
    event_header.py)."""
    rb.book.produced += 1
    k = rb.k
    cur = k.current
    if cur.kind is not TASK and len(k.cpu_exec[cur.cpu].stack) > RING_BUFFER_MAX_NESTING \
            and sum(c.rb_nesting for c in k.cpu_exec[cur.cpu].stack) >= \
            RING_BUFFER_MAX_NESTING:              # (a task is at the bottom: never nested)
        k = rb.k
        if rb.v2 and not k.__dict__.get("lib_ring_buffer_nesting_warned"):     # WARN_ON_ONCE
            k.__dict__["lib_ring_buffer_nesting_warned"] = True
            k.bug.WARN(True, f"lib_ring_buffer_get_cpu: more than {RING_BUFFER_MAX_NESTING} "
                       "records nested on this CPU")
        return (yield from _events_lost(rb))
    cur.rb_nesting += 1
    fmt = rb.rbc.header
    if fmt is None:
        ret = yield from lib_ring_buffer_reserve(rb, record_size(payload_len))
    else:
        ret = yield from lib_ring_buffer_reserve(rb, fmt.ext_size + payload_len, None, fmt,
                                                 event_id)
    if ret[0] < 0:
        cur.rb_nesting -= 1
    return ret


@stepped
def _events_lost(rb):
    """A record refused before it reserves anything: counted in events_lost;
    (-EPERM, 0)."""
    yield from rb.ops.add_return(rb.events_lost, 1)
    _counted(rb)
    return -EPERM, 0


@stepped
def refuse_record(rb: lib_ring_buffer) -> Steps:
    """refuse_record - a record a layer refuses before reserving (the locked
    layer's, from a context that would deadlock on the buffer's lock): it was
    produced, and is counted in events_lost; (-EPERM, 0)."""
    rb.book.produced += 1
    return (yield from _events_lost(rb))


@stepped
def commit_record(rb: lib_ring_buffer, slot: int, tsc: int, payload: bytes,
                  event_id: int = 0) -> Steps:
    """commit_record - copy the record (header and payload) to its slot and commit it.
    The record is packed into one zeroed buffer of its size (the padding is
    the zeroes), then copied by lib_ring_buffer_write."""
    n = len(payload)
    fmt = rb.rbc.header
    rec: bytes | bytearray
    if fmt is None:
        rsize = record_size(n)
        rec = bytearray(rsize)
        RECORD_HEADER.pack_into(rec, 0, tsc, n, event_id)
        rec[REC:] = payload
    else:                                       # lttng_write_event_header
        rec = fmt.record(event_id, tsc, payload)
        rsize = len(rec)
    yield from lib_ring_buffer_write(rb, slot, rec)
    yield from lib_ring_buffer_commit(rb, slot, rsize)
    rb.k.current.rb_nesting -= 1                # lib_ring_buffer_put_cpu


@stepped
def write_record(rb: lib_ring_buffer, payload: bytes, event_id: int = 0) -> Steps:
    """write_record - reserve, copy, commit one record: what a tracepoint's
    probe does.  Returns the slot, or a negative errno when it was dropped."""
    slot, tsc = yield from reserve_record(rb, len(payload), event_id)
    if slot >= 0:
        yield from commit_record(rb, slot, tsc, payload, event_id)
    return slot


# --- flush ---------------------------------------------------------------------
@stepped
def lib_ring_buffer_switch_slow(rb: lib_ring_buffer,
                                mode: SwitchMode = SwitchMode.ACTIVE) -> Steps:
    """lib_ring_buffer_switch_slow - close the current packet if it holds
    records, so that it can be delivered (a flush).  With SwitchMode.FLUSH, the
    last word: if records were dropped since the last packet closed, a packet
    carries the count (the open one even if it holds only its header, or an
    empty one, as LTTng's final flush writes), room permitting, and the buffer
    is marked finalized once nothing is left untold: in a full buffer, drain
    and flush again.  Must run on the CPU that owns a per-CPU buffer."""
    finalize = mode is SwitchMode.FLUSH
    ops = rb.ops
    S = rb.rbc.subbuf_size
    while True:
        o_old = yield from ops.read(rb.offset)
        off = o_old & (S - 1)
        untold = (mode is SwitchMode.EMPTY or
                  finalize and rb.events_discarded() > rb.last_closed_discarded)
        if off == 0 and untold:
            yield from _empty_packet(rb, o_old)
            break
        if off == 0 or (off == HDR and not untold):     # nothing open, or a header alone
            break
        tsc = trace_clock_read(rb.k)
        discarded = rb.events_discarded()
        new = (o_old + S) & ~(S - 1)
        got = yield from ops.cmpxchg(rb.offset, o_old, new)
        if got == o_old:
            yield from _switch_old_end(rb, o_old, tsc, discarded)
            break
    if finalize and rb.events_discarded() <= rb.last_closed_discarded:
        rb.finalized = True             # (else no room to tell the losses yet: a reader
                                        # drains, and the next final flush tells them)


def lib_ring_buffer_finalize(rb: lib_ring_buffer) -> None:
    """lib_ring_buffer_finalize - no more will be delivered: a reader that
    drained the buffer gets -ENODATA.  A final flush finalizes the buffer
    itself once its losses are told; this is for the caller that gives up
    telling them (a buffer nobody drains)."""
    rb.finalized = True


@stepped
def _empty_packet(rb, begin):
    """A packet with a header and no record, to carry the final count of
    events discarded; nothing if the buffer has no room for it now."""
    rbc = rb.rbc
    S, A = rbc.subbuf_size, rbc.alloc_size
    idx = (begin // S) % rbc.n_subbufs
    cc_sb = yield from rb.ops.read(rb.commit_cold[idx])
    consumed = yield from atomic_long_read(rb.consumed)
    if cc_sb != (begin // A) * S or begin - (consumed & ~(S - 1)) >= A:
        return
    tsc = trace_clock_read(rb.k)
    discarded = rb.events_discarded()
    got = yield from rb.ops.cmpxchg(rb.offset, begin, begin + HDR)
    if got != begin:
        return
    rb.book.inflight[begin] = begin + HDR
    if rb.spare and rb.bufb.wsb[idx].counter & SB_ID_NOREF_MASK:
        yield from lib_ring_buffer_clear_noref(rb.bufb, idx)
        if rb.persist_table is not None:
            rb.persist_table(rb, (idx,))
    yield from _switch_new_start(rb, begin, tsc)
    got = yield from rb.ops.cmpxchg(rb.offset, begin + HDR, begin + S)
    if got == begin + HDR:
        yield from _switch_old_end(rb, begin + HDR, tsc, discarded)


@stepped
def lib_ring_buffer_switch_remote(rb: lib_ring_buffer,
                                  mode: SwitchMode = SwitchMode.ACTIVE) -> Steps:
    """lib_ring_buffer_switch_remote - a flush asked from any CPU.  A per-CPU
    buffer's counters are local_t, so the flush runs on its CPU, by IPI (as
    lttng-modules since 5e391252); if that CPU is offline, here.  With the
    remote_flush erratum, it runs here anyway, on another CPU's local_t."""
    k = rb.k
    if rb.cpu is None or rb.rbc.errata["remote_flush"] or k.current.cpu == rb.cpu:
        yield from lib_ring_buffer_switch_slow(rb, mode)
        return
    ipi_mode = SwitchMode.ACTIVE if rb.rbc.errata["remote_switch_mode"] else mode   # 9dded431
    ret = yield from smp_call_function_single(k, rb.cpu, lib_ring_buffer_switch_slow, rb,
                                              ipi_mode)
    if ret:                             # the CPU is offline: nobody writes there now
        yield from lib_ring_buffer_switch_slow(rb, mode)


# --- the reader ------------------------------------------------------------------
_GET_RETRIES = 1 << 16          # a get that cannot swap this often is a kernel bug


@stepped
def lib_ring_buffer_get_subbuf(rb: lib_ring_buffer, consumed: int | None = None) -> Steps:
    """lib_ring_buffer_get_subbuf (lib_ring_buffer_get_next_subbuf when consumed
    is None: the current consumed position) - take the delivered sub-buffer at
    consumed: its position, or -EBUSY if one is held already, -EAGAIN if it is
    not delivered (or, asked by position, already pushed past), -ENODATA if
    nothing will be (finalized).  The table's update_read_sb_index gives the
    reader its own copy in a 2.x overwrite buffer (rb_backend.py); a failed
    swap (a writer entered it meanwhile) retries, as LTTng's goto retry."""
    if rb.reader_held is not None:
        return -EBUSY
    S = rb.rbc.subbuf_size
    for _ in range(_GET_RETRIES):
        finalized = rb.finalized
        consumed_cur = yield from atomic_long_read(rb.consumed)
        c = consumed_cur if consumed is None else consumed & ~(S - 1)
        if c < consumed_cur & ~(S - 1):
            return -ENODATA if finalized else -EAGAIN
        idx = (c // S) % rb.rbc.n_subbufs
        lap = c // rb.rbc.alloc_size
        cc_sb = yield from rb.ops.read(rb.commit_cold[idx])
        if cc_sb != (lap + 1) * S:
            return -ENODATA if finalized else -EAGAIN
        ret = yield from update_read_sb_index(rb.bufb, idx, lap)
        if ret:
            continue
        rb.bufb.rsb &= ~SB_ID_NOREF_MASK
        if rb.persist_table is not None:        # the packet's new name first (pmem_table)
            rb.persist_table(rb, (RSB, idx))
        rb.reader_held = c
        return c
    rb.k.bug.oops(f"BUG: lib_ring_buffer_get_subbuf: no swap of sub-buffer {idx} in "
                  f"{_GET_RETRIES} tries")


@stepped
def lib_ring_buffer_put_subbuf(rb: lib_ring_buffer, consumed: int) -> Steps:
    """lib_ring_buffer_put_subbuf + lib_ring_buffer_move_consumer - give the
    held sub-buffer back, consumed; -EINVAL if consumed is not the one held.
    2.x: the reader's copy goes back into the writers' table if no writer has
    entered its place since (else the reader keeps it as its spare), and
    consumed moves past it unless a writer pushed it further: 0.  2009
    (ltt_relay_put_subbuf): consumed moves by a cmpxchg from the value the
    get saw; if a writer pushed it meanwhile, what was read may be torn:
    counted in corrupted_subbuffers, and -EIO."""
    if rb.reader_held is None or rb.reader_held != consumed:
        return -EINVAL
    rb.reader_held = None
    S = rb.rbc.subbuf_size
    bufb = rb.bufb
    if rb.v2:                           # (2.x keeps no records_per_packet: 2009's overrun)
        rsb = bufb.rsb
        unread = bufb.records_unread
        b = rsb & SB_ID_INDEX_MASK
        bufb.records_read += unread[b]
        unread[b] = 0
        bufb.rsb = rsb | SB_ID_NOREF_MASK
        rbc = rb.rbc
        idx = (consumed // S) % rbc.n_subbufs
        yield from update_read_sb_index(bufb, idx, consumed // rbc.alloc_size)
        if rb.persist_table is not None:        # the packet's new name first (pmem_table)
            rb.persist_table(rb, (idx, RSB))
        # lib_ring_buffer_move_consumer, its first read folded into the cmpxchg:
        # the get saw consumed at the packet; a writer may have pushed it since
        cur = consumed
        while cur < consumed + S:
            got = yield from atomic_long_cmpxchg(rb.consumed, cur, consumed + S)
            if got == cur:
                break
            cur = got
        ret = 0
    else:
        got = yield from atomic_long_cmpxchg(rb.consumed, consumed, consumed + S)
        ret = 0
        if got != consumed:             # "We have been pushed by the writer"
            yield from rb.ops.add_return(rb.corrupted_subbuffers, 1)
            ret = -EIO                  # (its records: overrun, counted at the push)
        else:
            rb.book.records_per_packet.pop(consumed // S, None)
    if rb.persist_counters is not None:
        rb.persist_counters(rb)
    return ret


@stepped
def lib_ring_buffer_release_subbuf(rb: lib_ring_buffer, consumed: int) -> Steps:
    """lib_ring_buffer_put_subbuf (without lib_ring_buffer_move_consumer) -
    give the held sub-buffer back unconsumed: the next get takes it again (a
    reader that failed to write it out, or went away); -EINVAL if consumed
    is not the sub-buffer held."""
    if rb.reader_held is None or rb.reader_held != consumed:
        return -EINVAL
    rb.reader_held = None
    if rb.spare:
        S = rb.rbc.subbuf_size
        rb.bufb.rsb |= SB_ID_NOREF_MASK
        idx = (consumed // S) % rb.rbc.n_subbufs
        yield from update_read_sb_index(rb.bufb, idx, consumed // rb.rbc.alloc_size)
        if rb.persist_table is not None:        # the packet's new name first (pmem_table)
            rb.persist_table(rb, (idx, RSB))
    return 0


def lib_ring_buffer_poll_deliver(rb: lib_ring_buffer) -> bool:
    """lib_ring_buffer_poll_deliver - is the next sub-buffer delivered and not
    held (what poll says POLLIN for)?  A peek, not a step: it changes nothing."""
    S = rb.rbc.subbuf_size
    c = rb.consumed.counter
    idx = (c // S) % rb.rbc.n_subbufs
    return (rb.reader_held is None and
            rb.commit_cold[idx].counter == (c // rb.rbc.alloc_size + 1) * S)


def subbuf_packet_size(rb: lib_ring_buffer, consumed: int) -> int:
    """subbuf_packet_size - the bytes of the delivered packet at consumed that
    a consumer writes out: PAGE_ALIGN of its content in 2.x
    (RING_BUFFER_GET_PADDED_SUBBUF_SIZE, from the backend sub-buffer's
    data_size as lib_ring_buffer_get_read_data_size reads it), the whole
    sub-buffer in 2009 and on a backend that keeps packets whole."""
    S = rb.rbc.subbuf_size
    if not rb.padded:
        return S
    bufb = rb.bufb
    b = (bufb.rsb if rb.reader_held == consumed else
         rb.wsb[(consumed // S) % rb.n].counter) & SB_ID_INDEX_MASK
    return (bufb.data_size[b] + PAGE - 1) & ~(PAGE - 1)


def lib_ring_buffer_snapshot(rb: lib_ring_buffer) -> int:
    """lib_ring_buffer_snapshot - sample the positions a flight recorder's
    reader walks: rb.cons_snapshot (consumed) and rb.prod_snapshot (the start
    of the sub-buffer the writer is in); 0, or -EAGAIN (-ENODATA once
    finalized) when the writer is in the consumed sub-buffer itself.  A peek
    of two counters, not a step."""
    S = rb.rbc.subbuf_size
    consumed, offset = rb.consumed.counter, rb.offset.counter
    if (offset & ~(S - 1)) == (consumed & ~(S - 1)):
        return -ENODATA if rb.finalized else -EAGAIN
    rb.cons_snapshot, rb.prod_snapshot = consumed, offset & ~(S - 1)
    return 0


@stepped
def lib_ring_buffer_clear_reader(rb: lib_ring_buffer) -> Steps:
    """lib_ring_buffer_clear_reader (frontend_internal.h), the second half of
    RING_BUFFER_CLEAR after a flush: consumed moves to the start of the
    sub-buffer the writer is in, so what was not read is dropped (and counted
    nowhere, as in LTTng, which says it is for a buffer no one writes)."""
    S = rb.rbc.subbuf_size
    while True:
        offset = yield from rb.ops.read(rb.offset)
        old = yield from atomic_long_read(rb.consumed)
        got = yield from atomic_long_cmpxchg(rb.consumed, old, offset & ~(S - 1))
        if got == old:
            return


def subbuf_read_offset(rb: lib_ring_buffer, consumed: int) -> int:
    """subbuf_read_offset - where, in the allocation layer's buffer, the
    sub-buffer at consumed is to be read: the reader's own (rsb) when it holds
    that one, else the writers' (wsb); RING_BUFFER_GET_MMAP_READ_OFFSET."""
    if rb.reader_held == consumed:
        return rb.bufb.read_offset()
    return rb.bufb.write_offset(consumed & ~(rb.rbc.subbuf_size - 1))


@stepped
def lib_ring_buffer_read(rb: lib_ring_buffer, offset: int, dest: bytearray, n: int) -> Steps:
    """lib_ring_buffer_read - copy n bytes at offset into dest through the
    allocation layer, a page at a time, as lttng-modules'
    lib_ring_buffer_read (lib/ringbuffer/ring_buffer_backend.c, commit
    0112cb7) memcpy()s page by page; here another context can run between
    two pages.  The reader must hold the sub-buffer (get_subbuf) meanwhile,
    as that function's comment asks.  Returns n."""
    view = memoryview(dest)
    for done, chunk in _page_chunks(offset, n):
        yield (Op.READ, rb.rbuf)
        ltt_relay_read(rb.rbuf, offset + done, view[done:done + chunk], chunk)
    return n


PacketRead = tuple[PacketHeader, list[tuple[int, int, bytes]]]


def read_packet(rb: lib_ring_buffer, consumed: int) -> PacketRead:
    """read_packet - (PacketHeader, [(timestamp, event id, payload)]) of the
    held sub-buffer, read through the allocation layer (padding skipped)."""
    S = rb.rbc.subbuf_size
    raw = bytearray(S)
    ltt_relay_read(rb.rbuf, subbuf_read_offset(rb, consumed), raw, S)
    return parse_packet(raw)


@stepped
def read_packet_steps(rb: lib_ring_buffer, consumed: int) -> Steps:
    """read_packet_steps - read_packet a page at a time (lib_ring_buffer_read):
    a generator, so writers can run between the reader's get and its put."""
    S = rb.rbc.subbuf_size
    raw = bytearray(S)
    yield from lib_ring_buffer_read(rb, subbuf_read_offset(rb, consumed), raw, S)
    return parse_packet(raw)


def parse_packet(raw: bytes | bytearray) -> PacketRead:
    """parse_packet - the header and records of a packet's bytes."""
    h = unpack_packet_header(raw)
    content = h.content_size // 8
    records = []
    pos = HDR
    while pos + REC <= content:
        r = unpack_record_header(raw, pos)
        records.append((r.timestamp, r.id, bytes(raw[pos + REC:pos + REC + r.payload_size])))
        pos += record_size(r.payload_size)
    return h, records


# --- channels ----------------------------------------------------------------------
class rb_channel:
    """The layer's channel: a mode, a scope, a locking layer and its buffers
    (bufs[cpu] per CPU, or one shared buffer as bufs[None]) over an
    allocation-layer channel chan.  Readers take and give back sub-buffers
    through it (get_subbuf, put_subbuf), so that the layer decides how."""
    __slots__ = ("k", "chan", "layer", "mode", "scope", "subbuf_size", "n_subbufs",
                 "alloc_size", "ops", "errata", "bufs", "history", "era", "nb",
                 "uuid", "header")

    def __init__(self, k: Kernel, chan: rchan, layer: LockingLayer, mode: Mode | str,
                 scope: Scope | str, history: bool = False, era: Era | str = DEFAULT_ERA):
        self.k = k
        self.chan = chan
        self.layer = layer
        self.mode = Mode(mode)
        self.scope = Scope(scope)
        self.subbuf_size = chan.subbuf_size
        self.n_subbufs = chan.n_subbufs
        self.alloc_size = chan.subbuf_size * chan.n_subbufs    # the ring (not the spare)
        self.era = Era(era)
        self.nb = None                  # its CPU notifier (rb_hotplug.py), if registered
        self.ops = layer.counter_ops(self.scope)
        self.errata = {name: k.config[opt] == "y" for name, opt in ERRATA.items()}
        self.bufs: dict[int | None, lib_ring_buffer] = {}
        self.history = history          # buffers keep Bookkeeping's histories
        self.uuid = bytes(16)           # the trace's, in every packet header (a
                                        # recorder sets it before the first write)
        self.header: EventHeader | None = None       # the records' header: kmodel's, or an
                                        # EventHeader of LTTng's (event_header.py)

    def buf_for(self, cpu: int) -> lib_ring_buffer | None:
        """The buffer a writer on cpu writes (the global one, for that scope);
        a CPU that came online since the open gets its layer state now, over
        the buffer the relay gave it at CPU_UP_PREPARE.  None if it has none."""
        key = None if self.scope is Scope.GLOBAL else cpu
        rb = self.bufs.get(key)
        if rb is None and key is not None and self.chan.buf[cpu] is not None:
            rb = self.add_buf(cpu)
        return rb

    def buffers(self) -> list[tuple[int | None, lib_ring_buffer]]:
        """buffers - (cpu, buffer) of every buffer, in CPU order (the global
        buffer's cpu is None)."""
        return sorted(self.bufs.items(), key=lambda kv: -1 if kv[0] is None else kv[0])

    def add_buf(self, cpu: int) -> lib_ring_buffer:
        rbuf = self.chan.buf[cpu]
        key = None if self.scope is Scope.GLOBAL else cpu
        rb = lib_ring_buffer(self, rbuf, key)
        self.layer.init_buf(rb)
        self.bufs[key] = rb
        return rb

    def get_subbuf(self, rb: lib_ring_buffer) -> Steps:
        """get_subbuf - a generator: the layer's reader takes rb's next
        delivered sub-buffer (its consumed position, or -errno)."""
        return self.layer.get_subbuf(rb)

    def put_subbuf(self, rb: lib_ring_buffer, consumed: int) -> Steps:
        """put_subbuf - a generator: the reader gives the sub-buffer back, consumed."""
        return self.layer.put_subbuf(rb, consumed)

    def release_subbuf(self, rb: lib_ring_buffer, consumed: int) -> Steps:
        """release_subbuf - a generator: the reader gives it back unconsumed."""
        return self.layer.release_subbuf(rb, consumed)

    def poll_deliver(self, rb: lib_ring_buffer) -> bool:
        """poll_deliver - whether the reader would get a sub-buffer now."""
        return self.layer.poll_deliver(rb)

    # The straight forms (kmodel.core.straight): what callers outside the
    # explorer run, with no steps between.
    def get_subbuf__straight(self, rb: lib_ring_buffer) -> int:
        return self.layer.get_subbuf__straight(rb)

    def put_subbuf__straight(self, rb: lib_ring_buffer, consumed: int) -> int:
        return self.layer.put_subbuf__straight(rb, consumed)

    def release_subbuf__straight(self, rb: lib_ring_buffer, consumed: int) -> int:
        return self.layer.release_subbuf__straight(rb, consumed)


def channel_era(era: Era | str | None, mode: Mode | str, backend: str) -> Era:
    """The era a channel runs: era, or DEFAULT_ERA when None, on every backend
    (pmem keeps the sub-buffer table in its region: pmem_table.py)."""
    return DEFAULT_ERA if era is None else Era(era)


def extra_subbufs(era: Era | str, mode: Mode | str) -> int:
    """The sub-buffers a buffer takes beyond n_subbufs: the reader's spare of
    a 2.x overwrite buffer (LTTng's extra_reader_sb), else none."""
    return 1 if Era(era) is Era.V2 and Mode(mode) is Mode.OVERWRITE else 0


def check_geometry(chan: rchan, mode: Any, scope: Any) -> tuple[int, str] | None:
    """The layer's own checks on a channel: an errno and why, or None."""
    if mode not in tuple(Mode):
        return EINVAL, f"mode={mode!r} ({' or '.join(Mode)})"
    if scope not in tuple(Scope):
        return EINVAL, f"scope={scope!r} ({' or '.join(Scope)})"
    k = chan.k                          # (None: a geometry checked outside a kernel)
    if mode == Mode.OVERWRITE and chan.n_subbufs < 2 and not (
            k is not None and k.config[ERRATA["one_subbuf"]] == "y"):
        # lttng-modules 5140d2b3 (channel_backend_init): with one sub-buffer the
        # record after a flush pushes consumed past the only packet (layers.md)
        return EINVAL, "overwrite mode needs at least 2 sub-buffers"
    if chan.subbuf_size < PAGE:
        return EINVAL, "sub-buffers must be at least a page"
    return None
