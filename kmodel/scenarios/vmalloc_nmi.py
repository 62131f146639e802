"""vmalloc-nmi: a vmap buffer's first touch in NMI context, on a lazy-sync kernel.

Why LTTng called ``vmalloc_sync_all()`` (docs/mm.md, "vmalloc faults"): on
x86-64 before 5.8, a vmalloc area in a top-level page-table slot that init_mm
gained after a process was made is missing from that process's page tables,
and the first access from there is a page fault (arch/x86/mm/fault.c,
vmalloc_fault, 2.6.29).  A tracer writes from any context, NMIs included.  A
fault taken in an NMI handler returns with iret, which re-enables NMIs while
the handler still runs on its one NMI stack: a second NMI would overwrite it.
(The other hazard, the tracer faulting while it traces the page-fault handler
itself, is the recursion the patch mail means.)

The case: mainline relay's vmap buffer for CPU 1, in a slot that CPU 1's
address space does not have yet.  On x86-64 that takes 512 GiB of vmalloc
space in use before the buffer (every area lands in the first slot until
then), so the setup reserves the rest of the first slot first, as an
ioremap() of a large device window would.  The opener (CPU 0) clears the
buffer through the area, so its own address space faults then, harmlessly.
On CPU 1 a task traces one event, and two NMIs (a perf NMI and a watchdog
NMI, each of which traces) arrive once each and trace one too.  Whichever
writes first faults.  When it is an NMI, the fault is taken silently, as
2.6.29 took it, but its iret stops the CPU blocking NMIs while the handler
still runs, and the other NMI can arrive on top of it, on the same NMI
stack: that nesting is the hazard, reported as the oops it is.

-fixed: the opener calls ``vmalloc_sync_all()`` after the buffer is allocated
(LTTng's wrapper_vmalloc_sync_mappings in lib_ring_buffer_backend_allocate),
and nothing faults.

Each run boots a new kernel (a few ms): an address space keeps a slot once it
has it, so a run on the kernel of the last would find nothing to fault.
"""
from hw import PAGE_SIZE
from kmodel.core.atomic import local_add_return, local_t
from kmodel.cpu.context import NMI
from kmodel.cpu.sched import ScheduleError
from kmodel.mm.pgtable import PGDIR_SIZE
from kmodel.mm.vmalloc import VM_IOREMAP, VMALLOC_START
from kmodel.relay.relay_alloc import ltt_relay_open, ltt_relay_write

MACHINE = "nehalem-2009"
EVENT = 64


class TracedBuffer:
    """The state of a run: the buffer, its write offset, the events written."""

    def __init__(self, buf, offset, commit):
        self.buf = buf
        self.offset = offset
        self.commit = commit
        self.events = 0


def trace_event(state):
    """Reserve EVENT bytes (a local_t add on the buffer's CPU), copy them,
    then commit them (a local_t add on the commit count)."""
    end = yield from local_add_return(state.offset, EVENT)
    ltt_relay_write(state.buf, end - EVENT, b"e" * EVENT, EVENT)
    yield from local_add_return(state.commit, EVENT)
    state.events += 1


def setup_vmalloc_nmi(world, fixed):
    k = world.k
    if not k.vm.lazy_sync:
        raise ScheduleError(f"vmalloc-nmi needs a machine whose vmalloc mappings sync "
                            f"lazily (--machine {MACHINE}); {k.spec.name} has none")
    if "ltt_relay_alloc" not in k.modules.loaded:
        k.modules.insmod("ltt_relay_alloc")
    used = max((a.addr + a.size for a in k.vm.vmlist), default=VMALLOC_START)
    k.vm.get_vm_area(VMALLOC_START + PGDIR_SIZE - used - PAGE_SIZE, VM_IOREMAP,
                     setup_vmalloc_nmi.__code__)
    chan = ltt_relay_open(k, "nmi", None, PAGE_SIZE, 2, None, backend="vmap")
    if fixed:
        k.vmalloc_sync_all()
    state = TracedBuffer(chan.buf[1], local_t(k, 1, name="write_offset"),
                         local_t(k, 1, name="commit_count"))
    world.task(1, trace_event, state, name="tracer")
    world.irq(1, trace_event, state, name="perf_nmi", kind=NMI)
    world.irq(1, trace_event, state, name="watchdog_nmi", kind=NMI)
    return state


def check_vmalloc_nmi(state, final):
    if final and state.events != 3:
        return f"{state.events} events written, expected 3"
    return None
