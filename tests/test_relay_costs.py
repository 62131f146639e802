"""Modeled costs of relay accesses: deterministic, worked out by hand where small."""
import pytest

from hw import PAGE_SIZE
from kmodel.mm.pgtable import PGDIR_SIZE
from kmodel.mm.vmalloc import VMALLOC_START
from kmodel.relay.relay_alloc import ltt_relay_close, ltt_relay_read, ltt_relay_write
from relay_helpers import RelayEnv


def fill(buf, nbytes, step=64, start=0):
    data = b"t" * step
    for off in range(start, start + nbytes, step):
        ltt_relay_write(buf, off, data, step)


def delta(k, fn):
    before = k.timing.totals()
    fn()
    after = k.timing.totals()
    return {key: (after[key] - before[key]) if isinstance(after[key], int) else after[key]
            for key in after}


def test_hand_worked_pagelist_case(k):
    """numa2 (2 GHz; one core copies 64 GB/s in L1: 32 bytes a cycle), CPU 0, a
    4-page buffer: 64 writes of 64 B fill page 0 through the fast path, then one
    write on page 1.  The buffer (16 KiB) is the CPU's whole working set and
    fits the 32 KiB L1: 4160 bytes / 32 = 130 cycles.  The page change is one
    list step, a dependent load of page 1's buf_page (4 buf_pages of 32 B, in
    L1: 4 cycles), and a 1 GiB TLB miss (30 cycles).  Total 164 cycles."""
    env = RelayEnv(k)
    chan = env.open(4096, 4)
    d = delta(k, lambda: (fill(chan.buf[0], 4096), fill(chan.buf[0], 64, start=4096)))
    assert d["cycles"] == 164
    assert d["ops"] == 65 and d["bytes_local"] == 4160 and d["bytes_remote"] == 0
    assert d["lines_by_node"] == [65, 0]
    assert d["tlb_lookups_1G"] == 65 and d["tlb_misses_1G"] == 1
    assert d["walk_steps"] == 0 and d["list_iters"] == 1
    assert d["meta_lines_local"] == 2 * 65 + 1 and d["meta_lines_remote"] == 0


def test_same_workload_same_numbers(kernel_factory):
    def run():
        k = kernel_factory("xeon-2s-skylake")
        env = RelayEnv(k)
        for be in ("pagelist", "vmap"):
            chan = env.open(8192, 8, backend=be, name=be)
            fill(chan.buf[9], 3 * 65536, step=256)
        return k.timing.totals()
    assert run() == run()


@pytest.mark.parametrize("backend", ["pagelist", "vmap"])
def test_mainline_placement_makes_far_writers_remote(env_factory, backend):
    """The far writer's bytes are remote either way; what a second pass (the
    first fetches the lines the opener's zeroing left) costs depends on where
    they are served.  A 16 KiB buffer fits the L1: remote or local, the same
    16384 / 32 = 512 cycles, with no consumer to take its lines away.  An
    8 MiB buffer spills the 4 MiB LLC: local DRAM streams at 8 GB/s (0.25
    cycles a byte at 2 GHz), remote at 4 GB/s (0.5 a byte), so the remote pass
    costs 8 MiB x 0.25 = 2,097,152 cycles more.
    (8 MiB on each CPU fits numa2 with 6 CPUs up, one channel at a time; the
    TLB's share, which differs with where the pages are, is taken out.)"""
    env = env_factory("numa2", maxcpus=6)
    k = env.k
    k.current.cpu = 0                                  # the opener is on node 0
    costs = {}
    for size, n in ((4096, 4), (2 << 20, 4)):
        for placement in ("local", "opener"):
            chan = env.open(size, n, backend=backend, placement=placement, name=placement)
            fill(chan.buf[5], size * n, step=4096)     # first pass: TLB, zeroed lines
            d = delta(k, lambda: fill(chan.buf[5], size * n, step=4096))
            key = "bytes_local" if placement == "local" else "bytes_remote"
            assert d[key] == size * n and d["bytes_local"] + d["bytes_remote"] == size * n
            costs[(size * n, placement)] = d["cycles"] - tlb_cycles(k, d)
            ltt_relay_close(chan)
    assert costs[(16384, "opener")] == costs[(16384, "local")]
    assert costs[(8 << 20, "opener")] - costs[(8 << 20, "local")] == (8 << 20) // 4
    # writers on the opener's node are local either way
    opener = env.open(4096, 4, backend=backend, placement="opener", name="again")
    assert delta(k, lambda: fill(opener.buf[1], 4096))["bytes_remote"] == 0


def tlb_cycles(k, d):
    t = k.timing.table
    return sum(d[f"tlb_misses_{s}"] * t.page_walk_cycles + d[f"stlb_hits_{s}"] * t.stlb_hit_cycles
               for s in ("4K", "2M", "1G"))


@pytest.fixture
def env_factory(kernel_factory):
    def make(machine, **kw):
        return RelayEnv(kernel_factory(machine, **kw))
    return make


def test_vmap_tlb_misses_grow_with_buffer_size(env_factory):
    """Two sequential passes.  64 pages fit the 1536-entry STLB: the second pass
    misses nothing.  4096 pages do not: every page misses again.  The page list
    goes through the 1 GiB linear map: one miss."""
    env = env_factory("xeon-2s-skylake", maxcpus=4)
    k = env.k
    out = {}
    for pages in (64, 4096):
        for be in ("vmap", "pagelist"):
            chan = env.open(pages * PAGE_SIZE // 4, 4, backend=be, name=f"{be}{pages}")
            buf = chan.buf[3]
            d1 = delta(k, lambda: fill(buf, pages * PAGE_SIZE, step=4096))
            d2 = delta(k, lambda: fill(buf, pages * PAGE_SIZE, step=4096))
            out[(be, pages)] = (d1["tlb_misses_4K"], d2["tlb_misses_4K"], d1["tlb_misses_1G"]
                                + d2["tlb_misses_1G"])
            ltt_relay_close(chan)
    assert out[("vmap", 64)] == (64, 0, 0)
    assert out[("vmap", 4096)] == (4096, 4096, 0)
    assert out[("pagelist", 64)][:2] == (0, 0) and out[("pagelist", 64)][2] <= 1
    assert out[("pagelist", 4096)][:2] == (0, 0) and out[("pagelist", 4096)][2] <= 1


def test_vmalloc_faults_until_sync_on_lazy_preset_only(env_factory):
    """A vmap buffer in the slot every address space has from boot (where
    areas land) takes no fault; one in a fresh slot takes one per address
    space that touches it, and none after vmalloc_sync_all().  The page list
    and the eager presets never fault."""
    env = env_factory("nehalem-2009")
    k = env.k
    chan = env.open(8192, 4, backend="vmap")           # 8 pages, in slot 388
    with k.on_cpu(2):
        assert delta(k, lambda: fill(chan.buf[2], 8 * PAGE_SIZE))["vmalloc_faults"] == 0
    used = max(a.addr + a.size for a in k.vm.vmlist)
    k.vm.get_vm_area(VMALLOC_START + PGDIR_SIZE - used - PAGE_SIZE, 0, None)
    far = env.open(8192, 4, backend="vmap", name="far")   # slot 389
    with k.on_cpu(2):
        assert delta(k, lambda: fill(far.buf[2], 8 * PAGE_SIZE))["vmalloc_faults"] == 1
        assert delta(k, lambda: fill(far.buf[2], 8 * PAGE_SIZE))["vmalloc_faults"] == 0
    k.vmalloc_sync_all()
    with k.on_cpu(6):
        assert delta(k, lambda: fill(far.buf[6], 8 * PAGE_SIZE))["vmalloc_faults"] == 0
    pl = env.open(8192, 4, name="pl")                  # the page list never faults
    assert delta(k, lambda: fill(pl.buf[2], 8 * PAGE_SIZE))["vmalloc_faults"] == 0
    modern = env_factory("xeon-2s-skylake")
    mchan = modern.open(8192, 4, backend="vmap")
    assert delta(modern.k, lambda: fill(mchan.buf[2], 8 * PAGE_SIZE))["vmalloc_faults"] == 0


@pytest.mark.parametrize("distance", [1, 2, 4, 8, 15])
def test_walk_steps_grow_with_random_access_distance(env_factory, distance):
    env = env_factory("numa2")
    chan = env.open(16384, 4)                          # 16 pages: up to 8 forward
    buf = chan.buf[0]
    d = delta(env.k, lambda: ltt_relay_write(buf, distance * PAGE_SIZE, b"r", 1))
    ahead = distance if distance <= 8 else 16 - distance   # the short way round
    assert d["walk_steps"] == ahead - 1 and d["list_iters"] == ahead


@pytest.mark.parametrize("backend", ["vmap", "pagelist"])
def test_exact_tlb_mode_sees_what_interleaving_evicts(kernel_factory, backend):
    """The writer stays on page 0 while a reader sweeps 100 other 4 KiB pages of
    another buffer on the same CPU: the writer's L1 TLB entry is evicted (64
    entries).  By default the writer's next access on its own page is taken as a
    hit (its stream never left the page); with CONFIG_KMODEL_EXACT_TLB=y every
    access goes through the TLB model and the STLB hit shows.  Data is the same."""
    def run(exact):
        k = kernel_factory("numa2", config=[f"CONFIG_KMODEL_EXACT_TLB={'y' if exact else 'n'}"])
        env = RelayEnv(k)
        w = env.open(4096, 4, backend=backend, name="w")
        r = env.open(128 * 1024, 4, backend="vmap", name="r")
        ltt_relay_write(w.buf[0], 0, b"a", 1)
        for page in range(100):
            ltt_relay_read(r.buf[0], page * PAGE_SIZE, bytearray(1), 1)
        d = delta(k, lambda: ltt_relay_write(w.buf[0], 64, b"b", 1))
        out = bytearray(2)
        ltt_relay_read(w.buf[0], 0, out, 1)
        ltt_relay_read(w.buf[0], 64, memoryview(out)[1:], 1)
        return d, bytes(out)
    (d0, data0), (d1, data1) = run(False), run(True)
    assert data0 == data1 == b"ab"
    if backend == "vmap":
        assert d0["stlb_hits_4K"] == 0 and d1["stlb_hits_4K"] == 1
        assert d1["cycles"] - d0["cycles"] == 9            # Skylake-class STLB hit
    else:
        # the page list's linear-map 1G entry was never evicted: same either way
        assert d0["cycles"] == d1["cycles"] and d1["tlb_misses_1G"] == 0


def test_a_walk_costs_the_latency_of_where_its_buf_pages_are(env_factory):
    """A list walk chases buf_pages one by one: each step is a dependent load.
    An 8 MiB buffer has 2048 buf_pages of 32 B: 64 KiB, past numa2's 32 KiB
    L1, so each step is an L2 hit, 12 cycles (4 in the 16-page buffer of
    test_hand_worked_pagelist_case).  A 64-byte write 5 pages ahead: 5 steps,
    60 cycles; its 64 bytes stream from local DRAM (8 MiB > the 4 MiB LLC) at
    8 GB/s, 0.25 cycles a byte: 16 cycles; and whatever the TLB took."""
    env = env_factory("numa2", maxcpus=2)
    chan = env.open(1 << 20, 8)
    buf = chan.buf[0]
    d = delta(env.k, lambda: ltt_relay_write(buf, 5 * PAGE_SIZE, b"w" * 64, 64))
    assert d["list_iters"] == 5
    assert d["cycles"] == 5 * 12 + 16 + tlb_cycles(env.k, d)
