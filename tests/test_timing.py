"""The modeled counters on small cases worked out by hand."""
from hw.tlb import LRU


def test_remote_access_hand_worked(k):
    tm = k.timing
    c = tm.cpus[0]                      # CPU 0 is on node 0
    # 100 bytes at physical 0x4000_0000 + 60 on node 1 (numa2: 2 GHz, 144 ns remote):
    # lines 0..2 -> 3 lines x round(144 x 2.0) = 864 cycles; first 1G-page lookup is a
    # page walk: +30.  Total 894.
    tm.linear(c, 1, (1 << 26) + 60, 100)
    assert c.lines == [0, 3] and c.bytes == [0, 100]
    assert c.tlb_lookups == [0, 0, 1] and c.tlb_misses == [0, 0, 1]
    assert c.cycles == 894
    # Again: the same 1G page is a TLB hit; one aligned remote line, 288 cycles.
    tm.linear(c, 1, (1 << 26) + 128, 64)
    assert c.cycles == 894 + 288 and c.tlb_misses == [0, 0, 1]
    t = tm.totals()
    assert t["bytes_remote"] == 164 and t["bytes_local"] == 0


def test_same_work_same_numbers(kernel_factory):
    def run():
        k = kernel_factory("xeon-2s-skylake")
        c = k.timing.cpus[3]
        for i in range(5000):
            k.timing.tlb(c, 0, (i * 7919) % 3000)
            k.timing.mem(c, i % 2, i * 24, 24)
        return k.timing.totals()
    assert run() == run()


def test_lru_tlb_exact_on_small_case():
    t = LRU(2)
    assert [t.access(x) for x in [1, 2, 1, 3, 2, 1]] == [False, False, True, False,
                                                         False, False]


def test_stlb_catches_l1_misses(kernel_factory):
    k = kernel_factory("numa2")
    tm = k.timing
    c = tm.cpus[0]
    for vpn in range(100):              # 100 4K pages: more than the 64-entry L1
        tm.tlb(c, 0, vpn)
    for vpn in range(100):              # second pass: L1 misses, STLB (1536) hits
        tm.tlb(c, 0, vpn)
    assert c.tlb_misses[0] == 100 and c.stlb_hits[0] == 100


def test_the_explorers_summary_is_what_totals_says(kernel_factory):
    """summary() (read after every explored run) gives the same four figures
    as totals(), streamed bytes included; a reset leaves every counter zero
    and the TLBs empty (a run starts where the last one did not leave it)."""
    from kmodel.core.atomic import atomic_long_t
    k = kernel_factory("xeon-2s-skylake")
    tm = k.timing
    word = atomic_long_t(k, name="w")             # a line the CPUs pass around
    for cpu in (0, 3, 9):
        c = tm.cpus[cpu]
        tm.stream(c, 1, 10_000, ws=1 << 30)
        tm.atomic(c, word, True)
        tm.irq_flags(c, False)
        tm.tlb(c, 0, 42)
        tm.mem(c, 0, 4096, 64)
    t = tm.totals()
    assert tm.summary() == {key: t[key] for key in ("cycles", "atomics", "line_transfers",
                                                     "irq_flag_ops")}
    assert t["cycles"] > sum(c.cycles for c in tm.cpus.values())    # the streamed bytes count
    tm.reset()
    assert all(v == 0 or v == [0] * len(v) for v in tm.totals().values())
    tm.tlb(tm.cpus[3], 0, 42)                   # the TLB was flushed: a miss again
    assert tm.cpus[3].tlb_misses[0] == 1
