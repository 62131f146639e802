"""kmodel crash extract: the lttng-crash of kmodel.

Reads a pmem region file with no kernel running (pmem_layout.scan_region) and
writes what it vouches for as a CTF trace: the ``metadata`` of ctf.py and one
stream file per CPU (``channel0_N``).  Complete sub-buffers are copied whole;
a partial one is cut at its last committed byte, its content and packet size
fixed up.  What the tracer lost, and what the validation rejected, is
reported, not hidden.
"""
import os

from kmodel.consumer.ctf import metadata
from kmodel.relay.pmem_layout import PmemLayoutError, info_text, scan_region


class CrashError(ValueError):
    """A region file or an output directory that cannot be used (one line)."""


def read_region(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CrashError(f"{path}: {e.strerror}") from None


def crash_extract(path, outdir):
    """crash_extract - write the trace of region file path to outdir (made if
    missing; it must be empty); returns the scan."""
    data = read_region(path)
    try:
        scan = scan_region(data)
    except PmemLayoutError as e:
        raise CrashError(f"{path}: {e}") from None
    if os.path.exists(outdir) and (not os.path.isdir(outdir) or os.listdir(outdir)):
        raise CrashError(f"{outdir}: exists and is not an empty directory (nothing written)")
    try:
        os.makedirs(outdir, exist_ok=True)
        with open(os.path.join(outdir, "metadata"), "w") as f:
            f.write(metadata())
        for cpu, packets in sorted(scan.packets.items()):
            with open(os.path.join(outdir, f"channel0_{cpu}"), "wb") as f:
                for p in packets:
                    f.write(p.data)
    except OSError as e:
        raise CrashError(f"{outdir}: {e.strerror}") from None
    return scan


def extract_report(scan, path, outdir):
    return (f"{path}: " + info_text(scan) +
            f"wrote {sum(len(p) for p in scan.packets.values())} packets, {scan.records} "
            f"records to {outdir}\n")
