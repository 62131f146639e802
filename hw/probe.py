"""This host as a machine preset: topology and caches from /sys, copy bandwidth
measured.

``probe()`` reads the NUMA nodes (``/sys/devices/system/node``), their CPUs,
memory and SLIT distances, the caches of CPU 0
(``/sys/devices/system/cpu/cpu0/cache``) and the clock (``/proc/cpuinfo``),
and times ``memmove`` over working sets that fit the L2, fit the last-level
cache, and are four times larger than it.  A call's own cost is taken out by
timing two copy sizes and keeping the difference.  ``preset_toml()`` writes
it all as a preset, every figure marked as read, measured or estimated.

What a Python process cannot measure is estimated and says so: the DRAM
latency (a dependent load is ~50 ns; a Python loop step is more than that),
the L1 bandwidth (a call costs more than an L1-sized copy takes), remote
bandwidth on a one-node host, the TLB and the atomics.
"""
import ctypes
import glob
import os
import time

from hw.ranges import parse_range_list

SYS_NODE = "/sys/devices/system/node"
SYS_CACHE = "/sys/devices/system/cpu/cpu0/cache"


def _read(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _size_kib(text):
    text = text.strip().upper()
    mult = {"K": 1, "M": 1024, "G": 1 << 20}.get(text[-1:], None)
    return int(text[:-1]) * mult if mult else int(text) >> 10


def topology():
    """[(cpus, memory bytes)] per node and the distance matrix."""
    nodes = sorted(int(p.rsplit("node", 1)[1]) for p in glob.glob(f"{SYS_NODE}/node[0-9]*"))
    if not nodes:
        ncpu = os.cpu_count() or 1
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return [(list(range(ncpu)), mem)], [[10]]
    out, dist = [], []
    for n in nodes:
        cpus = parse_range_list(_read(f"{SYS_NODE}/node{n}/cpulist", "") or "")
        mem = 0
        for line in (_read(f"{SYS_NODE}/node{n}/meminfo", "") or "").splitlines():
            if "MemTotal:" in line:
                mem = int(line.split()[-2]) << 10
        out.append((cpus, mem))
        dist.append([int(x) for x in (_read(f"{SYS_NODE}/node{n}/distance", "10") or "").split()])
    return out, dist


def caches():
    """{'L1', 'L2', 'LLC'} -> KiB, from CPU 0's cache directories."""
    found = {}
    for d in glob.glob(f"{SYS_CACHE}/index*"):
        level, kind = _read(f"{d}/level"), _read(f"{d}/type")
        size = _read(f"{d}/size")
        if level and size and kind in ("Data", "Unified"):
            found[int(level)] = _size_kib(size)
    l1 = found.get(1, 32)
    l2 = found.get(2, max(l1, 256))
    return {"L1": l1, "L2": l2, "LLC": found.get(3, l2)}


def cpu_ghz():
    for line in (_read("/proc/cpuinfo", "") or "").splitlines():
        if line.startswith("cpu MHz"):
            return round(float(line.split(":")[1]) / 1000, 2)
    return 2.0


def memmove_gbps(ws_bytes, seconds=0.2):
    """One core's memmove bandwidth over a working set of ws_bytes (source and
    destination, half each), with a call's own cost taken out: two copy sizes
    are timed and the difference kept."""
    half = max(ws_bytes // 2, 8192)
    src = (ctypes.c_char * half)()
    dst = (ctypes.c_char * half)()
    ctypes.memset(src, 1, half)
    ctypes.memset(dst, 0, half)                     # touch both before timing
    move = ctypes.memmove

    def per_call(n):
        reps = max(3, int(seconds / 2 / max(n / 5e9, 1e-7)))
        best = None
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(reps):
                move(dst, src, n)
            dt = (time.perf_counter() - t0) / reps
            best = dt if best is None else min(best, dt)
        return best
    full, part = per_call(half), per_call(half // 2)
    return (half - half // 2) / max(full - part, 1e-12) / 1e9


def probe(seconds=0.2):
    """What this host is: a dict the preset writer reads."""
    nodes, dist = topology()
    cache = caches()
    bw = {"L2": memmove_gbps(cache["L2"] << 9, seconds),            # half the L2
          "LLC": memmove_gbps(cache["LLC"] << 9, seconds),          # half the LLC
          "DRAM": memmove_gbps(max(cache["LLC"] << 12, 64 << 20), seconds)}
    return {"nodes": nodes, "distance": dist, "caches": cache, "ghz": cpu_ghz(), "gbps": bw,
            "host": os.uname().nodename, "when": time.strftime("%Y-%m-%d")}


def preset_toml(p, name="host"):
    """A preset for the probed host (text), each figure marked with where it came from."""
    nodes, dist, cache, bw = p["nodes"], p["distance"], p["caches"], p["gbps"]
    ghz = p["ghz"]
    lines = [f'name = "{name}"',
             f'description = "This host ({p["host"]}) as probed by kmodel machine probe on '
             f'{p["when"]}."', "",
             f"distance = {dist}   # /sys/devices/system/node/node*/distance", ""]
    for cpus, mem in nodes:
        mib = max(mem >> 20, 64)
        lines += ["[[nodes]]", f'memory = "{mib}M"     # /sys/devices/system/node/node*/meminfo',
                  f'cpus = "{",".join(map(str, cpus))}"', ""]
    dists = sorted({d for row in dist for d in row})
    dram = ", ".join(f'"{d}" = {round(90 * d / 10)}' for d in dists)
    remote = ", ".join(f'"{d}" = {round(bw["DRAM"] * 10 / d, 1)}' for d in dists)
    lines += ["[timing]",
              f"cpu_ghz = {ghz}          # /proc/cpuinfo, cpu MHz",
              f"dram_ns = {{ {dram} }}  # estimate: ~90 ns local, scaled by SLIT (not measured:"
              " a Python loop step is slower than a load)",
              f'cache_kib = {{ "L1" = {cache["L1"]}, "L2" = {cache["L2"]}, "LLC" = {cache["LLC"]} }}'
              "  # /sys/devices/system/cpu/cpu0/cache",
              '# estimate: typical load-to-use latencies (not measured)',
              'cache_cycles = { "L1" = 4, "L2" = 14, "LLC" = 45 }',
              f'# measured: memmove over half the L2 ({bw["L2"]:.1f} GB/s), half the LLC '
              f'({bw["LLC"]:.1f}), four times the LLC ({bw["DRAM"]:.1f}); L1 estimated at 1.5x '
              f'L2; remote DRAM scaled by SLIT (estimate)',
              f'stream_gbps = {{ "L1" = {round(bw["L2"] * 1.5, 1)}, "L2" = {round(bw["L2"], 1)}, '
              f'"LLC" = {round(bw["LLC"], 1)}, {remote} }}',
              'tlb = { "4K" = 64, "2M" = 32, "1G" = 4 }   # estimate (not read from this host)',
              "stlb_entries = 1536    # estimate", "page_walk_cycles = 30  # estimate", ""]
    return "\n".join(lines)
