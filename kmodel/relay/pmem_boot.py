"""What the relay module does with the pmem region when it loads: find the
trace a previous boot left there, keep it read-only or wipe it.

As pstore does with its records, and as ftrace does with a boot-mapped
persistent ring buffer, the module validates the region before anyone writes
to it (pmem_layout.scan_region: the magic, the layout version, the sizes and
bounds, and each sub-buffer against its commit sequence and checksums):

- an empty region (never formatted, or cleared) is free;
- a region that fails the header checks is reported in dmesg, with the field
  and offset, and wiped;
- a valid one is kept as the previous boot's trace under
  /sys/kernel/debug/ltt/previous_boot/ (``info``, ``trace``, and ``clear`` to
  let it go once saved); a pmem channel cannot be opened until it is cleared.

It runs as the pmem backend's module_init (backend.py), and keeps the
region's state in the module's slot for that backend (PmemState, in
``mod.backend_priv["pmem"]``).
"""
from hw import PAGE_SHIFT
from kmodel.core.errno import EINVAL
from kmodel.core.printk import KERN_INFO, KERN_WARNING
from kmodel.fs.debugfs import debugfs_create_dir, debugfs_remove
from kmodel.fs.vfs import S_IRUSR, S_IWUSR
from kmodel.relay.pmem_layout import (FREE_MAGIC, HEADER_SIZE, PmemLayoutError, free_header,
                                      info_text, region_magic, scan_region,
                                      trace_text)

PREVIOUS_DIR = "ltt/previous_boot"
PMEM_REGION = "trace"           # the reserve_mem name the backend uses


class PmemState:
    """The region as the relay module sees it (mod.backend_priv["pmem"]): where
    it is, who holds it."""

    def __init__(self, start, size, view):
        self.start = start
        self.size = size
        self.view = view        # the region through the linear map
        self.owner = None       # the channel formatted on it
        self.nbufs = 0
        self.previous = None    # the previous boot's trace (pmem_boot.Previous), kept


def region_view(k, start, size):
    """The bytes [start, start+size) of physical memory, through the linear map."""
    pfn = start >> PAGE_SHIFT
    node = k.physmem.nodes[k.physmem.pfn_to_nid(pfn)]
    off = (pfn - node.start_pfn) << PAGE_SHIFT
    return node.view[off:off + size]


def pmem_state(k):
    """pmem_state - the region's PmemState, or None (no region, or no module)."""
    mod = k.modules.get("ltt_relay_alloc")
    return mod.backend_priv.get("pmem") if mod is not None else None


class Previous:
    """The previous boot's trace, as found at load: the scan, and its files."""

    def __init__(self, scan, dentry):
        self.scan = scan
        self.dentry = dentry


def _clear_store(mod, text):
    """clear: echo 1 lets the previous trace go."""
    if text.strip() != "1":
        return -EINVAL
    pmem_clear(mod)
    return len(text)


def pmem_boot(mod):
    """pmem_boot - at module init: the region's state, its previous trace kept
    or wiped.  Nothing to do without a reserve_mem region for the trace."""
    k = mod.k
    found = k.reserve_mem_find_by_name(PMEM_REGION)
    if found is None:
        return
    start, size = found
    st = mod.backend_priv["pmem"] = PmemState(start, size, region_view(k, start, size))
    if region_magic(st.view[:8]) == FREE_MAGIC or not any(st.view[:HEADER_SIZE]):
        k.printk(KERN_INFO + f"ltt_relay: pmem: region {PMEM_REGION} is empty")
        return
    try:
        scan = scan_region(st.view)
    except PmemLayoutError as e:
        k.printk(KERN_WARNING + f"ltt_relay: pmem: region {PMEM_REGION} holds no valid "
                 f"trace ({e}); wiped")
        st.view[:HEADER_SIZE] = free_header()
        return
    d = debugfs_create_dir(k.fs, PREVIOUS_DIR)
    info, trace = info_text(scan), trace_text(scan)
    k.fs.create_file("info", lambda: info, mode=S_IRUSR, parent=d)
    k.fs.create_file("trace", lambda: trace, mode=S_IRUSR, parent=d)
    k.fs.create_file("clear", store=lambda text: _clear_store(mod, text), mode=S_IWUSR,
                     parent=d)
    st.previous = Previous(scan, d)
    k.printk(KERN_INFO + f"ltt_relay: pmem: previous boot's trace kept read-only: channel "
             f"{scan.header['name']!r}, {sum(len(p) for p in scan.packets.values())} packets, "
             f"{'records not walked' if scan.records is None else f'{scan.records} records'}, "
             f"{sum(scan.dropped.values())} sub-buffers dropped "
             f"(/sys/kernel/debug/{PREVIOUS_DIR})")


def pmem_clear(mod):
    """Let the previous trace go: the region is wiped and free for a channel."""
    st = mod.backend_priv.get("pmem")
    if st is None or st.previous is None:
        return
    debugfs_remove(mod.k.fs, st.previous.dentry)
    st.view[:HEADER_SIZE] = free_header()
    st.previous = None
    mod.k.printk(KERN_INFO + f"ltt_relay: pmem: previous trace cleared; region "
                 f"{PMEM_REGION} is free")


def pmem_exit(mod):
    st = mod.backend_priv.get("pmem")
    if st is not None and st.previous is not None:
        debugfs_remove(mod.k.fs, st.previous.dentry)


