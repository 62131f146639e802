"""CTF index files: ``DIR/index/<stream>.idx``, one entry a packet, as
lttng-tools' consumer writes them beside each stream it records.

The format is lttng-tools' (src/common/index/ctf-index.h, v2.13.9), all
integers big-endian whatever the trace's byte order:

    struct ctf_packet_index_file_hdr        (16 bytes)
        magic             CTF_INDEX_MAGIC (0xC1F1DCC1)
        index_major       1
        index_minor       1
        packet_index_len  bytes of one entry (72 in 1.1, 56 in 1.0)

    struct ctf_packet_index                 (one a packet, in the stream's order)
        offset            of the packet in the stream file, in bytes
        packet_size       in bits
        content_size      in bits
        timestamp_begin, timestamp_end      the packet context's, in clock cycles
        events_discarded  the packet context's (the stream's count so far)
        stream_id         the stream class (the channel)
        stream_instance_id                  (1.1) the packet header's
        packet_seq_num                      (1.1) the packet context's

lttng-consumerd appends an entry after each sub-buffer it writes
(consumer-stream.c, ``consumer_stream_send_index`` and
``ctf_packet_index_populate``), with values it asks the kernel for
(``kernctl_get_packet_size`` and the others), which lttng-modules' client
reads from the packet's own header (src/lttng-ring-buffer-client.h,
``client_packet_size`` ...).  So an entry says nothing the packet header does
not.  kmodel differs in *when*: ``write_trace_index`` writes a stream's
index from the stream file's packet headers once the stream is complete,
so every consumer (splice, read, mmap in another process, one defined in a
test) gets the same index from one writer, and a packet a consumer dropped
(era 2009's torn packet, consumer/base.py) has no entry, as in LTTng, where
an entry follows only a written packet.

A snapshot writes no index: lttng-tools' kernel consumer creates a
snapshot's output files with ``create_index`` false
(kernel-consumer.c, ``lttng_kconsumer_snapshot_channel``).

babeltrace2 uses the index when it is valid, instead of reading every
packet header (src/plugins/ctf/fs-src/data-stream-file.c,
``build_index_from_idx_file``, v2.0.4).  It checks the magic, major 1, an
entry length of at least 1.0's, a file of whole entries, sizes in bits
that are whole bytes, offsets that do not go back, ``timestamp_begin`` <=
``timestamp_end``, and that the packet sizes add up to the stream file's
size; an index that fails is warned about and the stream read without it.
``read_index_file`` here checks the same, and ``check_trace_index`` also
that each entry is its packet's.
"""
from __future__ import annotations

import mmap
import os
import struct
from typing import NamedTuple

from hw.hostfile import HostFileError, read_regular_file
from kmodel.relay.packet import HDR, PACKET_MAGIC, PacketHeader, unpack_packet_header

__all__ = ["CTF_INDEX_MAGIC", "CTF_INDEX_MAJOR", "CTF_INDEX_MINOR", "INDEX_DIR",
           "INDEX_SUFFIX", "CtfPacketIndex", "CtfIndexError", "ctf_packet_index_len",
           "ctf_packet_index_populate", "stream_index", "stream_files", "index_path", "index_bytes",
           "write_index_file", "write_trace_index", "read_index_file", "check_trace_index"]

CTF_INDEX_MAGIC = 0xC1F1DCC1
CTF_INDEX_MAJOR = 1
CTF_INDEX_MINOR = 1
INDEX_DIR = "index"                     # DEFAULT_INDEX_DIR (src/common/defaults.h)
INDEX_SUFFIX = ".idx"                   # DEFAULT_INDEX_FILE_SUFFIX

FILE_HDR = struct.Struct(">IIII")       # struct ctf_packet_index_file_hdr
ENTRY = struct.Struct(">9Q")            # struct ctf_packet_index (1.1)
ENTRY_1_0 = 7 * 8                       # up to stream_id
INDEX_LIMIT = 1 << 32


class CtfIndexError(ValueError):
    """An index file that cannot be read or does not match its stream; the
    message names the file and the entry."""


class CtfPacketIndex(NamedTuple):
    """struct ctf_packet_index, field by field."""
    offset: int                         # bytes
    packet_size: int                    # bits
    content_size: int                   # bits
    timestamp_begin: int
    timestamp_end: int
    events_discarded: int
    stream_id: int
    stream_instance_id: int
    packet_seq_num: int


def ctf_packet_index_len(major: int, minor: int) -> int:
    """ctf_packet_index_len - bytes of one entry of index major.minor (ctf-index.h:
    1.0 ends with stream_id, 1.1 with packet_seq_num); a CtfIndexError for
    another version, where the C aborts."""
    if major == 1 and minor in (0, 1):
        return ENTRY_1_0 if minor == 0 else ENTRY.size
    raise CtfIndexError(f"CTF index {major}.{minor}: only 1.0 and 1.1 exist")


def ctf_packet_index_populate(offset: int, h: PacketHeader) -> CtfPacketIndex:
    """ctf_packet_index_populate - the entry of the packet at offset whose
    header is h (mirrors consumer-stream.c's, which takes the values through
    the kernel's ioctls; lttng-modules reads them from the same header)."""
    return CtfPacketIndex(offset, h.packet_size, h.content_size, h.timestamp_begin,
                          h.timestamp_end, h.events_discarded, h.stream_id,
                          h.stream_instance_id, h.packet_seq_num)


def stream_index(path: str) -> list[CtfPacketIndex]:
    """stream_index - the entries of stream file path, one a packet, read from
    its packet headers (a CtfIndexError for a file that is not whole packets)."""
    name = os.path.basename(path)
    entries = []
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if not size:
            return entries
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:  # (no read a packet)
            pos = 0
            while pos < size:
                if size - pos < HDR:
                    raise CtfIndexError(f"{name}: offset {pos}: truncated packet header")
                h = unpack_packet_header(data, pos)
                if h.magic != PACKET_MAGIC or h.packet_size % 8 or \
                        h.packet_size // 8 < HDR or pos + h.packet_size // 8 > size:
                    raise CtfIndexError(f"{name}: offset {pos}: not a whole packet")
                entries.append(ctf_packet_index_populate(pos, h))
                pos += h.packet_size // 8
    return entries


def stream_files(trace_dir: str) -> list[str]:
    """stream_files - the names of trace_dir's stream files, sorted: every
    name but ``metadata``, hidden ones and directories (index/, a
    snapshot-TICK trace); one that is no regular file is its reader's to
    refuse (read_stream says "a FIFO")."""
    return sorted(n for n in os.listdir(trace_dir) if n != "metadata" and
                  not n.startswith(".") and not os.path.isdir(os.path.join(trace_dir, n)))


def index_path(trace_dir: str, stream: str) -> str:
    """index_path - where stream's index goes: trace_dir/index/stream.idx
    (lttng_index_file_create_from_trace_chunk)."""
    return os.path.join(trace_dir, INDEX_DIR, stream + INDEX_SUFFIX)


def write_index_file(path: str, entries: list[CtfPacketIndex],
                     major: int = CTF_INDEX_MAJOR, minor: int = CTF_INDEX_MINOR) -> None:
    """write_index_file - the file header then each entry, at index
    major.minor's length (ctf_packet_index_file_hdr_init, lttng_index_file_write)."""
    with open(path, "wb") as f:
        f.write(index_bytes(entries, major, minor))


def index_bytes(entries: list[CtfPacketIndex], major: int = CTF_INDEX_MAJOR,
                minor: int = CTF_INDEX_MINOR) -> bytes:
    """index_bytes - an index file's bytes: its header, then entries."""
    n = ctf_packet_index_len(major, minor)
    return FILE_HDR.pack(CTF_INDEX_MAGIC, major, minor, n) + \
        b"".join(ENTRY.pack(*e)[:n] for e in entries)


def write_trace_index(trace_dir: str) -> dict[str, int]:
    """write_trace_index - an index for each stream file of trace_dir (every
    regular file but ``metadata``), in trace_dir/index/; {stream: entries}."""
    streams = stream_files(trace_dir)
    os.makedirs(os.path.join(trace_dir, INDEX_DIR), exist_ok=True)
    written = {}
    for name in streams:
        entries = stream_index(os.path.join(trace_dir, name))
        write_index_file(index_path(trace_dir, name), entries)
        written[name] = len(entries)
    return written


def read_index_file(path: str, stream_size: int | None = None
                    ) -> tuple[int, int, list[CtfPacketIndex]]:
    """read_index_file - (major, minor, entries) of index file path, checked as
    babeltrace2 checks it (build_index_from_idx_file), and, given the stream
    file's size, that the packets add up to it.  A 1.0 entry's
    stream_instance_id and packet_seq_num read -1, as the consumer writes
    them when unknown.  A CtfIndexError says what is wrong."""
    name = os.path.basename(path)
    try:
        data = read_regular_file(path, INDEX_LIMIT, "index file")
    except HostFileError as e:
        raise CtfIndexError(str(e)) from None
    if len(data) < FILE_HDR.size:
        raise CtfIndexError(f"{name}: {len(data)} bytes, shorter than the index header "
                            f"({FILE_HDR.size})")
    magic, major, minor, n = FILE_HDR.unpack_from(data)
    if magic != CTF_INDEX_MAGIC:
        raise CtfIndexError(f"{name}: bad magic {magic:#x} (a CTF index has "
                            f"{CTF_INDEX_MAGIC:#x})")
    if major != 1:
        raise CtfIndexError(f"{name}: CTF index {major}.{minor}: only major 1 is known")
    if n < ENTRY_1_0:
        raise CtfIndexError(f"{name}: packet_index_len {n} is shorter than a 1.0 entry "
                            f"({ENTRY_1_0})")
    body = len(data) - FILE_HDR.size
    if body % n:
        raise CtfIndexError(f"{name}: {body} bytes of entries is not a whole number of "
                            f"{n}-byte entries")
    entries: list[CtfPacketIndex] = []
    for i in range(body // n):
        raw = data[FILE_HDR.size + i * n:FILE_HDR.size + (i + 1) * n][:ENTRY.size]
        entry = CtfPacketIndex(*ENTRY.unpack(raw.ljust(ENTRY.size, b"\0")))
        if n < ENTRY.size or minor < 1:
            entry = entry._replace(stream_instance_id=(1 << 64) - 1, packet_seq_num=(1 << 64) - 1)
        if entry.packet_size % 8:
            raise CtfIndexError(f"{name}: entry {i}: packet_size {entry.packet_size} bits is not "
                                "whole bytes")
        if entries and entry.offset < entries[-1].offset:
            raise CtfIndexError(f"{name}: entry {i}: offset {entry.offset} goes back (the entry "
                                f"before is at {entries[-1].offset})")
        if entry.timestamp_end < entry.timestamp_begin:
            raise CtfIndexError(f"{name}: entry {i}: timestamp_end {entry.timestamp_end} is "
                                f"before timestamp_begin {entry.timestamp_begin}")
        entries.append(entry)
    total = sum(entry.packet_size // 8 for entry in entries)
    if stream_size is not None and total != stream_size:
        raise CtfIndexError(f"{name}: its packets add up to {total} bytes, the stream file "
                            f"holds {stream_size}")
    return major, minor, entries


def check_trace_index(trace_dir: str) -> dict[str, int]:
    """check_trace_index - if trace_dir has an index/ directory, that each
    stream's index file is there, reads as babeltrace2 would take it, and
    has one entry a packet equal to that packet's (stream_index); {stream:
    entries}, {} for a trace without an index.  A CtfIndexError names the
    first difference."""
    idx_dir = os.path.join(trace_dir, INDEX_DIR)
    if not os.path.isdir(idx_dir):
        return {}
    streams = stream_files(trace_dir)
    checked = {}
    for name in streams:
        path = index_path(trace_dir, name)
        if not os.path.lexists(path):
            raise CtfIndexError(f"{INDEX_DIR}/{name}{INDEX_SUFFIX}: missing (the trace has "
                                "an index directory)")
        stream = os.path.join(trace_dir, name)
        truth = stream_index(stream)
        with open(path, "rb") as f:
            if f.read() == index_bytes(truth):      # (the usual case, at once)
                checked[name] = len(truth)
                continue
        _, _, entries = read_index_file(path, os.path.getsize(stream))
        if len(entries) != len(truth):
            raise CtfIndexError(f"{name}{INDEX_SUFFIX}: {len(entries)} entries for "
                                f"{len(truth)} packets")
        for i, (e, t) in enumerate(zip(entries, truth)):
            if e != t:
                diff = [f"{f} {a} (the packet says {b})"
                        for f, a, b in zip(CtfPacketIndex._fields, e, t) if a != b and
                        not (f in ("stream_instance_id", "packet_seq_num") and
                             a == (1 << 64) - 1)]
                if diff:
                    raise CtfIndexError(f"{name}{INDEX_SUFFIX}: entry {i}: "
                                        + ", ".join(diff))
        checked[name] = len(entries)
    return checked
