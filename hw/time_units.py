"""Durations, rates and bandwidths written the way people write them.

``10ms``, ``500us`` (or ``µs``), ``2s``, ``100ns``, a bare number of ns;
``2M`` or ``2M/s`` events a second (decimal prefixes: k 1e3, M 1e6, G 1e9);
``100MB/s`` (bytes, decimal as disk makers count), ``64MiB/s`` (binary),
``1Gb/s`` or ``100Mbit/s`` (bits, as links are rated), a bare number of bytes
a second.  Each parser raises
ValueError naming the text when it is not one.
"""
import re

_DURATION = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_SI = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}
_BIN = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
_NUM = r"(\d+(?:\.\d*)?|\.\d+)"


def parse_duration(text):
    """parse_duration - '10ms' -> 10_000_000 (ns, an int); a bare number is ns."""
    m = re.fullmatch(_NUM + r"\s*(ns|us|µs|ms|s)?", str(text).strip())
    if not m:
        raise ValueError(f"not a duration: {text!r} (e.g. 500us, 10ms, 2s)")
    ns = float(m.group(1)) * _DURATION[m.group(2) or "ns"]
    if ns != int(ns):
        raise ValueError(f"not a whole number of nanoseconds: {text!r}")
    return int(ns)


def parse_rate(text):
    """parse_rate - '2M' or '2M/s' -> 2_000_000.0 events a second."""
    m = re.fullmatch(_NUM + r"\s*([kKMG]?)(?:/s)?", str(text).strip())
    if not m:
        raise ValueError(f"not a rate: {text!r} (events a second, e.g. 2M, 500k, 100/s)")
    return float(m.group(1)) * _SI[m.group(2)]


def parse_bandwidth(text):
    """parse_bandwidth - '100MB/s' -> 1e8 bytes a second; '1Gb/s' -> 1.25e8; a
    bare number is bytes a second."""
    m = re.fullmatch(_NUM + r"\s*(?:([kKMG]i?)?(B|b|bit)/s)?", str(text).strip())
    if not m:
        raise ValueError(f"not a bandwidth: {text!r} (e.g. 100MB/s, 64MiB/s, 1Gb/s)")
    prefix = m.group(2) or ""
    scale = _BIN[prefix] if prefix.endswith("i") else _SI[prefix]
    v = float(m.group(1)) * scale
    return v if m.group(3) in ("B", None) else v / 8


def format_duration(ns):
    """format_duration - the largest unit that keeps it a short number: 1500 -> '1.5us'."""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if abs(ns) >= scale:
            return f"{ns / scale:.4g}{unit}"
    return f"{ns:.4g}ns"


def format_rate(per_s):
    """format_rate - 2e6 -> '2M/s'."""
    for p, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if per_s >= scale:
            return f"{per_s / scale:.4g}{p}/s"
    return f"{per_s:.4g}/s"
