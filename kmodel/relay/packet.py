"""The packet and record layouts of the sub-buffer layer, apart from its algorithm.

LTTng keeps the layout of what its ring buffer writes in the client header
(lttng-ring-buffer-client.h), away from the frontend that reserves and
commits, so that a reader of traces needs the layout alone.  So does kmodel:
this module imports nothing of the kernel, and a reader in another process
(consumer/mmap_consumer.py), the crash extractor (consumer/crash.py) and the
CTF reader (consumer/ctf.py) load it without booting anything.

A sub-buffer is a *packet*: a 64-byte header, then records, then padding.
As a CTF reader lays the header out, it is the trace's packet header
(``magic``) followed, at the next 8-byte boundary, by the stream's packet
context:

    offset  field               size  meaning
    0       magic               4     PACKET_MAGIC
    8       timestamp_begin     8     trace clock when the packet was opened
    16      timestamp_end       8     ... when it was closed
    24      content_size        8     bits of header and records (not padding)
    32      packet_size         8     bits of the whole packet
    40      packet_seq_num      8     the packet's number on its stream
    48      events_discarded    8     records lost on the stream so far
    56      cpu_id              4     the CPU whose stream it is

A record is a 16-byte header (timestamp, payload size, event id), then its
payload, padded to 8 bytes.  Sizes in the header are in bits, as CTF counts.
"""
import struct
from typing import NamedTuple, Union

__all__ = ["PACKET_MAGIC", "PACKET_HEADER", "HDR", "CONTEXT_END", "PacketHeader",
           "pack_packet_header", "unpack_packet_header", "RECORD_HEADER", "REC",
           "RecordHeader", "unpack_record_header", "record_size", "NO_CPU"]

Buffer = Union[bytes, bytearray, memoryview]

PACKET_MAGIC = 0xC1FC1FC1
PACKET_HEADER = struct.Struct("<I4xQQQQQQI4x")
HDR = PACKET_HEADER.size                    # 64
CONTEXT_END = HDR - 4                       # where the packet context's last field ends:
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


def pack_packet_header(h: PacketHeader) -> bytes:
    """pack_packet_header - the HDR bytes of header h."""
    return PACKET_HEADER.pack(*h)


def unpack_packet_header(buf: Buffer, offset: int = 0) -> PacketHeader:
    """unpack_packet_header - the header of the packet at buf[offset:]."""
    return PacketHeader._make(PACKET_HEADER.unpack_from(buf, offset))


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
    """record_size - the bytes a record of payload_len takes: header and payload,
    8-aligned."""
    return (REC + payload_len + 7) & ~7
