"""Page allocator and boot benchmarks (issue: foundation).

  make bench            # or: .venv/bin/pytest bench -o python_files='bench_*.py'
"""
import json
import subprocess
import sys

import pytest

from hw.topology import load_preset, preset_names
from kmodel.kernel import boot
from kmodel.mm.gfp import GFP_KERNEL


def test_floor_dict_pair(benchmark):
    """The floor: the least bookkeeping an allocator needs, a dict insert and pop."""
    d = {}

    def pair():
        d[12345] = None
        d.popitem()
    benchmark.group = "page alloc+free (order 0)"
    benchmark(pair)


def _pair_bench(benchmark, record_goal, fragmented):
    k = boot("numa2")
    try:
        alloc = k.alloc_pages_node
        free = k.__free_page
        held = []
        if fragmented:
            # A working kernel's zone: every other page of the first 4 MiB in use,
            # so a freed order-0 page finds its buddy busy and merges no further.
            pages = [alloc(0, GFP_KERNEL, 0) for _ in range(1024)]
            held = pages[::2]
            for p in pages[1::2]:
                free(p)

        def pair():
            p = alloc(0, GFP_KERNEL, 0)
            free(p)
            return p
        benchmark.group = "page alloc+free (order 0)"
        page = benchmark(pair)
        assert page.nid == 0 and len(k.page_alloc.allocated) == len(held)
        ns = benchmark.stats.stats.median * 1e9
        benchmark.extra_info["ns_per_pair"] = ns
        return ns
    finally:
        k.shutdown()


def test_order0_pair_steady_state(benchmark, record_goal):
    """The goal's case: a zone in use, where a pair splits and merges little."""
    ns = _pair_bench(benchmark, record_goal, fragmented=True)
    record_goal("order-0 alloc+free pair (zone in use)", ns, 2000, "ns")


def test_order0_pair_pristine_zone(benchmark, record_goal):
    """The worst case: an untouched zone, each pair splits and merges 10 orders."""
    _pair_bench(benchmark, record_goal, fragmented=False)
    benchmark.extra_info["note"] = "10 splits + 10 merges per pair (no per-CPU page lists)"



@pytest.mark.parametrize("preset", preset_names())
def test_boot_preset(benchmark, preset):
    def one():
        k = boot(preset)
        n = k.num_online_cpus()
        k.shutdown()
        return n
    benchmark.group = "boot each preset"
    assert benchmark.pedantic(one, rounds=3, iterations=1) == len(load_preset(preset).present_cpus)


_RSS_CHILD = """
import json, time


def hwm_mib():
    # VmHWM belongs to this address space; ru_maxrss would carry the parent's
    # high-water mark across fork and exec.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024


from kmodel.kernel import boot
before = hwm_mib()
t0 = time.perf_counter()
k = boot("big-16n")
dt = time.perf_counter() - t0
print(json.dumps({"boot_s": dt, "rss_mib": hwm_mib(), "rss_before_boot_mib": before,
                  "free_pages": k.page_alloc.nr_free_pages()}))
"""


def test_boot_big_16n(benchmark, record_goal):
    def one():
        k = boot("big-16n")
        n = k.page_alloc.nr_free_pages()
        k.shutdown()
        return n
    benchmark.group = "boot"
    assert benchmark.pedantic(one, rounds=5, iterations=1) == 1 << 28
    child = json.loads(subprocess.run([sys.executable, "-c", _RSS_CHILD], check=True,
                                      capture_output=True, text=True).stdout)
    benchmark.extra_info.update(child)
    record_goal("boot big-16n (1 TiB) time", benchmark.stats.stats.median, 1.0, "s")
    record_goal("boot big-16n host RSS (whole process)", child["rss_mib"], 300, "MiB")
