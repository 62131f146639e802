"""The packet and record layouts of the sub-buffer layer, apart from its algorithm.

LTTng keeps the layout of what its ring buffer writes in the client header
(lttng-ring-buffer-client.h), away from the frontend that reserves and
commits, so that a reader of traces needs the layout alone.  So does kmodel:
this module imports nothing of the kernel, and a reader in another process
(consumer/mmap_consumer.py), the crash extractor (consumer/crash.py) and the
CTF reader (consumer/ctf.py) load it without booting anything.

A sub-buffer is a *packet*: an 84-byte header, then records, then padding.
The header is lttng-modules' ``struct packet_header``
(src/lttng-ring-buffer-client.h, v2.13.9): the trace's packet header
(``magic``, the trace's ``uuid``, ``stream_id``, ``stream_instance_id``)
then the stream's packet context, each field at its natural alignment:

    offset  field               size  meaning
    0       magic               4     PACKET_MAGIC
    4       uuid                16    the trace's UUID (the metadata's trace.uuid)
    20      stream_id           4     the channel's stream class (0)
    24      stream_instance_id  8     the CPU whose stream it is (LTTng: backend.cpu)
    32      timestamp_begin     8     trace clock when the packet was opened
    40      timestamp_end       8     ... when it was closed
    48      content_size        8     bits of header and records (not padding)
    56      packet_size         8     bits of the whole packet
    64      packet_seq_num      8     the packet's number on its stream
    72      events_discarded    8     records lost on the stream so far
    80      cpu_id              4     the CPU whose stream it is

Records follow at offset 84 with no padding, as lttng-modules lays them out
on an architecture with efficient unaligned access (x86: no
RING_BUFFER_ALIGN, include/lttng/tracer-core.h): a record is its header,
then its payload, packed.  The header's format is the channel's
(event_header.py): kmodel's 16 bytes (timestamp, payload size, event id,
below), or LTTng's compact or large header.  Sizes in the packet header are
in bits, as CTF counts.
"""
import struct
from typing import NamedTuple, Union

__all__ = ["PACKET_MAGIC", "PACKET_HEADER", "HDR", "CONTEXT_END", "PacketHeader",
           "pack_packet_header", "unpack_packet_header", "RECORD_HEADER", "REC",
           "RecordHeader", "unpack_record_header", "record_size", "NO_CPU"]

Buffer = Union[bytes, bytearray, memoryview]

PACKET_MAGIC = 0xC1FC1FC1
PACKET_HEADER = struct.Struct("<I16sIQQQQQQQI")
HDR = PACKET_HEADER.size                    # 84
CONTEXT_END = HDR                           # where the packet context's last field ends:
                                            # the content of a packet with no record
NO_CPU = 0xFFFFFFFF                         # cpu_id of a global buffer's packets


class PacketHeader(NamedTuple):
    """A packet's header, field by field, in the order of the bytes."""
    magic: int
    timestamp_begin: int
    timestamp_end: int
    content_size: int                       # bits
    packet_size: int                        # bits
    packet_seq_num: int
    events_discarded: int
    cpu_id: int
    uuid: bytes = bytes(16)                 # (the trace packet header's fields, last
    stream_id: int = 0                      # here, first in the bytes)
    stream_instance_id: int = 0


def pack_packet_header(h: PacketHeader) -> bytes:
    """pack_packet_header - the HDR bytes of header h."""
    return PACKET_HEADER.pack(h.magic, h.uuid, h.stream_id, h.stream_instance_id, *h[1:8])


def unpack_packet_header(buf: Buffer, offset: int = 0) -> PacketHeader:
    """unpack_packet_header - the header of the packet at buf[offset:]."""
    f = PACKET_HEADER.unpack_from(buf, offset)
    return PacketHeader(f[0], f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[1], f[2], f[3])


RECORD_HEADER = struct.Struct("<QII")
REC = RECORD_HEADER.size                    # 16


class RecordHeader(NamedTuple):
    """A record's header: when it was reserved, its payload's size, its event id."""
    timestamp: int
    payload_size: int
    id: int


def unpack_record_header(buf: Buffer, offset: int = 0) -> RecordHeader:
    """unpack_record_header - the header of the record at buf[offset:]."""
    return RecordHeader._make(RECORD_HEADER.unpack_from(buf, offset))


def record_size(payload_len: int) -> int:
    """record_size - the bytes a record of payload_len takes with kmodel's
    header: header and payload, packed."""
    return REC + payload_len
