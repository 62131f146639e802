"""Mainline relay's design: pages vmap()ed into one area (kernel/relay.c, 2.6.29).

``relay_alloc_buf`` there makes a page-pointer array (kzalloc up to a page,
vmalloc beyond: relay_alloc_page_array), allocates the pages one at a time
with ``alloc_page(GFP_KERNEL)``, so on the node of the CPU that runs it (the
opener; for a CPU coming up, the CPU running the hotplug callback), then
``vmap``s them and clears the area.  ``placement="local"`` puts the pages on
the buffer's CPU's node instead, for a fair comparison with the page list.

Accesses go through 4 KiB vmap mappings.  On lazy-sync machines an access
from an address space that lacks the area's top-level page-table slot is a
vmalloc fault (kmodel.mm.vmalloc.vmalloc_touch): once per address space and
slot.  The opener's memset goes through the area, so its own address space
takes the fault there, if any.
"""
from hw import PAGE_SHIFT, PAGE_SIZE
from kmodel.core.errno import ENOMEM
from kmodel.mm.gfp import GFP_KERNEL
from kmodel.mm.pgtable import pgd_slots
from kmodel.mm.page import set_page_private
from kmodel.mm.vmalloc import PAGE_KERNEL, VM_MAP
from kmodel.relay.accounting import zeroed_by_opener
from kmodel.relay.backend import Description
from kmodel.relay.contiguous import ContiguousBackend, make_descs


class vmap_buf:
    """The vmap backend's part of a buffer (rchan_buf.priv)."""
    __slots__ = ("area", "pages", "mem")

    def __init__(self, area, pages, mem):
        self.area = area
        self.pages = pages          # the page-pointer array's contents
        self.mem = mem              # the array's own memory (kzalloc or vzalloc)


def relay_alloc_page_array(k, n_pages):
    """relay_alloc_page_array - room for n_pages page pointers: (pages, memory)."""
    pa_size = n_pages * 8
    if pa_size > PAGE_SIZE:
        mem = k.vzalloc(pa_size)
    else:
        mem = k.kzalloc(pa_size, GFP_KERNEL)
    return ([None] * n_pages, mem) if mem is not None else (None, None)


def relay_free_page_array(k, mem):
    if hasattr(mem, "addr"):
        k.vfree(mem)
    else:
        k.kfree(mem)


def vmap_relay_alloc_buf(k, buf, nid):
    """relay_alloc_buf (mainline) - pages, one at a time, then vmap; 0 or -ENOMEM."""
    n_pages = buf.alloc_size >> PAGE_SHIFT
    pages, mem = relay_alloc_page_array(k, n_pages)
    if pages is None:
        return -ENOMEM
    i = 0
    while i < n_pages:
        page = k.alloc_page(GFP_KERNEL) if nid < 0 else k.alloc_pages_node(nid, GFP_KERNEL, 0)
        if page is None:
            break
        set_page_private(page, buf)
        pages[i] = page
        i += 1
    area = k.vmap(pages, n_pages, VM_MAP, PAGE_KERNEL) if i == n_pages else None
    if area is None:
        # depopulate:
        for j in range(i):
            k.__free_page(pages[j])
        relay_free_page_array(k, mem)
        return -ENOMEM
    area.view[:] = bytes(len(area.view))        # memset(mem, 0, *size)
    if area.lazy:                               # ... through the area: the opener's
        k.vm.vmalloc_touch(area, 0, len(area.view))     # address space may fault
    buf.priv = vmap_buf(area, pages, mem)
    buf.view = area.view
    buf.page_count = n_pages
    make_descs(k, buf, pages, buf.nid, 0, area.addr >> PAGE_SHIFT)
    zeroed_by_opener(k, buf)                    # the memset above, on this CPU
    if area.lazy:
        buf.turns = None        # a page change may be a vmalloc fault: _account's touch
    return 0


def vmap_relay_free_buf(k, buf):
    """relay_destroy_buf's freeing (mainline): vunmap, the pages, the array."""
    priv = buf.priv
    k.vunmap(priv.area)
    for page in priv.pages:
        k.__free_page(page)
    relay_free_page_array(k, priv.mem)
    buf.priv = buf.view = buf.turns = None
    buf.descs = []


class VmapBackend(ContiguousBackend):
    name = "vmap"

    @staticmethod
    def tlb_size(tm):
        return 0                    # vmap areas use 4 KiB entries

    @staticmethod
    def fault_address(buf, offset):
        return buf.priv.area.addr + offset

    @staticmethod
    def touch(buf, idx, offset, n):
        area = buf.priv.area
        k = buf.chan.k
        k.timing.tlb_probe(buf.cost, 0, (area.addr >> PAGE_SHIFT) + idx)
        if area.lazy:
            k.vm.vmalloc_touch(area, offset, n)

    def alloc_buf(self, k, buf, nid):
        return vmap_relay_alloc_buf(k, buf, nid)

    def free_buf(self, k, buf):
        vmap_relay_free_buf(k, buf)

    def describe(self, buf):
        area = buf.priv.area
        vm = buf.chan.k.vm
        end = area.addr + area.size - PAGE_SIZE         # the guard page is not the buffer's
        slots = list(pgd_slots(area.addr, end - area.addr))
        missing = sum(1 for mm in vm.pgd_list.values() if not set(slots) <= mm.pgd)
        span = str(slots[0]) if len(slots) == 1 else f"{slots[0]}-{slots[-1]}"
        return Description("vmap area", [
            f"vmap area {area.addr:#x}-{end:#x} ({area.nr_pages} pages), then a guard page",
            f"top-level page-table slot {span}: " + (
                f"missing from {missing} address spaces" if missing else
                "in every address space"),
            "pages[] (the page-pointer array), in address order:"])
