"""vmalloc faults as x86-64 takes them (arch/x86/mm/fault.c:vmalloc_fault, 2.6.29):
one per (address space, top-level page-table slot of 512 GiB), never per page;
none after vmalloc_sync_all(); and, in NMI context, the hazard reported."""
import pytest
from hypothesis import given, strategies as st

from hw import PAGE_SIZE
from kmodel.core.bug import Oops
from kmodel.cpu.context import NMI, context_enter, context_exit
from kmodel.mm.pgtable import PGDIR_SIZE, pgd_index, pgd_slot_start, pgd_slots
from kmodel.mm.vmalloc import VM_IOREMAP, VMALLOC_END, VMALLOC_START
from kmodel.relay.relay_alloc import ltt_relay_write
from relay_helpers import RelayEnv


def test_geometry_of_2_6_29():
    """PGDIR_SHIFT 39, 512 entries: the 32 TiB vmalloc range is slots 388-451,
    and VMALLOC_START is the first address of its slot."""
    assert PGDIR_SIZE == 512 << 30
    assert pgd_index(VMALLOC_START) == 388 and pgd_index(VMALLOC_END) == 451
    assert pgd_slot_start(388) == VMALLOC_START
    assert len(pgd_slots(VMALLOC_START, VMALLOC_END - VMALLOC_START + 1)) == 64


@given(st.integers(0, 1 << 44), st.integers(1, 1 << 41))
def test_pgd_slots_against_page_by_page(off, size):
    """The slots of a range are those of its first and last byte and all
    between: the same set as taking every 4 KiB page's slot (a page never
    straddles a slot)."""
    addr = VMALLOC_START + off
    size = min(size, VMALLOC_END - addr + 1)
    pages = range(addr & ~(PAGE_SIZE - 1), addr + size, PAGE_SIZE)
    slow = set()
    for p in (pages if len(pages) < 4096 else list(pages[:2048]) + list(pages[-2048:])):
        slow.add(pgd_index(p))
    fast = set(pgd_slots(addr, size))
    assert slow <= fast and min(fast) == pgd_index(addr) and max(fast) == \
        pgd_index(addr + size - 1) and fast == set(range(min(fast), max(fast) + 1))


def touch_from_every_cpu(k, chan, buf_cpu):
    """Each online CPU writes every page of CPU buf_cpu's buffer, on itself."""
    buf = chan.buf[buf_cpu]
    before = k.timing.totals()["vmalloc_faults"]
    for cpu in k.for_each_online_cpu():
        with k.on_cpu(cpu):
            for off in range(0, buf.alloc_size, PAGE_SIZE):
                ltt_relay_write(buf, off, b"x" * 64, 64)
    return k.timing.totals()["vmalloc_faults"] - before


def reserve_up_to(k, addr):
    """Reserve vmalloc address space (no pages, as ioremap() of a device
    window would) so that the next area starts at addr."""
    used = max((a.addr + a.size for a in k.vm.vmlist), default=VMALLOC_START)
    k.vm.get_vm_area(addr - used - PAGE_SIZE, VM_IOREMAP, reserve_up_to.__code__)


def test_a_buffer_in_the_boot_slot_never_faults(kernel_factory):
    """nehalem-2009 has 8 CPUs, so 8 address spaces.  Every area lands in slot
    388, which init_mm had from boot and every address space copied when it
    was made: 8 x 0 missing slots = 0 faults, however many pages (16 here)."""
    k = kernel_factory("nehalem-2009")
    assert k.vm.lazy_sync and k.num_online_cpus() == 8
    chan = RelayEnv(k).open(8 * PAGE_SIZE, 2, backend="vmap")
    assert pgd_index(chan.buf[3].priv.area.addr) == 388
    assert touch_from_every_cpu(k, chan, 3) == 0


def test_a_buffer_across_two_fresh_slots_faults_once_per_address_space_and_slot(
        kernel_factory):
    """The same, with CPU 3's buffer (16 pages) starting 8 pages before the
    end of slot 389, so it spans slots 389 and 390, which nobody had: 8
    address spaces x 2 slots = 16 faults.  The opener (CPU 0) clears each
    buffer through its area when it allocates it, and so takes its own 2 then
    (389 at the first buffer, 390 at CPU 3's); the
    other 7 CPUs take 7 x 2 = 14 when they touch it, one per slot, not one per
    page (16 pages each).  A second pass takes none."""
    k = kernel_factory("nehalem-2009")
    env = RelayEnv(k)
    start = VMALLOC_START + 2 * PGDIR_SIZE - 8 * PAGE_SIZE
    # CPUs 0-2's buffers (16 pages + a guard page each) go first
    reserve_up_to(k, start - 3 * 17 * PAGE_SIZE)
    opened = k.timing.totals()["vmalloc_faults"]
    chan = env.open(8 * PAGE_SIZE, 2, backend="vmap")
    area = chan.buf[3].priv.area
    assert area.addr == start and list(pgd_slots(area.addr, 16 * PAGE_SIZE)) == [389, 390]
    opener = k.timing.totals()["vmalloc_faults"] - opened
    assert opener == 2      # slot 389 at CPU 0's own buffer, slot 390 at CPU 3's
    assert touch_from_every_cpu(k, chan, 3) == 7 * 2
    assert touch_from_every_cpu(k, chan, 3) == 0
    assert all({389, 390} <= mm.pgd for mm in k.vm.pgd_list.values())


def test_vmalloc_sync_all_leaves_nothing_to_fault(kernel_factory):
    """The same buffer, with vmalloc_sync_all() after the open (LTTng's call):
    0 faults from the 8 CPUs."""
    k = kernel_factory("nehalem-2009")
    env = RelayEnv(k)
    reserve_up_to(k, VMALLOC_START + 2 * PGDIR_SIZE - 8 * PAGE_SIZE - 3 * 17 * PAGE_SIZE)
    chan = env.open(8 * PAGE_SIZE, 2, backend="vmap")
    k.vmalloc_sync_all()
    assert not chan.buf[3].priv.area.lazy
    assert all({389, 390} <= mm.pgd for mm in k.vm.pgd_list.values())
    assert touch_from_every_cpu(k, chan, 3) == 0


def test_eager_presets_never_fault(kernel_factory):
    k = kernel_factory("xeon-2s-skylake")
    env = RelayEnv(k)
    reserve_up_to(k, VMALLOC_START + PGDIR_SIZE)
    chan = env.open(8 * PAGE_SIZE, 2, backend="vmap")
    assert pgd_index(chan.buf[3].priv.area.addr) == 389
    assert touch_from_every_cpu(k, chan, 3) == 0


def test_a_fault_in_an_nmi_lets_a_second_nmi_nest(kernel_factory):
    """2.6.29 takes the fault silently, but its iret ends the CPU's blocking
    of NMIs: a second NMI can now arrive while the first handler runs, and
    that nesting is the oops.  Without the fault, or once the first NMI has
    returned, a second NMI waits or comes as it should."""
    k = kernel_factory("nehalem-2009")
    env = RelayEnv(k)
    reserve_up_to(k, VMALLOC_START + PGDIR_SIZE)
    chan = env.open(PAGE_SIZE, 2, backend="vmap")
    buf = chan.buf[1]
    with k.on_cpu(1):
        ex = k.cpu_exec[1]
        nmi = context_enter(k, 1, NMI, "perf_nmi")
        assert not ex.can_take(NMI)                 # blocked until an iret
        assert ltt_relay_write(buf, 0, b"x" * 64, 64) == 64     # the fault, taken
        assert 389 in k.vm.pgd_list[1].pgd
        assert ex.can_take(NMI)                     # the fault's iret unblocked NMIs
        with pytest.raises(Oops, match="NMI watchdog_nmi nested in NMI perf_nmi"):
            context_enter(k, 1, NMI, "watchdog_nmi")
        context_exit(k, nmi)
        assert not ex.can_take(NMI) or len(ex.stack) == 1
        again = context_enter(k, 1, NMI, "watchdog_nmi")   # after the first returned
        assert ltt_relay_write(buf, 64, b"x" * 64, 64) == 64    # no fault: no iret
        assert not ex.can_take(NMI)
        context_exit(k, again)
    assert "the first handler took a vmalloc fault at" in k.log.text()


@pytest.mark.parametrize("name, failed", [("vmalloc-nmi", True), ("vmalloc-nmi-fixed", False)])
def test_the_explorer_finds_the_nmi_fault_and_not_after_sync(name, failed):
    from kmodel.cpu.explore import explore
    from kmodel.kernel import boot
    from kmodel.scenarios.races import get_race
    setup, check = get_race(name)
    res = explore(setup, check, strategy="exhaustive", runs=100, bound=2,
                  kernel=lambda: boot("nehalem-2009"))
    assert (res.failure is not None) == failed
    assert res.complete or failed
    if failed:
        assert "nested in NMI" in res.failure.message
        again = explore(setup, check, replay=res.failure.token,
                        kernel=lambda: boot("nehalem-2009"))
        assert again.failure.message == res.failure.message
