"""reserve_mem=: memory kept from the page allocator at boot, found by name.

Mirrors mm/memblock.c's ``reserve_mem=nn[KMG]:align:name`` (added for Linux 6.11,
Steven Rostedt, June 2024):
``nn`` bytes aligned to ``align`` are taken from the top of memory (memblock
allocates top-down) before the buddy allocator is seeded, so no allocation
ever hands them out, and ``reserve_mem_find_by_name(name)`` gives the range to
whoever wants it (a persistent trace buffer).  The placement depends only on
the machine and the parameter, so the next boot on the same machine finds the
region at the same physical address, as the memory that survives a hot reboot
needs.

Differences: one region (Linux keeps a table of 8); when the machine has a
``--pmem`` file, the region's frames are that file's bytes (hw.machine).
Linux's reserve_mem() calls memblock_phys_alloc and reserved_mem_add and
nothing else: the region shows in neither /proc/iomem nor dmesg.  kmodel
shows it in both, an extension (procfs.py, kernel.py).  And Linux only tries
to land at the same address: its kernel-parameters.txt says the location "is
not guaranteed to be the same" (KASLR, or any change to the system, can move
it) and asks every user to check that the memory holds a previous boot's
data.  Here the placement is a function of the machine and the parameter,
so it is the same on every boot; the pmem layout checks its header anyway.
"""
from dataclasses import dataclass

from hw import PAGE_SHIFT, PAGE_SIZE
from hw.units import format_size, parse_size


class ReserveMemError(ValueError):
    pass


@dataclass(frozen=True)
class ReservedMem:
    name: str
    start: int                  # physical address
    size: int

    @property
    def start_pfn(self):
        return self.start >> PAGE_SHIFT

    @property
    def nr_pages(self):
        return self.size >> PAGE_SHIFT


def parse_reserve_mem(text):
    """parse_reserve_mem - (size, align, name) of 'nn[KMG]:align:name'."""
    parts = text.split(":")
    if len(parts) != 3 or not parts[2]:
        raise ReserveMemError(f"reserve_mem={text}: expected SIZE:ALIGN:NAME "
                              f"(e.g. reserve_mem=16M:4096:trace)")
    try:
        size, align = parse_size(parts[0]), parse_size(parts[1])
    except ValueError as e:
        raise ReserveMemError(f"reserve_mem={text}: {e}") from None
    if size <= 0 or size % PAGE_SIZE:
        raise ReserveMemError(f"reserve_mem={text}: size must be a positive multiple "
                              f"of the page size ({PAGE_SIZE})")
    if align < PAGE_SIZE or align & (align - 1):
        raise ReserveMemError(f"reserve_mem={text}: align must be a power of two, at "
                              f"least a page")
    if not parts[2].isidentifier():
        raise ReserveMemError(f"reserve_mem={text}: name must be a word (letters, digits, _)")
    return size, align, parts[2]


def reserve_mem_place(physmem, size, align, name):
    """The range memblock's top-down allocation would give: at the top of the
    last node, aligned down.  Refused if it would take over half the node."""
    node = physmem.nodes[-1]
    top = node.end_pfn << PAGE_SHIFT
    start = (top - size) & ~(align - 1)
    if start < (node.start_pfn << PAGE_SHIFT) or size > (node.nr_pages << PAGE_SHIFT) // 2:
        raise ReserveMemError(f"reserve_mem: {format_size(size)} for {name} does not fit "
                              f"in node {node.nid} ({format_size(node.nr_pages << PAGE_SHIFT)}; "
                              f"at most half of it)")
    return ReservedMem(name, start, size)
