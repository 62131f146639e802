"""The pmem backend (issue: persistent memory).

- Host time per 64 B event through the lockless layer, pmem against the page
  list, in the same kernel and run (a ratio, no goal: pmem adds a checksum and
  two metadata stores per commit).
- Modeled cycles per event on xeon-2s-skylake and nehalem-2009, pmem (the
  region write-combining, as the presets say) against the page list.
- kmodel crash extract: MiB/s of region at three region sizes (4, 8 and 32
  MiB), filled; the time per MiB must stay flat (linear growth): largest /
  smallest <= 1.5, from the fastest of five rounds each (the small region
  takes a few milliseconds, and the machine is shared).
"""
import os

import pytest

from hw.machine import Machine
from hw.topology import load_preset
from kmodel.consumer.crash import crash_extract
from kmodel.cpu.sched import run_now
from kmodel.kernel import boot
from kmodel.perf.layer_workloads import EVENT, modeled_cost_per_event, open_layer

N = 256
CMDLINE = "reserve_mem=16M:4096:trace"
_HOST = {}
_EXTRACT = {}


@pytest.fixture(scope="module")
def k():
    k = boot(cmdline=CMDLINE)
    k.modules.insmod("ltt_relay_alloc")
    k.set_cpu(0)
    yield k
    k.shutdown()


@pytest.mark.parametrize("backend", ["pagelist", "pmem"])
def test_lockless_64B_event(benchmark, k, backend):
    rbc = open_layer(k, f"ev-{backend}", "lockless", backend, "per-cpu")
    rb = rbc.buf_for(0)
    write = rbc.layer.write
    data = bytes(EVENT - 16)

    def events():
        return sum(run_now(k, write(rb, data)) >= 0 for _ in range(N))
    benchmark.group = "64 B event through the lockless layer"
    assert benchmark(events) == N
    if benchmark.stats:
        _HOST[backend] = benchmark.stats.stats.median
        if len(_HOST) == 2:
            ratio = _HOST["pmem"] / _HOST["pagelist"]
            benchmark.extra_info["pmem_over_pagelist"] = ratio
            print(f"\nhost time, 64 B event, lockless: pmem / pagelist = {ratio:.2f}x")


@pytest.mark.parametrize("machine", ["xeon-2s-skylake", "nehalem-2009"])
def test_modeled_cycles_per_event(benchmark, machine):
    def both():
        return {b: modeled_cost_per_event(machine, "lockless", b, "per-cpu", 1, events=64,
                                          cmdline="reserve_mem=64M:4096:trace")["cycles"]
                for b in ("pagelist", "pmem")}
    benchmark.group = "modeled cycles per 64 B event"
    t = benchmark.pedantic(both, rounds=1, iterations=1)
    benchmark.extra_info["modeled_cycles"] = t
    print(f"\n{machine}: modeled cycles per 64 B event, lockless: pagelist "
          f"{t['pagelist']:.0f}, pmem {t['pmem']:.0f} ({t['pmem'] / t['pagelist']:.2f}x)")


def filled_region(path, per_cpu_kib):
    """A region file whose 8 CPU slots (nehalem-2009) are full of 2000-byte
    events: the size grows with per_cpu_kib, the work per MiB does not."""
    from kmodel.relay.pmem_layout import geometry
    subbuf = 64 << 10
    n = per_cpu_kib // 64
    region = geometry(subbuf, n, 8, n + 1)[2] >> 10   # KiB, exactly what 8 slots need
                                                        # (overwrite, era 2.x: a spare)
    with Machine(load_preset("nehalem-2009"), pmem_path=str(path)) as m:
        k = boot(m, cmdline=f"reserve_mem={region}K:4096:trace")
        try:
            k.modules.insmod("ltt_relay_alloc")
            rbc = open_layer(k, "fill", "lockless", "pmem", "per-cpu", subbuf, n)
            data = bytes(2000)
            per = per_cpu_kib * 1024 // 2016
            for cpu in range(8):
                with k.on_cpu(cpu):
                    rb = rbc.buf_for(cpu)
                    for _ in range(per):
                        run_now(k, rbc.layer.write(rb, data))
        finally:
            k.shutdown()
    return os.path.getsize(path)


@pytest.mark.parametrize("per_cpu_kib", [512, 1024, 4096])
def test_crash_extract_rate(benchmark, record_goal, tmp_path, per_cpu_kib):
    img = tmp_path / "region.img"
    size = filled_region(img, per_cpu_kib)
    outs = iter(range(1000))

    def extract():
        return crash_extract(str(img), str(tmp_path / f"out{next(outs)}")).records
    benchmark.group = "crash extract"
    records = benchmark.pedantic(extract, rounds=5, iterations=1)
    assert records > 0
    if benchmark.stats:
        secs = benchmark.stats.stats.min             # the least disturbed round
        mib = size / (1 << 20)
        benchmark.extra_info["MiB_per_s"] = mib / secs
        _EXTRACT[per_cpu_kib] = secs / mib
        print(f"\ncrash extract: {mib:.1f} MiB region, {records} records, "
              f"{secs * 1e3:.0f} ms, {mib / secs:.0f} MiB/s")
        if len(_EXTRACT) == 3:
            ratio = _EXTRACT[4096] / _EXTRACT[512]
            record_goal("crash extract, time per MiB, 32 MiB region / 4 MiB region", ratio,
                        1.5, "x")


