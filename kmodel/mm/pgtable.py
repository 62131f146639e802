"""Address spaces and their top-level page tables, as x86-64 had them in 2.6.29
(arch/x86/include/asm/pgtable_64.h, arch/x86/mm/pgtable.c, arch/x86/mm/fault.c).

Four levels of page table.  A top-level (PGD) entry maps 512 GiB
(``PGDIR_SHIFT`` 39, ``PTRS_PER_PGD`` 512), so the 32 TiB vmalloc range
[VMALLOC_START, VMALLOC_END] spans 64 slots, and a buffer of any size a tracer
uses sits in one of them.

Every address space has its own PGD.  When one is made (``pgd_alloc``), its
kernel half is copied from init_mm's, swapper_pg_dir (``pgd_ctor``:
clone_pgd_range), and it joins ``pgd_list``.  Below the PGD the kernel's page
tables are shared, so a new vmap area in a slot that an address space already
has is visible there at once.  Only a slot that init_mm gains later (the first
mapping there allocates its PUD page) is missing from the PGDs made before:
the first access to it from such an address space is a page fault, and
``vmalloc_fault`` copies the one entry from init_mm (``set_pgd(pgd,
*pgd_ref)``).  ``vmalloc_sync_all`` copies every populated slot of the vmalloc
range into every PGD on pgd_list.

kmodel keeps what decides a fault and nothing else: for each address space,
the set of top-level slots its PGD has.  Differences from Linux: one address
space for each CPU's task (kmodel has one task per CPU; an interrupt runs in
the address space of the task it interrupted, as in Linux, and so does a task
the explorer starts on that CPU, as a kernel thread borrows the previous
task's mm); they are made at boot, after the boot-time vmallocs, and live as
long as the kernel.
"""
PGDIR_SHIFT = 39
PTRS_PER_PGD = 512
PGDIR_SIZE = 1 << PGDIR_SHIFT


def pgd_index(addr):
    """pgd_index - the top-level slot that maps kernel virtual address addr."""
    return (addr >> PGDIR_SHIFT) & (PTRS_PER_PGD - 1)


def pgd_slot_start(slot):
    """pgd_slot_start - the first kernel address a top-level slot maps (the
    upper half: bits 48-63 copy bit 47)."""
    return 0xFFFF000000000000 | (slot << PGDIR_SHIFT) if slot >= PTRS_PER_PGD // 2 \
        else slot << PGDIR_SHIFT


def pgd_slots(addr, size):
    """pgd_slots - the top-level slots of the range [addr, addr + size)."""
    return range(pgd_index(addr), pgd_index(addr + size - 1) + 1)


class mm_struct:
    """struct mm_struct, reduced to its PGD's kernel slots (``pgd``: the indexes
    of the top-level entries present) and a name for messages."""
    __slots__ = ("name", "pgd")

    def __init__(self, name, pgd=()):
        self.name = name
        self.pgd = set(pgd)

    def __repr__(self):
        return f"<mm {self.name}: {len(self.pgd)} kernel slots>"


def pgd_alloc(init_mm, name):
    """pgd_alloc + pgd_ctor - a new address space whose kernel half is a copy
    of init_mm's as it is now."""
    return mm_struct(name, init_mm.pgd)
