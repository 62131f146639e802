"""Relay benchmarks: the page list against vmap, host time and modeled cost.

Grouped so that each comparison is one table, each group with its floor (a
Python function that masks the offset and does one slice assignment into a
contiguous memoryview).  Every benchmark checks its result and records its
modeled figures in extra_info.  Run: make bench.
"""
import resource

import pytest

from kmodel.kernel import boot
from kmodel.perf.workloads import (DESIGNS, HOT_PATH_GOALS, SIZES, RelayBench, make_floor,
                                   payload, random_offsets, sequential, sequential_read)
from kmodel.relay.relay_alloc import ltt_relay_close, ltt_relay_open

MEDIANS = {}
MACHINE = "xeon-2s-skylake"


@pytest.fixture(scope="module")
def rb():
    r = RelayBench(MACHINE)
    yield r
    r.close()


def minflt():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def modeled_info(benchmark, rb, fn, calls):
    tm = rb.k.timing
    tm.reset()
    f0 = minflt()
    fn()
    t = tm.totals()
    benchmark.extra_info.update({
        "machine": rb.k.spec.name, "cycles_per_call": t["cycles"] / calls,
        "bytes_local": t["bytes_local"], "bytes_remote": t["bytes_remote"],
        "tlb_misses_4K": t["tlb_misses_4K"], "tlb_misses_2M": t["tlb_misses_2M"],
        "tlb_misses_1G": t["tlb_misses_1G"], "vmalloc_faults": t["vmalloc_faults"],
        "walk_steps": t["walk_steps"], "host_minor_faults": minflt() - f0})


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("design", ["floor"] + list(DESIGNS))
@pytest.mark.parametrize("kind", ["write", "read"])
def test_sequential(benchmark, record_goal, rb, kind, design, size):
    benchmark.group = f"sequential {kind} {size} B (x256)"
    alloc = rb.chans["pagelist"].alloc_size
    pattern = payload(alloc)
    if design == "floor":
        fw, fr, view = make_floor(alloc)
        view[:] = pattern
        fn, dest = (sequential(fw, None, size)[0], None) if kind == "write" else \
            sequential_read(fr, None, size)
        benchmark(fn)
    else:
        buf = rb.buf(design)
        if kind == "write":
            fn, data = sequential(buf.ops.write, buf, size)
            benchmark(fn)
            out = bytearray(size)
            buf.ops.read(buf, 0, out, size)
            assert out == data
        else:
            for off in range(0, alloc, 4096):          # known contents to read back
                buf.ops.write(buf, off, pattern[off:off + 4096], 4096)
            fn, dest = sequential_read(buf.ops.read, buf, size)
            benchmark(fn)
        modeled_info(benchmark, rb, fn, 256)
    if kind == "read":
        # the last read returned a window of what was written, not zeros
        assert bytes(dest) in pattern + pattern[:size] and any(dest)
    med = benchmark.stats.stats.median
    MEDIANS[(kind, design, size)] = med
    floor = MEDIANS.get((kind, "floor", size))
    if floor and design != "floor":
        benchmark.extra_info["ratio_to_floor"] = med / floor
        for label, gsize, limit in HOT_PATH_GOALS:
            if kind == "write" and (design, size) == (label, gsize):
                record_goal(f"{design} {size} B writes / floor", med / floor, limit, "x")
    if kind == "write" and size == 65536 and design == "vmap-opener":
        bw = MEDIANS[("write", "vmap", 65536)] / MEDIANS[("write", "pagelist", 65536)]
        record_goal("pagelist 64 KiB bandwidth / vmap's", bw, 0.7, "x", better="higher")


@pytest.mark.parametrize("design", ["floor"] + list(DESIGNS))
@pytest.mark.parametrize("case", ["random-write-64", "read_get_page", "offset_address"])
def test_random_access(benchmark, rb, case, design):
    offs = random_offsets(64)
    data = bytes(range(64))
    benchmark.group = f"random access: {case} (x256)"
    if design == "floor":
        # the floor: mask and one slice (write), or mask and a view (lookups)
        fw, _, view = make_floor(rb.chans["pagelist"].alloc_size)
        mask = len(view) - 1
        fns = {"random-write-64": lambda: [fw(None, o, data, 64) for o in offs],
               "read_get_page": lambda: [view[(o & mask) & ~4095:] for o in offs],
               "offset_address": lambda: [view[o & mask:] for o in offs]}
        benchmark(fns[case])
        return
    buf = rb.buf(design)
    fns = {"random-write-64": lambda: [buf.ops.write(buf, o, data, 64) for o in offs],
           "read_get_page": lambda: [buf.ops.read_get_page(buf, o) for o in offs],
           "offset_address": lambda: [buf.ops.offset_address(buf, o) for o in offs]}
    result = benchmark(fns[case])
    if case == "read_get_page":
        assert [p.offset for p in result] == [o & ~4095 for o in offs]
    if case == "random-write-64":
        out = bytearray(64)
        buf.ops.read(buf, offs[-1], out, 64)
        assert out == data
    modeled_info(benchmark, rb, fns[case], len(offs))


@pytest.mark.parametrize("kib_per_cpu", [256, 1024])
@pytest.mark.parametrize("machine, ncpus", [("numa2", 8), ("epyc-rome-nps4", 64)])
def test_open_close_floor(benchmark, machine, ncpus, kib_per_cpu):
    """The floor of an open: the same number of pages, allocated and freed bare."""
    from kmodel.mm.gfp import GFP_KERNEL
    k = boot(machine)
    try:
        pages = ncpus * kib_per_cpu // 4

        def once():
            got = [k.alloc_pages_node(k.cpu_to_node(c), GFP_KERNEL, 0)
                   for c in k.for_each_online_cpu() for _ in range(kib_per_cpu // 4)]
            assert None not in got and len(got) == pages
            for p in got:
                k.page_alloc.free_page(p)
        benchmark.group = f"ltt_relay_open+close, {ncpus} CPUs x {kib_per_cpu} KiB"
        benchmark.pedantic(once, rounds=3, iterations=1)
    finally:
        k.shutdown()


@pytest.mark.parametrize("kib_per_cpu", [256, 1024])
@pytest.mark.parametrize("machine, ncpus", [("numa2", 8), ("epyc-rome-nps4", 64)])
def test_open_close(benchmark, machine, ncpus, kib_per_cpu):
    """ltt_relay_open + close against CPUs x buffer size; cost per page reported."""
    k = boot(machine)
    try:
        assert k.modules.insmod("ltt_relay_alloc") == 0 and k.num_online_cpus() == ncpus
        pages = ncpus * kib_per_cpu // 4

        def once():
            chan = ltt_relay_open(k, "o", None, kib_per_cpu * 256, 4, None)
            assert chan is not None
            ltt_relay_close(chan)
        benchmark.group = f"ltt_relay_open+close, {ncpus} CPUs x {kib_per_cpu} KiB"
        benchmark.pedantic(once, rounds=3, iterations=1)
        assert k.leaks() == {}
        benchmark.extra_info.update({"pages": pages, "cpus": ncpus,
                                     "ns_per_page": benchmark.stats.stats.median / pages * 1e9})
    finally:
        k.shutdown()


@pytest.mark.parametrize("channels", [0, 1, 4])
def test_hotplug_cycle_with_channels(benchmark, channels):
    k = boot("numa2")
    try:
        k.modules.insmod("ltt_relay_alloc")
        chans = [ltt_relay_open(k, f"c{i}", None, 4096, 4, None) for i in range(channels)]

        def cycle():
            assert k.cpu_down(5) == 0
            assert k.cpu_up(5) == 0
        benchmark.group = "hotplug down+up with N channels open"
        benchmark(cycle)
        assert all(c.buf[5] is not None for c in chans)
        for c in chans:
            ltt_relay_close(c)
        assert k.leaks() == {}
    finally:
        k.shutdown()


_PER_PAGE = {}


@pytest.mark.parametrize("kib_per_cpu", [64, 4096])
def test_open_close_per_page_is_flat(benchmark, record_goal, kib_per_cpu):
    """ltt_relay_open + close on 64 CPUs (epyc-rome-nps4): 1,024 pages against
    65,536.  The cost per page must stay within 10% (the host's garbage
    collector waits during an open or close: relay_alloc.with_collector_paused)."""
    k = boot("epyc-rome-nps4")
    try:
        assert k.modules.insmod("ltt_relay_alloc") == 0
        pages = 64 * kib_per_cpu // 4

        def once():
            chan = ltt_relay_open(k, "o", None, kib_per_cpu * 256, 4, None)
            assert chan is not None
            ltt_relay_close(chan)
        benchmark.group = "open+close cost per page, 1k against 64k pages"
        benchmark.pedantic(once, rounds=3, iterations=1)
        _PER_PAGE[kib_per_cpu] = benchmark.stats.stats.min / pages
        benchmark.extra_info["ns_per_page"] = _PER_PAGE[kib_per_cpu] * 1e9
        if len(_PER_PAGE) == 2:
            record_goal("open+close per page, 65,536 pages / 1,024 pages",
                        _PER_PAGE[4096] / _PER_PAGE[64], 1.1, "x")
    finally:
        k.shutdown()
