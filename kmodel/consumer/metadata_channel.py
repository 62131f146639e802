"""The metadata channel: the trace's TSDL text written out as metadata packets,
as lttng-modules' metadata client and lttng-consumerd write the ``metadata``
file of a kernel trace.

In LTTng the session daemon does not write the metadata file.
lttng-modules keeps the TSDL text in a metadata cache, and
``lttng_metadata_output_channel`` (src/lttng-events.c, v2.13.9) copies it
into a metadata ring buffer channel, one reservation at a time, each as long
as what is left of the text or of the open packet, whichever is shorter
(``lttng_packet_avail_size``: a sub-buffer's size less the 37-byte packet
header for a packet just opened, else what is left of it).  The channel's
client (src/lttng-ring-buffer-metadata-client.h) writes, at each packet's
start, ``struct metadata_packet_header``, in the kernel's byte order:

    offset  field               size
    0       magic               4     TSDL_MAGIC_NUMBER, 0x75D11D57
    4       uuid                16    the trace's UUID
    20      checksum            4     0: unused
    24      content_size        4     bits of header and text
    28      packet_size         4     bits: content_size PAGE_ALIGNed
    32      compression_scheme  1     0
    33      encryption_scheme   1     0
    34      checksum_scheme     1     0
    35      major               1     1 (CTF_SPEC_MAJOR)
    36      minor               1     8 (CTF_SPEC_MINOR)

and fills in the two sizes when the packet closes (``client_buffer_end``).
The records have no header (``struct metadata_record_header`` is empty).
The consumer writes each packet at its padded size, the text's last bytes
followed by zeroes up to the page; lttng-tools makes the channel of
4096-byte sub-buffers (``DEFAULT_METADATA_SUBBUF_SIZE``).  So the file is
a sequence of 4096-byte packets, each 37 bytes of header and up to 4059 of
text, the last one partly filled.

Where kmodel differs: the packets are made by ``lttng_metadata_packets``
below, a small writer that packetizes as the client does, not by a channel
of kmodel's ring buffer.  kmodel's layers write the data client's 84-byte
packet header themselves at each sub-buffer switch (kmodel/relay/packet.py);
they have no client callbacks through which a second packet layout could
come, and giving them one would touch every layer and era for a channel
with nothing to teach about concurrency (one writer, under the metadata
cache's mutex, into one global buffer).  And the whole text is written at
once, before the consumer reads, so every packet but the last is full: in
LTTng, the consumer may read the metadata while the session daemon is still
adding to it (an event enabled later), which closes a packet early.

Readers (kmodel/consumer/ctf.py, trace_dir.py) take both this file and a
plain TSDL file (``metadata_file_text``): kmodel's crash extraction writes
plain text, as CTF allows.
"""
from __future__ import annotations

import struct
from typing import NamedTuple

__all__ = ["TSDL_MAGIC_NUMBER", "METADATA_PACKET_HEADER", "METADATA_HDR",
           "METADATA_SUBBUF_SIZE", "MetadataPacket", "MetadataError",
           "lttng_metadata_packets", "is_packetized", "metadata_packets",
           "metadata_file_text"]

TSDL_MAGIC_NUMBER = 0x75D11D57
METADATA_PACKET_HEADER = struct.Struct("<I16sIIIBBBBB")    # packed, little-endian (x86)
METADATA_HDR = METADATA_PACKET_HEADER.size                  # 37: offsetof(header_end)
METADATA_SUBBUF_SIZE = 4096             # lttng-tools' DEFAULT_METADATA_SUBBUF_SIZE
PAGE_SIZE = 4096
CTF_SPEC_MAJOR, CTF_SPEC_MINOR = 1, 8


class MetadataError(ValueError):
    """A packetized metadata file that cannot be read; the message says where."""


class MetadataPacket(NamedTuple):
    """One metadata packet: where it is in the file, its header, its text."""
    offset: int
    uuid: bytes
    checksum: int
    content_size: int                   # bits
    packet_size: int                    # bits
    compression_scheme: int
    encryption_scheme: int
    checksum_scheme: int
    major: int
    minor: int
    text: bytes


def _page_align(n: int) -> int:
    return (n + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


def lttng_metadata_packets(text: str | bytes, uuid: bytes,
                           subbuf_size: int = METADATA_SUBBUF_SIZE) -> bytes:
    """lttng_metadata_packets - the bytes of a metadata stream carrying text,
    packets of subbuf_size with the trace's uuid: lttng_metadata_output_channel's
    loop (each reservation min(packet_avail_size, what is left)), with
    client_buffer_begin's header and client_buffer_end's sizes, each packet
    padded to PAGE_ALIGN(content) as the consumer writes it.  An empty text
    makes no packet (the client never delivers an empty one)."""
    data = text.encode() if isinstance(text, str) else bytes(text)
    if len(uuid) != 16:
        raise ValueError(f"a trace UUID is 16 bytes, not {len(uuid)}")
    if subbuf_size <= METADATA_HDR or subbuf_size % PAGE_SIZE:
        raise ValueError(f"metadata sub-buffer of {subbuf_size} bytes: a multiple of "
                         f"{PAGE_SIZE} is needed")
    out = bytearray()
    written = 0                                     # metadata_in
    while written < len(data):
        avail = subbuf_size - METADATA_HDR          # lttng_packet_avail_size, a new packet
        reserve_len = min(avail, len(data) - written)
        content = METADATA_HDR + reserve_len        # data_size at client_buffer_end
        out += METADATA_PACKET_HEADER.pack(TSDL_MAGIC_NUMBER, uuid, 0, content * 8,
                                           _page_align(content) * 8, 0, 0, 0,
                                           CTF_SPEC_MAJOR, CTF_SPEC_MINOR)
        out += data[written:written + reserve_len]
        out += bytes(_page_align(content) - content)
        written += reserve_len
    return bytes(out)


def is_packetized(data: bytes) -> bool:
    """is_packetized - does data start with a metadata packet's magic (either
    byte order, as babeltrace2 tells a packetized file from TSDL text)?"""
    return len(data) >= 4 and int.from_bytes(data[:4], "little") in (
        TSDL_MAGIC_NUMBER, int.from_bytes(TSDL_MAGIC_NUMBER.to_bytes(4, "little"), "big"))


def metadata_packets(data: bytes, name: str = "metadata") -> list[MetadataPacket]:
    """metadata_packets - the packets of packetized metadata data, checked as
    babeltrace2's decode_packet checks them (magic, no compression, encryption
    or checksum, version 1.8, the same UUID in every packet, a content at
    least the header) and that each packet is whole: a MetadataError names
    the packet's offset and what is wrong.  Little-endian only: the byte
    order kmodel writes."""
    packets: list[MetadataPacket] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < METADATA_HDR:
            raise MetadataError(f"{name}: offset {pos}: truncated metadata packet header "
                                f"({len(data) - pos} of {METADATA_HDR} bytes)")
        f = METADATA_PACKET_HEADER.unpack_from(data, pos)
        magic, uuid, checksum, content, size = f[:5]
        if magic != TSDL_MAGIC_NUMBER:
            raise MetadataError(f"{name}: offset {pos}: bad metadata packet magic "
                                f"{magic:#x} (a little-endian metadata packet has "
                                f"{TSDL_MAGIC_NUMBER:#x})")
        if f[5] or f[6] or checksum or f[7]:
            raise MetadataError(f"{name}: offset {pos}: compression, encryption or checksum "
                                "set: neither kmodel nor babeltrace2 reads it")
        if (f[8], f[9]) != (CTF_SPEC_MAJOR, CTF_SPEC_MINOR):
            raise MetadataError(f"{name}: offset {pos}: metadata packet version "
                                f"{f[8]}.{f[9]}, not 1.8")
        if packets and uuid != packets[0].uuid:
            raise MetadataError(f"{name}: offset {pos}: UUID differs from the first "
                                "packet's")
        if content % 8 or size % 8 or content // 8 < METADATA_HDR or content > size:
            raise MetadataError(f"{name}: offset {pos}: bad sizes (content {content} bits, "
                                f"packet {size} bits)")
        if pos + size // 8 > len(data):
            raise MetadataError(f"{name}: offset {pos}: truncated metadata packet "
                                f"({len(data) - pos} of {size // 8} bytes)")
        packets.append(MetadataPacket(pos, uuid, checksum, content, size, f[5], f[6], f[7],
                                      f[8], f[9], bytes(data[pos + METADATA_HDR:
                                                             pos + content // 8])))
        pos += size // 8
    return packets


def metadata_file_text(data: bytes, name: str = "metadata") -> tuple[bytes, bytes | None]:
    """metadata_file_text - (TSDL text, the packets' UUID) of a metadata
    file's bytes: the packets' text concatenated if it is packetized
    (metadata_packets), else the bytes as they are and None."""
    if not is_packetized(data):
        return bytes(data), None
    packets = metadata_packets(data, name)
    return b"".join(p.text for p in packets), packets[0].uuid
