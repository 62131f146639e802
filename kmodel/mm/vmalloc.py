"""vmalloc and vmap (mm/vmalloc.c, 2.6.29).

Areas are carved from the kernel's vmalloc range [VMALLOC_START, VMALLOC_END)
first-fit, each with a guard page after it, and kept in ``vmlist`` in address
order as 2.6.29 did.  The mapping is real: hw.mmu maps the area's frames at
consecutive host addresses, and ``area.view`` writes go to the frames.

``vmap`` and ``vmalloc`` return the area (``struct vm_struct``); its ``addr``
is the emulated kernel virtual address and ``view`` the bytes.  ``vunmap`` and
``vfree`` take the area or its address.

Lazy sync: on presets where ``vmalloc_lazy_sync`` is true (x86-64 before
5.8, and so the 2009 era), a top-level page-table slot that init_mm gains
after an address space was made is missing from that address space, and its
first access from there is a vmalloc fault that copies the one PGD entry
(arch/x86/mm/fault.c:vmalloc_fault, 2.6.29; kmodel.mm.pgtable has the
geometry: 512 GiB a slot).  So faults come one per (address space, slot), not
per page: a vmap area in the slot the boot-time vmallocs populated (the first
one, where every area lands until 512 GiB of vmalloc space is in use) never
faults.  ``vmalloc_sync_all()`` copies every populated slot into every address
space.  A fault taken in NMI context is the hazard LTTng's vmalloc_sync_all()
call guards against, and kmodel reports it as an oops (``vmalloc_touch``).
On the other presets every address space has every slot from boot, as x86-64
has since 5.8: no faults.
"""
import bisect
import sys

from hw import PAGE_SHIFT, PAGE_SIZE
from kmodel.cpu.context import in_nmi, iret_in_nmi
from kmodel.mm.gfp import GFP_KERNEL, GFPF_HIGHMEM, GFPF_ZERO
from kmodel.mm.page_alloc import NUMA_NO_NODE, caller_name
from kmodel.mm.pgtable import mm_struct, pgd_alloc, pgd_index, pgd_slot_start, pgd_slots

VMALLOC_START = 0xFFFFC20000000000
VMALLOC_END = 0xFFFFE1FFFFFFFFFF
VM_IOREMAP = 0x1
VM_ALLOC = 0x2
VM_MAP = 0x4
VM_USERMAP = 0x8
VM_VPAGES = 0x10
PAGE_KERNEL = 0x163


class vm_struct:
    __slots__ = ("addr", "size", "flags", "pages", "nr_pages", "pages_mem",
                 "caller", "mapping", "view", "lazy")

    def __init__(self, addr, size, flags, caller):
        self.addr = addr
        self.size = size                # includes the guard page
        self.flags = flags
        self.caller = caller
        self.pages = []
        self.nr_pages = 0
        self.pages_mem = None           # the page-pointer array's own memory
        self.mapping = None
        self.view = None
        self.lazy = False               # some address space lacks one of its slots

    def __repr__(self):
        return f"<vm_struct {self.addr:#x}-{self.addr + self.size:#x}>"


class Vmalloc:
    def __init__(self, kernel, page_alloc, slab, timing):
        self.k = kernel
        self.pa = page_alloc
        self.slab = slab
        self.timing = timing
        self.bug = kernel.bug
        self.lazy_sync = timing.table.vmalloc_lazy_sync
        self.vmlist = []                # sorted by addr
        self._addrs = []
        # init_mm has the slot of VMALLOC_START from early boot: on a NUMA
        # x86-64 kernel, alloc_large_system_hash() vmallocs the big hash tables
        # (hashdist=1) before the first process is made.  Then one address
        # space for each CPU's task, copied from it (pgd_list).
        self.init_mm = mm_struct("init_mm", (pgd_index(VMALLOC_START),))
        self.pgd_list = {cpu: pgd_alloc(self.init_mm, f"cpu{cpu}")
                         for cpu in kernel.cpu_possible_mask}

    # --- address space ------------------------------------------------------
    def get_vm_area(self, size, flags, caller):
        """__get_vm_area_node - reserve size bytes (+ a guard page) of vmalloc space."""
        size = ((size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)) + PAGE_SIZE
        addr = VMALLOC_START
        idx = 0
        for idx, a in enumerate(self.vmlist):
            if addr + size <= a.addr:
                break
            addr = a.addr + a.size
        else:
            idx = len(self.vmlist)
        if addr + size > VMALLOC_END:
            return None
        area = vm_struct(addr, size, flags, caller)
        self.vmlist.insert(idx, area)
        self._addrs.insert(idx, addr)
        return area

    def find_vm_area(self, addr):
        """find_vm_area - the area containing kernel virtual address addr, or None."""
        i = bisect.bisect_right(self._addrs, addr) - 1
        if i >= 0 and addr < self.vmlist[i].addr + self.vmlist[i].size - PAGE_SIZE:
            return self.vmlist[i]
        return None

    def _remove_vm_area(self, area):
        i = bisect.bisect_left(self._addrs, area.addr)
        del self.vmlist[i]
        del self._addrs[i]

    def _map(self, area):
        """map_vm_area: the mapping, made in init_mm's page tables.  The first
        mapping in a top-level slot populates that slot in init_mm (pud_alloc);
        on an eager-sync kernel every address space shares it at once."""
        area.mapping = self.k.mmu.map_frames(p.pfn for p in area.pages)
        area.view = area.mapping.view
        slots = pgd_slots(area.addr, area.size - PAGE_SIZE)
        self.init_mm.pgd.update(slots)
        if not self.lazy_sync:
            for mm in self.pgd_list.values():
                mm.pgd.update(slots)
        area.lazy = self._unsynced(area)

    def _unsynced(self, area):
        """Does some address space lack a top-level slot of area?"""
        slots = pgd_slots(area.addr, area.size - PAGE_SIZE)
        return any(s not in mm.pgd for mm in self.pgd_list.values() for s in slots)

    def _lookup(self, addr_or_area, fn):
        addr = addr_or_area.addr if isinstance(addr_or_area, vm_struct) else addr_or_area
        i = bisect.bisect_left(self._addrs, addr)
        if i == len(self._addrs) or self._addrs[i] != addr:
            self.bug.WARN(True, f"Trying to {fn}() nonexistent vm area ({addr:#x})", depth=3)
            return None
        return self.vmlist[i]

    # --- vmap ---------------------------------------------------------------
    def vmap(self, pages, count, flags=VM_MAP, prot=PAGE_KERNEL):
        """vmap - map count pages at virtually contiguous addresses; area or None."""
        if count <= 0 or count > sum(z.present_pages for z in self.pa.zones):
            return None
        area = self.get_vm_area(count << PAGE_SHIFT, flags, sys._getframe(1).f_code)
        if area is None:
            return None
        area.pages = list(pages[:count])
        area.nr_pages = count
        self._map(area)
        return area

    def vunmap(self, addr):
        """vunmap - release a vmap()ed area; the pages stay allocated."""
        area = self._lookup(addr, "vunmap")
        if area is not None:
            self._unmap(area)

    def _unmap(self, area):
        if area.mapping is not None:
            self.k.mmu.unmap(area.mapping)
            area.mapping = area.view = None
        self._remove_vm_area(area)

    # --- vmalloc ------------------------------------------------------------
    def __vmalloc_node(self, size, gfp, node, caller):
        """__vmalloc_node + __vmalloc_area_node: pages one at a time, then map."""
        size = (size + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)
        if not size or (size >> PAGE_SHIFT) > sum(z.present_pages for z in self.pa.zones):
            return None
        area = self.get_vm_area(size, VM_ALLOC, caller)
        if area is None:
            return None
        nr_pages = size >> PAGE_SHIFT
        array_size = nr_pages * 8           # sizeof(struct page *)
        # The page-pointer array: kmalloc up to a page, vmalloc beyond (recursion).
        if array_size > PAGE_SIZE:
            area.pages_mem = self.__vmalloc_node(array_size, gfp | GFPF_ZERO, node, caller)
            area.flags |= VM_VPAGES
        else:
            area.pages_mem = self.slab.kmalloc_node(array_size, gfp & ~GFPF_HIGHMEM,
                                                     node)
        if area.pages_mem is None:
            self._remove_vm_area(area)
            return None
        for _ in range(nr_pages):
            if node < 0:
                page = self.pa.alloc_pages_internal(gfp, 0, self.k.numa_node_id(), caller)
            else:
                page = self.pa.alloc_pages_internal(gfp, 0, node, caller)
            if page is None:
                self._vfree_area(area)          # frees what was allocated so far
                return None
            area.pages.append(page)
            area.nr_pages += 1
        self._map(area)
        return area

    def vmalloc(self, size):
        """vmalloc - size bytes of virtually contiguous memory, pages from any node."""
        return self.__vmalloc_node(size, GFP_KERNEL, NUMA_NO_NODE, sys._getframe(1).f_code)

    def vzalloc(self, size):
        """vzalloc - vmalloc, zeroed (a later kernel's helper, kept for callers)."""
        return self.__vmalloc_node(size, GFP_KERNEL | GFPF_ZERO, NUMA_NO_NODE,
                                   sys._getframe(1).f_code)

    def vmalloc_node(self, size, node):
        """vmalloc_node - vmalloc with pages from node (falling back by distance)."""
        return self.__vmalloc_node(size, GFP_KERNEL, node, sys._getframe(1).f_code)

    def vzalloc_node(self, size, node):
        return self.__vmalloc_node(size, GFP_KERNEL | GFPF_ZERO, node,
                                   sys._getframe(1).f_code)

    def vfree(self, addr):
        """vfree - release a vmalloc()ed area and its pages; vfree(None) is a no-op."""
        if addr is None:
            return
        area = self._lookup(addr, "vfree")
        if area is not None:
            self._vfree_area(area)

    def _vfree_area(self, area):
        self._unmap(area)
        for page in area.pages:
            self.pa.free_pages(page, 0)
        area.pages = []
        if area.flags & VM_VPAGES:
            self._vfree_area(area.pages_mem)
        else:
            self.slab.kfree(area.pages_mem)
        area.pages_mem = None

    def vmalloc_to_page(self, addr):
        """vmalloc_to_page - the page mapped at kernel virtual address addr, or None."""
        area = self.find_vm_area(addr)
        if area is None or not area.pages:
            return None
        return area.pages[(addr - area.addr) >> PAGE_SHIFT]

    # --- lazy sync ----------------------------------------------------------
    def vmalloc_sync_all(self):
        """vmalloc_sync_all (arch/x86/mm/fault.c, 2.6.29) - copy every populated
        top-level slot of the vmalloc range from init_mm into every PGD on
        pgd_list: no vmalloc fault can follow for what is mapped now."""
        first, last = pgd_index(VMALLOC_START), pgd_index(VMALLOC_END)
        slots = {s for s in self.init_mm.pgd if first <= s <= last}
        for mm in self.pgd_list.values():
            mm.pgd.update(slots)
        for area in self.vmlist:
            area.lazy = False

    def vmalloc_touch(self, area, offset, n):
        """Take the vmalloc faults of an access of n bytes at offset of area,
        made by the CPU that runs now, in its task's address space: one for
        each top-level slot of the access that the address space lacks
        (arch/x86/mm/fault.c:vmalloc_fault copies that PGD entry from init_mm).
        Returns the number of faults taken.

        A fault in NMI context is taken silently, as 2.6.29 took it, but it
        returns with iret, which ends the CPU's blocking of NMIs while the
        handler still runs (kmodel.cpu.context.iret_in_nmi): a second NMI can
        then nest on the one NMI stack, the hazard LTTng's vmalloc_sync_all()
        closes (2.6.37 added WARN_ON_ONCE(in_nmi()) to vmalloc_fault for it).
        Called by users of vmalloc memory only while ``area.lazy`` is set."""
        k = self.k
        cpu = k.current.cpu
        mm = self.pgd_list[cpu]
        addr = area.addr + offset
        faults = 0
        for slot in pgd_slots(addr, n):
            if slot in mm.pgd:
                continue
            if in_nmi(k):
                iret_in_nmi(k, f"a vmalloc fault at {max(addr, pgd_slot_start(slot)):016x} "
                               f"(PGD slot {slot} not yet in {mm.name}'s page tables)")
            mm.pgd.add(slot)            # set_pgd(pgd, *pgd_ref)
            self.timing.vmalloc_fault(self.timing.cpus[cpu])
            faults += 1
        if faults:
            area.lazy = self._unsynced(area)
        return faults

    # --- reporting ----------------------------------------------------------
    def used_bytes(self):
        return sum(a.size - PAGE_SIZE for a in self.vmlist)

    def largest_chunk(self):
        prev = VMALLOC_START
        best = 0
        for a in self.vmlist:
            best = max(best, a.addr - prev)
            prev = a.addr + a.size
        return max(best, VMALLOC_END - prev)

    def vmallocinfo(self):
        """The lines of /proc/vmallocinfo (mm/vmalloc.c:s_show)."""
        out = []
        for a in self.vmlist:
            line = f"0x{a.addr:016x}-0x{a.addr + a.size:016x} {a.size:7d} {caller_name(a.caller)}"
            if a.nr_pages:
                line += f" pages={a.nr_pages}"
            if a.flags & VM_IOREMAP:
                line += " ioremap"
            if a.flags & VM_ALLOC:
                line += " vmalloc"
            if a.flags & VM_MAP:
                line += " vmap"
            if a.flags & VM_VPAGES:
                line += " vpages"
            counts = {}
            for p in a.pages:
                counts[p.nid] = counts.get(p.nid, 0) + 1
            for nid in sorted(counts):
                line += f" N{nid}={counts[nid]}"
            out.append(line)
        return out
