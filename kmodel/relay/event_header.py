"""Event headers as LTTng writes them: compact and large, with the extended form.

A channel's records start with a header whose format is the channel's
(``rb_channel.header``): None keeps kmodel's own 16 bytes (packet.py:
timestamp, payload size, event id), or one of the two formats of
lttng-modules (src/lttng-ring-buffer-client.h, v2.13.9, record_header_size
and lttng_write_event_header{,_slow}), laid out packed as on x86:

    compact   u32: event id in bits 0-4, the timestamp's low 27 bits in 5-31
              (4 bytes)
    compact,  u8 with id 31 in bits 0-4; u32 event id; u64 timestamp
    extended  (13 bytes)
    large     u16 event id; u32: the timestamp's low 32 bits (6 bytes)
    large,    u16 65535; u32 event id; u64 timestamp (14 bytes)
    extended

A record takes the extended form when its id does not fit (above 30, or
65534), or when the time since the buffer's last record overflows 27 bits:
``(tsc - last_tsc) >> 27`` nonzero (last_tsc_overflow,
include/ringbuffer/frontend_internal.h, on a 64-bit kernel; the client's
``tsc_bits`` is LTTNG_COMPACT_TSC_BITS for both formats).  ``last_tsc`` is
the buffer's, saved after each successful reservation (save_last_tsc) and
reset only when the whole buffer is (lib_ring_buffer_reset), not at a packet
switch.  A reader keeps the clock from the packet's ``timestamp_begin`` and
each header's value updates its low bits, with a carry when they went
backwards (CTF 1.8, section 8).  Both are here: the writer's rule, which the
ring buffer calls while it reserves, and a reader's.

The rflags that LTTng carries from the reservation to the write in its
context travel here in the timestamp the reservation returns: FULL_TSC, its
top bit, says the record was reserved with the extended header's size.
"""
import enum
import struct

__all__ = ["HeaderType", "EventHeader", "HEADERS", "TSC_BITS", "FULL_TSC", "header_of",
           "last_tsc_overflow", "ClockUpdate", "RecordError"]

TSC_BITS = 27                       # LTTNG_COMPACT_TSC_BITS: the client's tsc_bits
COMPACT_EVENT_BITS = 5
FULL_TSC = 1 << 63                  # RING_BUFFER_RFLAG_FULL_TSC, carried in the tsc
MASK64 = (1 << 64) - 1
_U32 = struct.Struct("<I")
_COMPACT_EXT = struct.Struct("<BIQ")
_LARGE = struct.Struct("<HI")
_LARGE_EXT = struct.Struct("<HIQ")


class HeaderType(enum.Enum):
    KMODEL = "kmodel"
    COMPACT = "compact"
    LARGE = "large"


def last_tsc_overflow(tsc: int, last_tsc: int) -> bool:
    """last_tsc_overflow - whether tsc is too far from the buffer's last
    record for a 27-bit timestamp (lttng-modules, 64-bit form)."""
    return ((tsc - last_tsc) & MASK64) >> TSC_BITS != 0


class RecordError(ValueError):
    """A record a walk cannot take (EventHeader.walk): where it starts, why
    (``record bounds``, ``unknown event id``, ``timestamp order``), its id if read."""

    def __init__(self, at: int, why: str, event_id: int | None = None):
        super().__init__(f"offset {at}: {why}")
        self.at, self.why, self.event_id = at, why, event_id


class EventHeader:
    """One of LTTng's two header formats: sizes, the writer's rule, the bytes."""
    __slots__ = ("type", "size", "ext_size", "max_id", "ts_bits")

    def __init__(self, type_: HeaderType, size: int, ext_size: int, max_id: int,
                 ts_bits: int):
        self.type = type_
        self.size = size            # the header's bytes, compact form
        self.ext_size = ext_size    # ... extended form
        self.max_id = max_id        # the largest id the compact form holds
        self.ts_bits = ts_bits      # the timestamp bits of the compact form

    def extended(self, event_id: int, tsc: int, last_tsc: int) -> bool:
        """Whether a record of event_id reserved at tsc takes the extended form
        (LTTNG_RFLAG_EXTENDED or RING_BUFFER_RFLAG_FULL_TSC)."""
        return event_id > self.max_id or last_tsc_overflow(tsc, last_tsc)

    def pack_into(self, buf: bytearray, off: int, event_id: int, tsc: int,
                  extended: bool) -> int:
        """Write the header at buf[off:]; returns its size."""
        if self.type is HeaderType.COMPACT:
            if not extended:
                _U32.pack_into(buf, off, (event_id & 31) | ((tsc & ((1 << 27) - 1)) << 5))
                return 4
            _COMPACT_EXT.pack_into(buf, off, 31, event_id, tsc)
            return 13
        if not extended:
            _LARGE.pack_into(buf, off, event_id, tsc & 0xFFFFFFFF)
            return 6
        _LARGE_EXT.pack_into(buf, off, 65535, event_id, tsc)
        return 14

    def record(self, event_id: int, tsc: int, payload: bytes) -> bytes:
        """The bytes of a record: its header for a tsc as the reservation
        returned it (FULL_TSC set: the extended form), then the payload."""
        if tsc < FULL_TSC:
            if self.type is HeaderType.COMPACT:         # the common case: one word
                return _U32.pack((event_id & 31) | (tsc & 0x7FFFFFF) << 5) + payload
            return _LARGE.pack(event_id, tsc & 0xFFFFFFFF) + payload
        rec = bytearray(self.ext_size)
        self.pack_into(rec, 0, event_id, tsc & ~FULL_TSC, True)
        return bytes(rec) + payload

    def unpack_from(self, buf, off: int) -> tuple[int, int, int, int]:
        """(event id, timestamp value, its width in bits, header size) of the
        header at buf[off:]; a width under 64 is the clock's low bits."""
        if self.type is HeaderType.COMPACT:
            (word,) = _U32.unpack_from(buf, off) if len(buf) - off >= 4 else (buf[off],)
            if word & 31 != 31:
                return word & 31, word >> 5, 27, 4
            _, event_id, ts = _COMPACT_EXT.unpack_from(buf, off)
            return event_id, ts, 64, 13
        event_id, ts = _LARGE.unpack_from(buf, off)
        if event_id != 65535:
            return event_id, ts, 32, 6
        _, event_id, ts = _LARGE_EXT.unpack_from(buf, off)
        return event_id, ts, 64, 14

    def walk(self, buf, at: int, end: int, length_of, ts_begin: int, ordered: bool = False):
        """walk - the records packed in buf[at:end], as a CTF reader finds them
        with no payload size in their headers (babeltrace2 after lttng-crash):
        each header gives the id and the timestamp (the clock from ts_begin,
        ClockUpdate), and length_of(event_id, buf, payload_at, end) the
        payload's bytes: None if no class has that id, more than is left if
        the payload runs past end.  Yields (at, event id, clock, payload_at,
        payload length); raises RecordError at the first record it cannot
        take.  ordered: a 64-bit timestamp below the clock is an error too
        (a compact one cannot go back: its low bits carry)."""
        clock = ClockUpdate(ts_begin)
        unpack, least = self.unpack_from, self.size
        while at < end:
            if end - at < least:
                raise RecordError(at, "record bounds")
            try:
                event_id, ts, bits, hs = unpack(buf, at)
            except struct.error:
                raise RecordError(at, "record bounds") from None
            p = at + hs
            if p > end:
                raise RecordError(at, "record bounds", event_id)
            if ordered and bits >= 64 and ts < clock.value:
                raise RecordError(at, "timestamp order", event_id)
            n = length_of(event_id, buf, p, end)
            if n is None:
                raise RecordError(at, "unknown event id", event_id)
            if p + n > end:
                raise RecordError(at, "record bounds", event_id)
            yield at, event_id, clock.update(ts, bits), p, n
            at = p + n


HEADERS = {
    HeaderType.COMPACT: EventHeader(HeaderType.COMPACT, 4, 13, 30, 27),
    HeaderType.LARGE: EventHeader(HeaderType.LARGE, 6, 14, 65534, 32),
}


def header_of(name: str | HeaderType) -> EventHeader | None:
    """header_of - the EventHeader of a format's name; None for kmodel's own."""
    t = HeaderType(name)
    return HEADERS.get(t)


class ClockUpdate:
    """A reader's clock for one stream: set at each packet's timestamp_begin,
    updated by each header's timestamp of `bits` bits (CTF 1.8 section 8: the
    value replaces the clock's low bits; if it is below them, the clock
    wrapped once in those bits)."""
    __slots__ = ("value",)

    def __init__(self, value: int = 0):
        self.value = value

    def update(self, ts: int, bits: int) -> int:
        if bits >= 64:
            self.value = ts
            return ts
        mask = (1 << bits) - 1
        v = (self.value & ~mask) | ts
        if ts < self.value & mask:
            v += 1 << bits
        self.value = v
        return v
