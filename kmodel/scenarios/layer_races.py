"""Scenarios for the locking layers: a conformance scenario with its invariants,
and the three lttng-modules bugs (docs/layers.md).  ``kmodel explore
builtin:rb-NAME`` runs one; with the bug's CONFIG_KMODEL_RB_ERRATUM_* option,
the explorer finds it.

A scenario: writers in tasks and interrupts, and a reader that takes and
gives back sub-buffers while they write, on one channel of some backend,
layer, mode and scope.  Invariants, after every step:

- reserved slots never overlap;
- a delivered packet's committed bytes are exactly what was reserved in it
  (header + records + padding = the sub-buffer);
- the events-discarded counts of delivered packets never decrease with their
  sequence numbers;
- no record is dropped for a nested wrap-around unless a reservation from a
  lap ago is still uncommitted in the sub-buffer it would enter;
- (rb-commit-seq) commit_hot.seq never passes a reservation still open (the
  bytes before it decode as records written), and equals the commit count
  after a commit in order (7915e163);

at the end, before anything else:

- in overwrite mode, the newest packet delivered is read, or the reader can
  still get it: a writer pushes ``consumed`` past a delivered packet only
  when a newer one is delivered (5140d2b3: with one sub-buffer, the record
  after a flush pushes it past the only packet);

and at the end, after a final flush and a drain:

- every record written is read back byte for byte, or counted lost, once:
  per buffer, produced == read + lost (full, wrap, big, overrun);
- every record's timestamp lies within its packet's begin and end, and
  packets follow each other in time;
- every delivered packet was read or overrun, none twice.
"""
import struct
from types import SimpleNamespace

from kmodel.core.errno import EAGAIN, EIO
from kmodel.cpu.context import HARDIRQ, SOFTIRQ, TASK
from kmodel.relay.relay_alloc import ltt_relay_close
from kmodel.relay.relay_file import ltt_relay_open_debugfs
from kmodel.relay.layer import get_layer
from kmodel.relay.packet import CONTEXT_END, HDR, REC, record_size, unpack_record_header
from kmodel.relay.relay_alloc import ltt_relay_read
from kmodel.relay.rb_config import DEFAULT_ERA, Era, Mode, Scope, SwitchMode
from kmodel.relay.ring_buffer import (channel_era, check_geometry, extra_subbufs,
                                      lib_ring_buffer_switch_remote, rb_channel, read_packet)

PAYLOAD = struct.Struct("<HH")          # writer id, record number


_BYTES = bytes(range(256)) * 2


def payload(writer, i, size):
    """Record i of writer: its numbers, then bytes counting up from a start
    of their own (byte j is (writer * 31 + i * 7 + j) & 0xFF)."""
    head = PAYLOAD.pack(writer, i)
    n = size - len(head)
    start = (writer * 31 + i * 7) & 0xFF
    body = _BYTES[start:start + 256] * (n // 256 + 1)
    return head + body[:max(n, 0)]


class LayerScenario:
    """Build with the geometry and the writers: [(cpu, kind, n records, size)]."""

    def __init__(self, backend, layer, mode, scope=Scope.PER_CPU, writers=None, subbuf=4096,
                 n_subbufs=2, reader_cpu=2, reader_tries=6, era=DEFAULT_ERA):
        self.backend, self.layer, self.mode, self.scope = backend, layer, mode, scope
        self.era = channel_era(era, mode, backend)
        # per CPU 0: ~7 KiB of records into 2 x 4 KiB (losses or overrun), and
        # one record too big for a sub-buffer
        self.writers = writers or [(0, TASK, 4, 900), (0, HARDIRQ, 3, 1500),
                                   (1, TASK, 3, 1700), (1, SOFTIRQ, 1, 5000)]
        self.subbuf, self.n_subbufs = subbuf, n_subbufs
        self.reader_cpu, self.reader_tries = reader_cpu, reader_tries
        self.opened = []
        self.runs = 0

    # --- a run -------------------------------------------------------------------
    def setup(self, world):
        k = world.k
        self.close()
        self.runs += 1
        chan, err = ltt_relay_open_debugfs(k, f"conf{self.runs}", self.subbuf, self.n_subbufs,
                                           self.backend,
                                           extra_subbufs=extra_subbufs(self.era, self.mode))
        assert chan is not None, err
        self.opened.append((k, chan))
        rbc = rb_channel(k, chan, get_layer(self.layer), self.mode, self.scope, history=True,
                         era=self.era)
        cpus = sorted({c for c, _, _, _ in self.writers})
        for cpu in cpus if self.scope == Scope.PER_CPU else cpus[:1]:
            rbc.add_buf(cpu)
        self.rbc, self.k = rbc, k
        self.read = {id(rb): [] for rb in rbc.bufs.values()}    # (fields, records)
        self.written = {}                                       # (writer, i) -> payload
        self._declare_writers(world)
        if self.reader_cpu is not None:
            world.task(self.reader_cpu, self._reader, name="consumer")
        return self

    def _declare_writers(self, world):
        for w, (cpu, kind, n, size) in enumerate(self.writers):
            rb = self.rbc.buf_for(cpu)
            fn = self._writer(rb, w, n, size)
            if kind is TASK:
                world.task(cpu, fn, name=f"writer{w}")
            else:
                world.irq(cpu, fn, name=f"writer{w}", kind=kind)

    def _writer(self, rb, w, n, size):
        layer = self.rbc.layer

        def writer():
            for i in range(n):
                data = payload(w, i, size)
                self.written[(w, i)] = data
                yield from layer.write(rb, data, event_id=w)
        return writer

    def _reader(self):
        for _ in range(self.reader_tries):
            for rb in list(self.rbc.bufs.values()):
                c = yield from self.rbc.get_subbuf(rb)
                if c == -EAGAIN:
                    continue
                assert c >= 0, c
                packet = self.read_packet(rb, c)
                ret = yield from self.rbc.put_subbuf(rb, c)
                self._took(rb, packet, ret)

    def _took(self, rb, packet, ret):
        """A packet read, and what its put said: kept if 0; dropped if -EIO in
        era 2009 (a writer pushed the reader: its records count as overrun)."""
        if ret == 0:
            self.read[id(rb)].append(packet)
        else:
            assert ret == -EIO and self.era is Era.V2009, ret

    def read_packet(self, rb, c):
        """(header, [(tsc, event id, payload)]) of the held packet at c (a
        scenario whose records have another header reads them its way)."""
        return read_packet(rb, c)

    def close(self):
        for k, chan in self.opened:
            ltt_relay_close(chan)
        self.opened = []

    # --- invariants ----------------------------------------------------------------
    def check(self, state, final):
        for rb in self.rbc.bufs.values():
            msg = check_buffer(rb)
            if msg:
                return msg
        if final:
            for rb in self.rbc.bufs.values():
                msg = check_newest_kept(rb, {h.packet_seq_num for h, _ in self.read[id(rb)]})
                if msg:
                    return msg
            return self.check_end()
        return None

    def check_end(self):
        k = self.k
        with k.on_cpu(k.boot_cpu):
            for rb in self.rbc.bufs.values():
                self.rbc.layer.flush__straight(rb, SwitchMode.FLUSH)
                while True:
                    c = self.rbc.get_subbuf__straight(rb)
                    if c < 0:
                        break
                    packet = self.read_packet(rb, c)
                    self._took(rb, packet, self.rbc.put_subbuf__straight(rb, c))
        seen = {}
        for rb in self.rbc.bufs.values():
            msg = check_buffer(rb)
            if msg:
                return msg
            packets = self.read[id(rb)]
            n_read = 0
            last_end = 0
            seqs = [h.packet_seq_num for h, _ in packets]
            if len(seqs) != len(set(seqs)):
                return f"a packet was read twice: {seqs}"
            for h, records in sorted(packets, key=lambda p: p[0].packet_seq_num):
                ts_begin, ts_end, seq = h.timestamp_begin, h.timestamp_end, h.packet_seq_num
                if ts_begin < last_end or ts_end < ts_begin:
                    return f"packet {seq} spans {ts_begin}..{ts_end} after one ending {last_end}"
                last_end = ts_end
                for tsc, eid, data in records:
                    if not ts_begin <= tsc <= ts_end:
                        return f"record at {tsc} outside packet {seq} ({ts_begin}..{ts_end})"
                    key = PAYLOAD.unpack_from(data)
                    if self.written.get(key) != data:
                        return f"record {key} of packet {seq} is not what was written"
                    if key in seen:
                        return f"record {key} read twice"
                    seen[key] = True
                    n_read += 1
            lost = (rb.records_lost_full.counter + rb.records_lost_wrap.counter +
                    rb.records_lost_big.counter + rb.records_overrun.counter +
                    rb.events_lost.counter)
            if rb.book.produced != n_read + lost:
                return (f"buffer {rb.cpu}: {rb.book.produced} records produced, {n_read} read "
                        f"+ {lost} lost")
            msg = check_causes(rb, n_read)
            if msg:
                return msg
        return None


def check_causes(rb, n_read):
    """Each loss counted by its cause, once (at the end, after a drain): no
    record lost full in overwrite mode, none overrun in discard mode, no torn
    packet but in 2009's overwrite mode; in 2.x every record delivered is
    counted once, read (at its put) or overrun (when its sub-buffer is
    delivered again)."""
    name = "global" if rb.cpu is None else f"cpu{rb.cpu}"
    overwrite = rb.rbc.mode is Mode.OVERWRITE
    if overwrite and rb.records_lost_full.counter:
        return f"buffer {name}: {rb.records_lost_full.counter} records lost full in overwrite mode"
    if not overwrite and rb.records_overrun.counter:
        return f"buffer {name}: {rb.records_overrun.counter} records overrun in discard mode"
    if (rb.v2 or not overwrite) and rb.corrupted_subbuffers.counter:
        return f"buffer {name}: a torn packet where the reader cannot be written over"
    if rb.v2:
        read = rb.bufb.records_read
        if read != n_read:
            return f"buffer {name}: records_read {read}, but {n_read} records were read"
        if rb.records_count.counter != read + rb.records_overrun.counter:
            return (f"buffer {name}: records_count {rb.records_count.counter} != read {read} "
                    f"+ overrun {rb.records_overrun.counter}")
    return None


def check_newest_kept(rb, read_seqs):
    """In overwrite mode, once the contexts are done: the newest packet
    delivered was read, or consumed has not passed it (the reader can get
    it).  A writer pushes consumed past a sub-buffer only when it enters the
    one a whole buffer ahead, leaving a newer packet, delivered once its
    commits are done, between the two; with a single sub-buffer there is
    none between (5140d2b3)."""
    if rb.rbc.mode is not Mode.OVERWRITE or rb.reader_held is not None \
            or not rb.book.delivered:
        return None
    newest = max(seq for seq, *_ in rb.book.delivered)
    S = rb.rbc.subbuf_size
    consumed = rb.consumed.counter
    if consumed // S > newest and newest not in read_seqs:
        return (f"packet {newest}, the newest delivered, was overwritten unread "
                f"(consumed {consumed}) before a newer one was delivered")
    return None


def check_buffer(rb):
    """The step invariants of one buffer; a message, or None."""
    book = rb.book
    if not book.history:
        return "the buffer keeps no history to check (rb_channel(..., history=True))"
    ids = rb.bufb.ids()                 # the table: a permutation of 0..n (n - 1 without a spare)
    if sorted(ids) != list(range(len(ids))):
        return f"the sub-buffer table {ids} (writers', then the reader's) is not a permutation"
    spans = sorted((b, e) for b, e, _ in book.reserved)
    for (b0, e0), (b1, e1) in zip(spans, spans[1:]):
        if b1 < e0:
            return f"reservations overlap: [{b0}, {e0}) and [{b1}, {e1})"
    S = rb.rbc.subbuf_size
    for seq, ts_begin, ts_end, disc, data_size in book.delivered:
        mine = [(b, e, d) for b, e, d in book.reserved if seq * S <= b < (seq + 1) * S]
        used = sum(e - b for b, e, _ in mine)
        last = max((d for _, _, d in mine), default=seq * S + HDR) - seq * S
        if data_size == CONTEXT_END and not mine:
            continue                        # a packet with no record
        if HDR + used != data_size or data_size != last:         # (records packed)
            return (f"packet {seq} delivered with {data_size} bytes of content, but "
                    f"{HDR + used} were reserved in it, the last record ending at {last}")
    discs = [d[3] for d in sorted(book.delivered)]
    if discs != sorted(discs):
        return f"events discarded go down between packets: {discs}"
    if book.spurious_wrap:
        return (f"{book.spurious_wrap} record(s) dropped for a nested wrap-around with no "
                "reservation in the way")
    return None


class RemoteFlush(LayerScenario):
    """5e391252: CPU 1 flushes CPU 0's buffer while CPU 0 writes."""

    def __init__(self):
        super().__init__("pagelist", "lockless", Mode.DISCARD,
                         writers=[(0, TASK, 2, 200)], reader_cpu=None, era=Era.V2009)

    def setup(self, world):
        super().setup(world)
        world.task(1, lib_ring_buffer_switch_remote, self.rbc.buf_for(0), name="flush")
        return self


class WrapCheck(LayerScenario):
    """0fdec686: a task starts its reserve at a sub-buffer boundary; an
    interrupt fills that whole sub-buffer meanwhile."""

    def __init__(self):
        super().__init__("pagelist", "lockless", Mode.DISCARD,
                         writers=[(0, TASK, 1, 100), (0, HARDIRQ, 1, 4096 - HDR - REC)],
                         reader_cpu=None, era=Era.V2009)


class DiscardSample(LayerScenario):
    """b2cf5e0b: an interrupt closes the task's packet, fills the next one, and
    loses a record before the task commits."""

    def __init__(self):
        super().__init__("pagelist", "lockless", Mode.DISCARD,
                         writers=[(0, TASK, 1, 100), (0, HARDIRQ, 2, 4096 - HDR - REC)],
                         reader_cpu=None, era=Era.V2009)


class TsEnd(LayerScenario):
    """635e457c / 2485a430: a task's record is in flight in packet 0 when an
    interrupt closes it and writes into packet 1; the task's commit delivers
    packet 0 last.  Its timestamp_end must be the closing reservation's, not
    the delivery's, or it overlaps packet 1 ("packets follow each other in
    time" at the end)."""

    def __init__(self):
        super().__init__("pagelist", "lockless", Mode.DISCARD,
                         writers=[(0, TASK, 1, 100), (0, HARDIRQ, 2, 4096 - HDR - REC)],
                         reader_cpu=None, era=Era.V2009)


class RemoteSwitchMode(LayerScenario):
    """9dded431: CPU 1 writes a record; CPU 0 stops the buffer with a final
    flush (SwitchMode.FLUSH), which runs on CPU 1 by IPI.  Once it ran, the
    buffer must be finalized (nothing was lost, so nothing is left untold)."""

    def __init__(self):
        super().__init__("pagelist", "lockless", Mode.DISCARD,
                         writers=[(1, TASK, 1, 200)], reader_cpu=None, era=Era.V2009)
        self.flushed = False

    def setup(self, world):
        super().setup(world)
        self.flushed = False
        world.task(0, self._stop, name="stop")
        return self

    def _stop(self):
        yield from lib_ring_buffer_switch_remote(self.rbc.buf_for(1), SwitchMode.FLUSH)
        self.flushed = True

    def check(self, state, final):
        if final and self.flushed and not self.rbc.buf_for(1).finalized:
            return "a final flush from CPU 0 ran on CPU 1 but left the buffer open"
        return super().check(state, final)


class OneSubbuf(LayerScenario):
    """5140d2b3: an overwrite buffer of one sub-buffer, if the kernel accepts it
    (check_geometry; with the fix, two, the fewest LTTng allows).  A task
    writes a record, flushes (the switch timer's work), writes another; a
    reader on CPU 2 tries to take packets meanwhile.  With one sub-buffer
    the second record pushes consumed past the packet the flush delivered,
    and nothing newer is delivered: unless the reader came in between, the
    flight recorder keeps nothing ("the newest packet delivered is read, or
    the reader can still get it", at the end)."""

    def __init__(self):
        super().__init__("pagelist", "lockless", Mode.OVERWRITE,
                         writers=[(0, TASK, 2, 1000)], reader_tries=2, era=Era.V2)

    def setup(self, world):
        one = SimpleNamespace(k=world.k, n_subbufs=1, subbuf_size=self.subbuf)
        self.n_subbufs = 1 if check_geometry(one, self.mode, self.scope) is None else 2
        return super().setup(world)

    def _writer(self, rb, w, n, size):
        layer = self.rbc.layer

        def writer():
            for i in range(n):
                if i:
                    yield from layer.flush(rb, SwitchMode.ACTIVE)
                data = payload(w, i, size)
                self.written[(w, i)] = data
                yield from layer.write(rb, data, event_id=w)
        return writer


class CommitSeq(LayerScenario):
    """7915e163: what a crash reader relies on, commit_hot[idx].seq (LTTng's
    RING_BUFFER_OOPS_CONSISTENCY; kmodel's pmem region stores it).  A task
    on CPU 0 writes three records into one sub-buffer and an irq on CPU 0
    writes two, so a record can be reserved before the irq's and committed
    after them.  Checked after every step, in the sub-buffer the newest
    reservation is in (its current lap):

    - safety: in a partial packet, the bytes from the header to seq are
      whole records that were written (what a crash reader decodes: seq never
      passes a reservation still open, whose bytes are zeroes or a part of
      its record);
    - progress: when no reservation in it is open and the last commit into it
      was the one that ends where its reservations end (a commit in order),
      seq equals the commit count.  A commit out of order (the task's, after
      the irq's) leaves seq behind, as LTTng's does, until the next commit in
      order.

    With the erratum, the commit path passes the record's end plus its slot
    size: seq stays at the header's commit, and the first record written
    breaks the progress rule."""

    def __init__(self):
        super().__init__("pagelist", "lockless", Mode.DISCARD,
                         writers=[(0, TASK, 3, 200), (0, HARDIRQ, 2, 200)],
                         reader_cpu=None, era=Era.V2)

    def setup(self, world):
        super().setup(world)
        self.open = {}          # id(rb) -> the reservations open at the last check
        self.last_end = {}      # (id(rb), sub-buffer start) -> where its last commit ended
        return self

    def check(self, state, final):
        for rb in self.rbc.bufs.values():
            msg = self.check_seq(rb)
            if msg:
                return msg
        return super().check(state, final)

    def check_seq(self, rb):
        S = self.rbc.subbuf_size
        inflight = rb.book.inflight
        for slot, end in self.open.get(id(rb), {}).items():
            if slot not in inflight:            # committed since the last check
                self.last_end[(id(rb), slot & ~(S - 1))] = end
        self.open[id(rb)] = dict(inflight)
        off = rb.offset.counter
        if not off:
            return None
        sb_begin = (off - 1) & ~(S - 1)
        idx = (sb_begin // S) % self.rbc.n_subbufs
        base = (sb_begin // self.rbc.alloc_size) * S
        reserved = min(off - sb_begin, S)
        pending = [s - sb_begin for s in inflight if sb_begin <= s < sb_begin + S]
        in_order = min(pending) if pending else reserved
        hot = rb.commit_hot[idx]
        seq, cc = hot.seq.counter - base, hot.cc.counter - base
        if HDR < seq < S:
            msg = self.check_decodable(rb, sb_begin, seq)
            if msg:
                return (f"commit_hot[{idx}].seq says {seq} bytes of packet {sb_begin // S} "
                        f"are committed, but {msg}: a crash reader would decode it")
        if not pending and self.last_end.get((id(rb), sb_begin)) == sb_begin + reserved \
                and seq != cc:
            return (f"commit_hot[{idx}].seq says {seq} bytes of packet {sb_begin // S} are "
                    f"committed, but all {cc} are, the last in order: a crash dump loses "
                    f"the rest")
        return None

    def check_decodable(self, rb, sb_begin, seq):
        """What a crash reader decodes of a partial packet, the records from
        the header to seq: each a record written, whole (a reservation still
        open holds zeroes or a part of its record); a message, or None."""
        sb = bytearray(seq)
        ltt_relay_read(rb.rbuf, rb.bufb.write_offset(sb_begin), sb, seq)
        pos = HDR
        while pos < seq:
            if seq - pos < REC:
                return f"{seq - pos} bytes at {pos} are no record"
            n = unpack_record_header(sb, pos).payload_size
            data = bytes(sb[pos + REC:pos + REC + n])
            key = PAYLOAD.unpack_from(data) if len(data) >= PAYLOAD.size else None
            if pos + record_size(n) > seq or self.written.get(key) != data:
                return f"the bytes at {pos} are no record written"
            pos += record_size(n)
        return None


# name -> (scenario, the option that restores its bug, what it shows).  The
# three bugs' scenarios pin era 2009: their transcripts (docs/layers.md,
# docs/tour.md) walk the seed's steps, which 2.x's counters change.
LAYER_RACES = {
    "rb-conformance": (LayerScenario, None,
                       "writers, an irq and a reader on a lockless per-CPU channel"),
    "rb-remote-flush": (RemoteFlush, "CONFIG_KMODEL_RB_ERRATUM_REMOTE_FLUSH",
                        "a flush from another CPU while the owner writes (5e391252)"),
    "rb-wrap-check": (WrapCheck, "CONFIG_KMODEL_RB_ERRATUM_WRAP_CHECK",
                      "a reserve at a boundary, an irq fills the sub-buffer (0fdec686)"),
    "rb-discard-sample": (DiscardSample, "CONFIG_KMODEL_RB_ERRATUM_DISCARD_SAMPLE",
                          "a packet closed, delivered after losses (b2cf5e0b, 4ad4ea4c)"),
    "rb-ts-end": (TsEnd, "CONFIG_KMODEL_RB_ERRATUM_TS_END",
                  "a packet delivered after the next one began (635e457c, 2485a430)"),
    "rb-remote-switch-mode": (RemoteSwitchMode, "CONFIG_KMODEL_RB_ERRATUM_REMOTE_SWITCH_MODE",
                              "a final flush run by IPI as a plain one (9dded431)"),
    "rb-one-subbuf": (OneSubbuf, "CONFIG_KMODEL_RB_ERRATUM_ONE_SUBBUF",
                      "one sub-buffer in overwrite mode: a flush's packet overwritten (5140d2b3)"),
    "rb-commit-seq": (CommitSeq, "CONFIG_KMODEL_RB_ERRATUM_COMMIT_SEQ",
                      "a partial packet's commit sequence, for a crash reader (7915e163)"),
}


def make_layer_race(name):
    """A fresh scenario of the built-in layer race name, or None."""
    entry = LAYER_RACES.get(name)
    if entry is None:
        return None
    cls = entry[0]
    return cls("pagelist", "lockless", Mode.DISCARD) if cls is LayerScenario else cls()
