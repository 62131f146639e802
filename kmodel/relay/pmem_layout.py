"""The pmem region's layout: self-describing, versioned, readable with no kernel.

The ``pmem`` backend (pmem.py) keeps a channel's buffers in the reserve_mem
region, and this file says where everything is, for the kernel that writes
it, the next kernel that finds it at boot, and ``kmodel crash extract``, which
reads the region file of a dead emulator.  All fields are little-endian.

    offset 0            region header (one page), its own CRC32 last
    HEADER_SIZE         slot 0: per-CPU metadata (meta_size), then the CPU's
                        buffer: n_alloc backend sub-buffers of subbuf_size
                        (n_subbufs, and one more, the reader's spare, in an
                        era 2.x overwrite buffer: lib_ring_buffer_backend_allocate's
                        num_subbuf_alloc)
    ... slot_size       slot 1, and so on for every possible CPU

Layout version 4 (this one) adds ``header`` to the region header: the
format of the records' headers (0 kmodel's 16 bytes, 1 LTTng's compact, 2
LTTng's large; event_header.py), so that a reader of the region alone knows
how to walk its records: with kmodel's header by each record's payload size,
with LTTng's by each record's id and the event class it names (the reader
gives the classes: scan_region's measure), as babeltrace2 walks the trace
lttng-crash extracts.  Versions 2 and 3 (kmodel's header) are still read.

Layout version 3 added ``n_alloc`` to the header and, after a
slot's sub-buffer entries, the sub-buffer table (pmem_table.py): the
writers' IDs ``wsb[n_subbufs]`` and the reader's ``rsb``, 8 bytes each, as
LTTng's ``buf_wsb``/``buf_rsb`` (index, noref flag, offset tag).  The
entries below stay by position (sub-buffer ``idx`` of the ring), and the
table says which backend sub-buffer holds a position's bytes.  Version 2
regions (no table, n_subbufs sub-buffers: the identity) are still read.

A slot's metadata is what LTTng's ``RING_BUFFER_OOPS_CONSISTENCY`` keeps for
lttng-crash: the produced and consumed positions, the loss counters, and for
each sub-buffer its commit sequence (``seq``: the ring buffer's
``commit_hot[idx].seq``, the commit count as
``lib_ring_buffer_write_commit_counter`` sets it, only when every byte before
the commit's end is committed; pmem.pmem_commit).  With the packet header's
``packet_seq_num`` it tells a reader how much of the sub-buffer's current lap
is committed: ``seq - lap * subbuf_size`` bytes.  Three checksums, ours, let a
reader tell a damaged sub-buffer from a good one instead of decoding garbage:
``hcrc`` over the packet header's fields that never change after the packet
starts (magic, timestamp_begin, packet_size, packet_seq_num, cpu_id), ``rcrc``
over the committed bytes after the header (grown by each commit, so it costs
the bytes just committed), and ``data_end``, where the records of a complete
sub-buffer end.  Each sub-buffer has two entries of (seq, data_end, hcrc,
rcrc), and a commit overwrites the older one in a single store: a crash in the
middle of it leaves the other whole, and a reader takes the newest entry whose
checksums hold.
"""
import struct
import zlib

from kmodel.relay.event_header import RecordError, header_of
from kmodel.relay.packet import (CONTEXT_END, HDR, NO_CPU, PACKET_MAGIC, REC, record_size,
                                 pack_packet_header, unpack_packet_header,
                                 unpack_record_header)
from kmodel.relay.pmem_table import TABLE_ID, position_subbufs

REGION_MAGIC = 0x4D50_4C45_444F_4D4B          # "KMODELPM", little-endian
FREE_MAGIC = int.from_bytes(b"KMODELFR", "little")  # a region kmodel took, with no trace
LAYOUT_VERSION = 4
READ_VERSIONS = (2, 3, 4)                       # what this kmodel reads
HEADER_SIZE = 4096
# The region header's fields and their formats; the CRC32 of them follows.
# Version 2's are the first twelve; version 3 adds n_alloc, version 4 header.
HEADER_FIELDS_V2 = (("magic", "Q"), ("version", "I"), ("header_size", "I"),
                    ("region_size", "Q"), ("subbuf_size", "I"), ("n_subbufs", "I"),
                    ("nr_cpus", "I"), ("meta_size", "I"), ("slot_size", "Q"),
                    ("data_offset", "Q"), ("boot", "I"), ("name", "32s"))
HEADER_FIELDS_V3 = HEADER_FIELDS_V2 + (("n_alloc", "I"),)
HEADER_FIELDS = HEADER_FIELDS_V3 + (("header", "I"),)
HEADER_KINDS = ("kmodel", "compact", "large")   # the header field's values, by name
FIELDS = tuple(name for name, _ in HEADER_FIELDS)
REGION_HEADER = struct.Struct("<" + "".join(code for _, code in HEADER_FIELDS))
REGION_HEADER_V2 = struct.Struct("<" + "".join(code for _, code in HEADER_FIELDS_V2))
REGION_HEADER_V3 = struct.Struct("<" + "".join(code for _, code in HEADER_FIELDS_V3))
OFFSETS = {name: struct.calcsize("<" + "".join(code for _, code in HEADER_FIELDS[:i]))
           for i, (name, _) in enumerate(HEADER_FIELDS)}
OFFSETS["crc"] = REGION_HEADER.size
CRC = struct.Struct("<I")
META_MAGIC = 0x4350_4D50                       # "PMPC"
META_HEAD = struct.Struct("<IIQQQQQQ")          # magic, cpu, produced, consumed,
                                                # lost_full, lost_wrap, lost_big, overrun
SB_META = struct.Struct("<QIIII")               # seq, data_end, hcrc, rcrc, ecrc: an entry
ECRC_AT = 20                                    # the offset of ecrc in an entry
END_FIELDS = struct.Struct("<QQQ")              # timestamp_end, content_size,
                                                # events_discarded: what ecrc covers
ENTRIES = 2                                     # per sub-buffer, written in turn


# The most buffer bytes a region holds (every slot's sub-buffers): what the
# emulator allocates at most, its pages being real host memory.  The pmem
# backend formats no region for more, and a reader refuses a header that
# claims more before it looks at a slot (a forged header of a sparse 139 GB
# file is refused in microseconds, not scanned for minutes).
MAX_BUFFER_BYTES = 1 << 30
MAX_SLOTS = 4096                                # nr_cpus, at most


class PmemLayoutError(ValueError):
    """A region that cannot be read: the message names the field and its offset."""


def table_at(n_subbufs):
    """Where a slot's sub-buffer table starts in its metadata (version 3):
    wsb[0..n_subbufs-1], then rsb."""
    return META_HEAD.size + SB_META.size * ENTRIES * n_subbufs


def meta_size(n_subbufs, version=LAYOUT_VERSION):
    """The bytes of one slot's metadata, rounded up to a page."""
    table = TABLE_ID.size * (n_subbufs + 1) if version >= 3 else 0
    return (table_at(n_subbufs) + table + 4095) & ~4095


def geometry(subbuf_size, n_subbufs, nr_cpus, n_alloc=None, version=LAYOUT_VERSION):
    """(meta_size, slot_size, bytes needed) of a region for this channel;
    n_alloc: backend sub-buffers a CPU (n_subbufs, or one more for a spare)."""
    ms = meta_size(n_subbufs, version)
    slot = ms + subbuf_size * (n_subbufs if n_alloc is None else n_alloc)
    return ms, slot, HEADER_SIZE + slot * nr_cpus


def pack_header(region_size, subbuf_size, n_subbufs, nr_cpus, boot, name, n_alloc=None,
                header="kmodel"):
    """pack_header - the region header's bytes, its CRC32 last; header: the
    records' header format (HEADER_KINDS)."""
    n_alloc = n_subbufs if n_alloc is None else n_alloc
    ms, slot, _ = geometry(subbuf_size, n_subbufs, nr_cpus, n_alloc)
    body = REGION_HEADER.pack(REGION_MAGIC, LAYOUT_VERSION, HEADER_SIZE, region_size,
                              subbuf_size, n_subbufs, nr_cpus, ms, slot, HEADER_SIZE, boot,
                              name.encode()[:32], n_alloc, HEADER_KINDS.index(header))
    return body + CRC.pack(zlib.crc32(body))


def immutable_crc(header):
    """hcrc: the CRC32 of a packet header's fields that never change once the
    packet started (magic, timestamp_begin, packet_size, packet_seq_num, cpu_id)."""
    h = unpack_packet_header(header)
    return zlib.crc32(struct.pack("<IQQQI", h.magic, h.timestamp_begin, h.packet_size,
                                  h.packet_seq_num, h.cpu_id))


# --- the writer's side -------------------------------------------------------------
def format_slot(view, slot_off, cpu, n_subbufs):
    """A fresh slot's metadata: its magic and CPU, everything else zero."""
    ms = meta_size(n_subbufs)
    view[slot_off:slot_off + ms] = bytes(ms)
    META_HEAD.pack_into(view, slot_off, META_MAGIC, cpu, 0, 0, 0, 0, 0, 0)


def entries(meta, idx):
    """The sub-buffer's two metadata entries, newest (highest seq) first:
    ((offset, (seq, data_end, hcrc, rcrc, ecrc)), (offset, ...))."""
    at = META_HEAD.size + idx * ENTRIES * SB_META.size
    a = SB_META.unpack_from(meta, at)
    b = SB_META.unpack_from(meta, at + SB_META.size)
    return ((at, a), (at + SB_META.size, b)) if a[0] >= b[0] else \
        ((at + SB_META.size, b), (at, a))


def persist_commit(meta, data, idx, lap, subbuf_size, committed, data_end, counters):
    """After a commit that left every byte before it committed: extend the
    sub-buffer's record checksum over the newly committed bytes, and store the
    new entry (commit sequence, data end, checksums) in one store over the
    older of the sub-buffer's two entries.  A crash in the middle of that store
    leaves the newer entry whole: the reader takes the newest entry whose
    checksums hold.  meta is the slot's metadata view, data the sub-buffer's
    view; committed is the bytes of this lap now committed."""
    (_, (seq, _end, hcrc, rcrc, _ecrc)), (older, _) = entries(meta, idx)
    base = lap * subbuf_size
    if seq < base + HDR:                        # this lap's first: start the checksums
        hcrc, rcrc, start = immutable_crc(data[:HDR]), 0, HDR
    else:
        start = seq - base
    if committed > start:
        rcrc = zlib.crc32(data[start:committed], rcrc)
    persist_counters(meta, counters)
    SB_META.pack_into(meta, older, base + committed,
                      data_end if committed == subbuf_size else 0, hcrc, rcrc, 0)


def end_crc(timestamp_end, content_size, events_discarded):
    """ecrc: the CRC32 of the end fields a delivery writes in a packet header."""
    return zlib.crc32(END_FIELDS.pack(timestamp_end, content_size, events_discarded))


def persist_deliver(meta, idx, header):
    """Before a delivery writes the packet's end fields: the checksum of those
    fields, in the newest entry (the complete lap's), one 4-byte store.  Stored
    first, so that a crash between the two leaves a header not yet delivered
    (content_size 0), which the reader rebuilds, never end fields that look
    damaged."""
    (newest, _), _ = entries(meta, idx)
    struct.pack_into("<I", meta, newest + ECRC_AT,
                     end_crc(header.timestamp_end, header.content_size,
                             header.events_discarded))


def persist_counters(meta, counters):
    """After a loss or a consume: the slot's counters (cpu, produced, consumed,
    the four loss counters), one store of the slot's head."""
    META_HEAD.pack_into(meta, 0, META_MAGIC, *counters)


# --- the reader's side -------------------------------------------------------------
def free_header() -> bytes:
    """free_header - the header page of a region kmodel took that holds no
    trace: FREE_MAGIC, then zeroes.  Written when a file is taken (new, or
    --pmem-format), when a region is cleared, wiped, or about to be formatted:
    a region file always says it is kmodel's, so that kmodel never takes a
    user's file for one (a page of zeroes is not proof)."""
    return FREE_MAGIC.to_bytes(8, "little") + bytes(HEADER_SIZE - 8)


def region_magic(first_page) -> int | None:
    """region_magic - REGION_MAGIC or FREE_MAGIC if first_page begins with one, else None."""
    if len(first_page) < 8:
        return None
    magic = int.from_bytes(first_page[:8], "little")
    return magic if magic in (REGION_MAGIC, FREE_MAGIC) else None


def foreign_region(first_page: bytes) -> str | None:
    """foreign_region - why a host file whose first page is first_page is not
    a region kmodel made, or None if it is one (a region's or a free region's
    magic) or an empty file (a new one)."""
    if not first_page or region_magic(first_page) is not None:
        return None
    if not any(first_page[:HEADER_SIZE]):
        return (f"its first {min(len(first_page), HEADER_SIZE)} bytes are zeroes, and a "
                "region kmodel made begins with its magic")
    return (f"its first bytes ({bytes(first_page[:8]).hex()}) are not a kmodel region's "
            f"header ({REGION_MAGIC.to_bytes(8, 'little').hex()})")


def unpack_header(data):
    """unpack_header - {field: value} of a region header; PmemLayoutError names
    the first field that is wrong and its offset."""
    if len(data) < HEADER_SIZE:
        raise PmemLayoutError(f"the region is {len(data)} bytes: shorter than its header "
                              f"({HEADER_SIZE})")
    values = dict(zip(FIELDS, REGION_HEADER.unpack_from(data)))

    def bad(field, why):
        raise PmemLayoutError(f"header field {field} at offset {OFFSETS[field]:#x}: {why}")

    if values["magic"] == FREE_MAGIC:
        bad("magic", "a free region: kmodel took this file, and no channel wrote a trace "
                     "in it (or it was cleared)")
    if values["magic"] != REGION_MAGIC:
        bad("magic", f"{values['magic']:#x} is not {REGION_MAGIC:#x} (not a kmodel pmem "
                     f"region, or never formatted)")
    version = values["version"]
    if version not in READ_VERSIONS:            # before the CRC: another version may
        bad("version", f"layout version {version}; this kmodel reads "  # lay it out otherwise
                       f"{', '.join(map(str, READ_VERSIONS[:-1]))} and {READ_VERSIONS[-1]}")
    form = {2: REGION_HEADER_V2, 3: REGION_HEADER_V3}.get(version, REGION_HEADER)
    if version < 4:                             # kmodel's record header
        values = dict(zip(FIELDS, form.unpack_from(data)), header=0)
    if version < 3:                             # no table: the identity, n sub-buffers
        values["n_alloc"] = values["n_subbufs"]
    crc, = CRC.unpack_from(data, form.size)
    if zlib.crc32(data[:form.size]) != crc:
        bad("crc", "the header's checksum does not match (the header is damaged)")
    if values["header_size"] != HEADER_SIZE or values["data_offset"] != HEADER_SIZE:
        bad("header_size", f"{values['header_size']}: expected {HEADER_SIZE}")
    S, n = values["subbuf_size"], values["n_subbufs"]
    if S < 4096 or S & (S - 1):
        bad("subbuf_size", f"{S} is not a power of two of at least a page")
    if not 1 <= n <= 1 << 16 or n & (n - 1):
        bad("n_subbufs", f"{n} is not a power of two in 1..65536")
    if not 1 <= values["nr_cpus"] <= MAX_SLOTS:
        bad("nr_cpus", f"{values['nr_cpus']} is not in 1..{MAX_SLOTS}")
    n_alloc = values["n_alloc"]
    if n_alloc not in (n, n + 1):
        bad("n_alloc", f"{n_alloc}: a buffer of {n} sub-buffers allocates {n} or {n + 1}")
    if S * n_alloc * values["nr_cpus"] > MAX_BUFFER_BYTES:
        bad("nr_cpus", f"{values['nr_cpus']} slots of {n_alloc} x {S} bytes: more than the "
                       f"{MAX_BUFFER_BYTES >> 20} MiB of buffers kmodel writes in a region")
    ms, slot, need = geometry(S, n, values["nr_cpus"], n_alloc, version)
    if values["meta_size"] != ms:
        bad("meta_size", f"{values['meta_size']}: {n} sub-buffers need {ms}")
    if values["slot_size"] != slot:
        bad("slot_size", f"{values['slot_size']}: expected {slot}")
    if values["region_size"] < need:
        bad("region_size", f"{values['region_size']} bytes cannot hold {values['nr_cpus']} "
                           f"slots ({need} bytes)")
    if values["region_size"] > len(data):
        bad("region_size", f"{values['region_size']} bytes, but the region file has "
                           f"{len(data)} (truncated)")
    if values["header"] >= len(HEADER_KINDS):
        bad("header", f"{values['header']} is no record header format (0 kmodel, 1 compact, "
                      "2 large)")
    values["header"] = HEADER_KINDS[values["header"]]
    values["name"] = values["name"].rstrip(b"\0").decode("utf-8", "replace")
    return values


class Packet:
    """One sub-buffer recovered: its header (fixed up) and its body, a view of
    the region (not a copy: a large region is written out a packet at a time,
    crash.py), and what it holds: its record count and event ids; the records
    themselves are decoded from the view when asked for."""
    __slots__ = ("cpu", "seq", "head", "body", "offset", "n_records", "ids", "complete",
                 "discarded", "walk")

    def __init__(self, cpu, seq, head, body, offset, n_records, ids, complete, discarded,
                 walk=None):
        self.cpu, self.seq, self.head, self.body = cpu, seq, head, body
        self.offset = offset            # of the sub-buffer in the region
        self.n_records, self.ids = n_records, ids   # (None, frozenset()): not walked
        self.complete, self.discarded = complete, discarded
        self.walk = walk                # (EventHeader, length_of) with LTTng's header

    @property
    def data(self):
        """The packet's bytes, as a stream file holds them."""
        return self.head + bytes(self.body)

    @property
    def records(self):
        """[(timestamp, event id, payload bytes)] of its records, in order
        ([] if they were not walked)."""
        ph = unpack_packet_header(self.head)
        out, pos, end = [], 0, ph.content_size // 8 - HDR
        if self.walk is not None:
            fmt, length_of = self.walk
            return [(ts, eid, bytes(self.body[p:p + n])) for _, eid, ts, p, n in
                    fmt.walk(self.body, 0, end, length_of, ph.timestamp_begin)]
        if self.n_records is None:
            return out
        while pos < end:
            r = unpack_record_header(self.body, pos)
            out.append((r.timestamp, r.id, bytes(self.body[pos + REC:pos + REC +
                                                           r.payload_size])))
            pos += record_size(r.payload_size)
        return out


class Scan:
    """What a region holds: the header, packets per CPU in order, and what was
    dropped (reason -> count) or lost (the loss counters of each slot)."""

    def __init__(self, header):
        self.header = header
        self.packets = {}               # cpu -> [Packet], by packet_seq_num
        self.dropped = {}               # reason -> sub-buffers
        self.lost = {}                  # cpu -> (full, wrap, big, overrun)
        self.slots_bad = {}             # cpu -> reason
        self.damaged = {}               # what was found damaged and reported -> count
        self.consumed = 0               # sub-buffers a consumer had already read
        self.walk = None                # (EventHeader, length_of): LTTng's records walked

    def drop(self, why):
        self.dropped[why] = self.dropped.get(why, 0) + 1

    @property
    def records(self):
        """The records of every packet, or None if they were not walked (LTTng's
        header, and no event classes given: scan_region's measure)."""
        counts = [p.n_records for ps in self.packets.values() for p in ps]
        return None if None in counts else sum(counts)


def _vouched(sb, ents, lap, S):
    """(bytes committed in this lap, data end) from the newest entry whose
    checksums hold; (None, None) if the lap has nothing committed yet; (reason,
    None) if no entry holds."""
    why = None
    for _, (seq, data_end, hcrc, rcrc, _ecrc) in ents:
        committed = seq - lap * S
        if committed <= 0:                      # (older entries are older still)
            return (None, None) if why is None else (why, None)
        if committed < HDR or committed > S:
            why = why or "commit sequence"
        elif immutable_crc(sb[:HDR]) != hcrc:
            why = why or "packet header checksum"
        elif zlib.crc32(sb[HDR:committed]) != rcrc:
            why = why or "record checksum"
        else:
            return committed, data_end
    return why, None


def scan_region(data, release=None, measure=None):
    """scan_region - every sub-buffer of a region that its metadata vouches for.

    A complete sub-buffer is kept whole; a partial one is cut at its last
    committed record, its content and packet size fixed up.  A sub-buffer
    whose checksums or bounds do not hold is dropped and counted by reason:
    no record is decoded from bytes the metadata does not vouch for.  Damage
    is reported, never silent (pstore's rule): a delivered packet's end fields
    that fail their checksum are rebuilt from its records and reported; a
    slot whose metadata is zeroed while its buffer holds packets, and a slot
    past the header's count that holds metadata, are reported.
    release(offset, length), if given, is told when a slot's bytes have been
    looked at (crash.py lets the host drop those pages: a region is read a
    slot at a time, not whole).

    Records with kmodel's header are walked by their payload sizes; with
    LTTng's, by their event classes: measure(header kind) gives length_of
    (EventHeader.walk), and a record it has no class for, one that runs past
    the committed end, or a 64-bit timestamp that goes back drops its
    sub-buffer, counted by that reason.  With no measure (the kernel's check
    at boot, which knows no event class), LTTng's records are vouched for by
    the checksums alone and not walked (Packet.n_records None)."""
    data = memoryview(data)
    h = unpack_header(data)
    scan = Scan(h)
    fmt = header_of(h["header"])
    scan.walk = None if fmt is None or measure is None else (fmt, measure(h["header"]))
    for cpu in range(h["nr_cpus"]):
        _scan_slot(data, h, cpu, scan)
        if release is not None:
            release(HEADER_SIZE + cpu * h["slot_size"], h["slot_size"])
    _look_past_the_slots(data, h, scan)
    return scan


def _scan_slot(data, h, cpu, scan):
    """The packets of one CPU's slot (or of the global buffer that lives in it)."""
    S, n = h["subbuf_size"], h["n_subbufs"]
    slot = HEADER_SIZE + cpu * h["slot_size"]
    meta = data[slot:slot + h["meta_size"]]
    buf = data[slot + h["meta_size"]:slot + h["meta_size"] + S * h["n_alloc"]]
    magic, mcpu, produced, consumed, *lost = META_HEAD.unpack_from(meta)
    if magic == 0 and mcpu == 0 and produced == 0:
        if any(unpack_packet_header(buf, i * S).magic == PACKET_MAGIC
               for i in range(h["n_alloc"])):
            scan.slots_bad[cpu] = (f"slot {cpu} metadata at offset {slot:#x} is zeroed, but "
                                   "its buffer holds packets: not vouched for")
        return                                  # else a slot no buffer ever used
    if magic != META_MAGIC or mcpu != cpu:
        scan.slots_bad[cpu] = (f"slot {cpu} metadata at offset {slot:#x}: bad magic "
                               f"or CPU ({magic:#x}, cpu {mcpu})")
        return
    where = position_subbufs(h, meta, table_at(n), buf)
    if isinstance(where, str):
        scan.slots_bad[cpu] = f"slot {cpu} metadata at offset {slot:#x}: bad {where}"
        return
    got = []
    for idx, b in enumerate(where):             # position idx is in backend sub-buffer b
        p = _recover(buf[b * S:(b + 1) * S], entries(meta, idx), idx, cpu, h, lost,
                     consumed, scan, slot + h["meta_size"] + b * S)
        if p is not None:
            got.append(p)
    key = None if got and all(p.cpu is None for p in got) else cpu
    scan.lost[key] = tuple(lost)
    got.sort(key=lambda p: p.seq)
    if got:
        scan.packets[key] = got


def _recover(sb, ents, idx, cpu, h, lost, consumed, scan, offset):
    """The Packet sub-buffer sb (at offset in the region) holds, or None (never
    written, consumed, or dropped and counted by reason)."""
    S, n = h["subbuf_size"], h["n_subbufs"]
    ph = unpack_packet_header(sb)
    if ph.magic == 0 and ents[0][1][0] == 0:
        return None                             # never written
    if ph.magic != PACKET_MAGIC:
        scan.drop("packet magic")
        return None
    pseq = ph.packet_seq_num
    if pseq % n != idx or ph.cpu_id not in (cpu, NO_CPU) or ph.packet_size != S * 8:
        scan.drop("packet header fields")
        return None
    committed, data_end = _vouched(sb, ents, pseq // n, S)
    if committed is None:
        return None                             # the lap started; nothing committed yet
    if isinstance(committed, str):
        scan.drop(committed)
        return None
    complete = committed == S
    delivered = complete and ph.content_size != 0
    end = data_end if complete else committed
    if complete and (not CONTEXT_END <= end <= S or ph.content_size not in (0, end * 8)):
        scan.drop("content size")
        return None
    n_records, ids, pos, last_ts, content = 0, set(), HDR, ph.timestamp_begin, CONTEXT_END
    if h["header"] != "kmodel":
        if scan.walk is None:                   # (not walked: vouched for by the checksums)
            n_records, ids, content, pos = None, frozenset(), end, end
        else:
            fmt, length_of = scan.walk
            try:
                for _, eid, last_ts, p, n in fmt.walk(sb, HDR, end, length_of,
                                                      ph.timestamp_begin, ordered=True):
                    n_records += 1
                    ids.add(eid)
                    content = pos = p + n
            except RecordError as e:
                scan.drop(e.why)
                return None
    while pos < end:
        if end - pos < REC:
            scan.drop("record bounds")
            return None
        r = unpack_record_header(sb, pos)
        if pos + REC + r.payload_size > end:
            scan.drop("record bounds")
            return None
        n_records += 1
        ids.add(r.id)
        last_ts, content = r.timestamp, pos + REC + r.payload_size
        pos += record_size(r.payload_size)
    if (pseq + 1) * S <= consumed & ~1:
        scan.consumed += 1                      # a consumer read it before the crash
        return None
    if delivered and ents[0][1][4] != end_crc(ph.timestamp_end, ph.content_size,
                                              ph.events_discarded):
        scan.damaged["packet end fields (timestamp_end, events_discarded): rebuilt"] = \
            scan.damaged.get("packet end fields (timestamp_end, events_discarded): rebuilt",
                             0) + 1
        delivered = False
    discarded = ph.events_discarded if delivered else sum(lost[:3])
    packet_bytes = S if complete else end
    head = pack_packet_header(ph._replace(
        timestamp_end=ph.timestamp_end if delivered else last_ts, content_size=content * 8,
        packet_size=packet_bytes * 8, events_discarded=discarded))
    return Packet(None if ph.cpu_id == NO_CPU else cpu, pseq, head, sb[HDR:packet_bytes],
                  offset, n_records, frozenset(ids), complete, discarded, scan.walk)


def _look_past_the_slots(data, h, scan):
    """A header whose counts were damaged (or forged, its CRC made to match)
    would hide slots past its nr_cpus: look for slot metadata there, and
    report a region whose size is not the header's."""
    if h["region_size"] != len(data):
        scan.damaged[f"region is {len(data):,} bytes, the header says "
                     f"{h['region_size']:,}"] = 1
    at = HEADER_SIZE + h["nr_cpus"] * h["slot_size"]
    end = min(len(data), HEADER_SIZE + MAX_SLOTS * h["slot_size"])   # no CPU past those
    while at + META_HEAD.size <= end:
        magic, mcpu = struct.unpack_from("<II", data, at)
        if magic == META_MAGIC:
            scan.damaged[f"slot metadata at offset {at:#x}, past the header's "
                         f"{h['nr_cpus']} slots (cpu {mcpu}): the header's counts are "
                         "wrong; its records are not vouched for"] = 1
        at += h["slot_size"]


def by_cpu(items):
    """(cpu, value) pairs in CPU order, the global buffer's (cpu None) first."""
    return sorted(items, key=lambda kv: -1 if kv[0] is None else kv[0])


def cpu_label(cpu):
    return "global" if cpu is None else f"cpu {cpu}"


def info_text(scan):
    """What a scan found, in the words of the info file and of crash extract."""
    h = scan.header
    spare = " and a reader's spare" if h["n_alloc"] > h["n_subbufs"] else ""
    out = [f"channel {h['name']!r}: {h['nr_cpus']} CPU slots of {h['n_subbufs']} x "
           f"{h['subbuf_size'] >> 10} KiB sub-buffers{spare} (layout version {h['version']}"
           + (f", LTTng's {h['header']} event header" if h["header"] != "kmodel" else "") + ")"]
    for cpu, packets in by_cpu(scan.packets.items()):
        full = sum(p.complete for p in packets)
        counts = [p.n_records for p in packets]
        recs = (f"{sum(counts)} record{'s' if sum(counts) != 1 else ''}" if None not in counts
                else "records not walked (kmodel crash extract walks them by event class)")
        out.append(f"{cpu_label(cpu)}: {len(packets)} packet{'s' if len(packets) != 1 else ''} "
                   f"({full} complete, "
                   f"{len(packets) - full} cut at their last commit), {recs}")
    for cpu, lost in by_cpu(scan.lost.items()):
        full, wrap, big, overrun = lost
        if any(lost):
            out.append(f"{cpu_label(cpu)}: lost while tracing: {full} buffer full, {wrap} "
                       f"wrap-around, {big} too big, {overrun} overwritten")
    for why, n in sorted(scan.dropped.items()):
        out.append(f"dropped: {n} sub-buffer{'s' if n != 1 else ''} ({why})")
    for cpu, why in sorted(scan.slots_bad.items()):
        out.append(f"dropped: {why}")
    for why, n in sorted(scan.damaged.items()):
        out.append(f"damaged: {why}" + (f" ({n} packets)" if n > 1 else ""))
    if scan.consumed:
        out.append(f"skipped: {scan.consumed} sub-buffers a consumer had already read")
    return "".join(line + "\n" for line in out)


def trace_text(scan):
    """The records, one a line, in time order per CPU."""
    out = []
    for cpu, packets in by_cpu(scan.packets.items()):
        for p in packets:
            for ts, eid, payload in p.records:
                shown = (payload.decode() if payload.isascii() and payload.decode().isprintable()
                         else payload[:32].hex() + ("..." if len(payload) > 32 else ""))
                out.append(f"[{ts:>10}] {cpu_label(cpu)} packet {p.seq} id {eid} "
                           f"len {len(payload)}: {shown}\n")
    return "".join(out)
