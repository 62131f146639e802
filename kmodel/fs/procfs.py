"""/proc files of memory management: buddyinfo, iomem, meminfo, vmallocinfo, vmstat."""
from hw import PAGE_SHIFT
from kmodel.mm.vmalloc import VMALLOC_END, VMALLOC_START


def _kb(pages):
    return pages << (PAGE_SHIFT - 10)


def register_procfs(k):
    fs = k.fs
    pa = k.page_alloc

    def buddyinfo():
        # mm/vmstat.c:frag_show_print
        out = []
        for z in pa.zones:
            counts = "".join(f"{z.nr_free(o):6d} " for o in range(pa.MAX_ORDER))
            out.append(f"Node {z.nid}, zone {'Normal':>8s} {counts}\n")
        return "".join(out)

    def meminfo():
        # fs/proc/meminfo.c, the lines this kernel has
        total = sum(z.present_pages for z in pa.zones)
        vm_used = k.vm.used_bytes()
        rows = [("MemTotal", _kb(total)), ("MemFree", _kb(pa.nr_free_pages())),
                ("Slab", _kb(sum(k.slab.slab_pages))),
                ("VmallocTotal", (VMALLOC_END - VMALLOC_START) >> 10),
                ("VmallocUsed", vm_used >> 10),
                ("VmallocChunk", k.vm.largest_chunk() >> 10)]
        return "".join(f"{(n + ':'):<16}{v:8d} kB\n" for n, v in rows)

    def vmallocinfo():
        return "".join(line + "\n" for line in k.vm.vmallocinfo())

    def vmstat():
        rows = [("nr_free_pages", pa.nr_free_pages()), ("nr_slab", sum(k.slab.slab_pages)),
                ("pgalloc_normal", pa.pgalloc), ("pgfree", pa.pgfree),
                ("pgalloc_fail", pa.alloc_failures)]
        return "".join(f"{n} {v}\n" for n, v in rows)

    def iomem():
        # kernel/resource.c:r_show: RAM by node, and (a kmodel extension: Linux's
        # reserve_mem adds no resource) the reserve_mem region nested in it
        out = []
        r = k.reserved_mem
        for node in k.physmem.nodes:
            lo, hi = node.start_pfn << PAGE_SHIFT, (node.end_pfn << PAGE_SHIFT) - 1
            out.append(f"{lo:08x}-{hi:08x} : System RAM\n")
            if r is not None and lo <= r.start <= hi:
                out.append(f"  {r.start:08x}-{r.start + r.size - 1:08x} : reserve_mem:{r.name}\n")
        return "".join(out)

    fs.create_file("/proc/buddyinfo", buddyinfo)
    fs.create_file("/proc/iomem", iomem, mode=0o400)
    fs.create_file("/proc/meminfo", meminfo)
    fs.create_file("/proc/vmallocinfo", vmallocinfo, mode=0o400)
    fs.create_file("/proc/vmstat", vmstat)
