"""kmodel crash extract: the lttng-crash of kmodel.

Reads a pmem region file with no kernel running (pmem_layout.scan_region) and
writes what it vouches for as a CTF trace: the ``metadata`` of ctf.py and one
stream file per CPU (``channel0_N``; ``channel0_global`` for a global
buffer).  Complete sub-buffers are copied whole; a partial one is cut at its
last committed record, its content and packet size fixed up, so that a CTF
reader finds no event header in its padding.  What the tracer lost, what the
validation rejected, and what it found damaged is reported, not hidden.
"""
import mmap
import os
import uuid as uuidlib

from hw.hostfile import HostFileError, check_regular_file
from kmodel.consumer.ctf import (BY_ID, SHELL_WRITE, TraceInfo, classes_for, metadata, record_length,
                                  stream_name)
from kmodel.consumer.trace_dir import NewTrace, TraceDirError
from kmodel.relay.packet import HDR, unpack_packet_header
from kmodel.relay.pmem_layout import PmemLayoutError, by_cpu, info_text, scan_region

REGION_LIMIT = 1 << 40                  # a region file larger than this is no region


class CrashError(ValueError):
    """A region file or an output directory that cannot be used (one line)."""


def map_region(path):
    """The region file, mapped read-only: nothing is read until the scan looks
    at it (a bad magic in a 2 GiB file costs a page, not 2 GiB).  A FIFO, a
    device or a directory is refused before it is opened."""
    try:
        size = check_regular_file(path, REGION_LIMIT, "region file")
    except HostFileError as e:
        raise CrashError(str(e)) from None
    if size == 0:
        raise CrashError(f"{path}: an empty file, not a region")
    try:
        with open(path, "rb") as f:
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as e:
        raise CrashError(f"{path}: {e.strerror}") from None


def crash_extract(path, outdir):
    """crash_extract - write the trace of region file path to outdir, a new
    name or an empty directory; returns the scan.  The trace is written beside
    outdir and put in place when whole: an extraction that fails or is killed
    leaves nothing that reads as a trace."""
    return write_from_region(path, outdir,
                             lambda region, scan, d, release: _write(scan, d, release))[0]


def write_from_region(path, outdir, write):
    """write_from_region - scan region file path, and have write(region,
    scan, dir, release) fill a new directory that takes outdir's place when whole (a
    new name or an empty directory; nothing is left if it fails or is killed).
    Returns (the scan, what write returned)."""
    region = map_region(path)
    release = _releaser(region)
    try:
        try:
            scan = scan_region(region, release, measure)
        except PmemLayoutError as e:
            raise CrashError(f"{path}: {e}") from None
        try:
            new = NewTrace(outdir, force=False)
        except TraceDirError as e:
            raise CrashError(f"{e} (nothing written)") from None
        try:
            got = write(region, scan, new.tmp, release)
            new.commit()
        except OSError as e:
            raise CrashError(f"{outdir}: {e.strerror}") from None
        finally:
            new.abort()
    finally:
        try:
            region.close()
        except BufferError:             # a view of it is still alive (an error's
            pass                        # traceback): unmapped when that goes
    return scan, got


def measure(header):
    """scan_region's measure: the length_of of the event classes of a trace
    whose records use header (LTTng's: the region says which)."""
    return record_length({c.id: c for c in classes_for(header)})


def trace_metadata(scan):
    """The metadata of a region's trace: the records' header the region
    says, the UUID its packets carry, the shell's writes if it holds any, and
    with kmodel's header a raw class for each record id no kmodel event has
    (with LTTng's, a record of an id no class has was dropped: its length is
    unknown)."""
    ids = {eid for ps in scan.packets.values() for p in ps for eid in p.ids}
    first = next((p for ps in scan.packets.values() for p in ps), None)
    uuid = (str(uuidlib.UUID(bytes=unpack_packet_header(first.head).uuid)) if first
            else TraceInfo().uuid)
    return metadata(TraceInfo(uuid, scan.header["header"]),
                    raw_ids=ids - set(BY_ID) | ids & {SHELL_WRITE})


def _releaser(region):
    """release(offset, length): the region's pages there may go from this
    process (MADV_DONTNEED on a read-only file mapping: they are read again
    from the file if touched again), so that a region is held a slot or a
    packet at a time, never whole."""
    def release(offset, length):
        start = offset & ~(mmap.PAGESIZE - 1)
        end = min(offset + length, len(region))
        if end > start:
            region.madvise(mmap.MADV_DONTNEED, start, end - start)
    return release if hasattr(mmap, "MADV_DONTNEED") else (lambda offset, length: None)


def _write(scan, d, release=lambda offset, length: None):
    """The metadata and a stream file a buffer, a packet at a time: its
    fixed-up header, then its body straight from the region's mapping (no
    copy held)."""
    with open(os.path.join(d, "metadata"), "w") as f:
        f.write(trace_metadata(scan))
    for cpu, packets in by_cpu(scan.packets.items()):
        with open(os.path.join(d, stream_name(cpu)), "wb") as f:
            for p in packets:
                f.write(p.head)
                f.write(p.body)
                release(p.offset, HDR + len(p.body))


def extract_report(scan, path, outdir):
    return (f"{path}: " + info_text(scan) +
            f"wrote {sum(len(p) for p in scan.packets.values())} packets, {scan.records} "
            f"records to {outdir}\n")
