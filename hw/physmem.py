"""Physical memory: one memfd per node, each mapped once as the linear map.

PFNs run over all nodes in node order: node 0 holds PFNs ``0 .. n0-1``, node 1
the next ones, and so on.  The bytes are real host memory: a write through the
linear map is seen through the memfd and through any other mapping of the same
frame (hw.mmu).  Untouched frames cost the host nothing, so a machine of 1 TiB
boots in a few megabytes.
"""
import bisect
import os

from hw import PAGE_SHIFT, PAGE_SIZE
from hw import libc


class NodeMemory:
    """One node's RAM: its memfd and its part of the linear map."""
    __slots__ = ("nid", "fd", "start_pfn", "nr_pages", "addr", "view")

    def __init__(self, nid, start_pfn, nr_pages):
        self.nid = nid
        self.start_pfn = start_pfn
        self.nr_pages = nr_pages
        self.fd = os.memfd_create(f"kmodel-node{nid}", os.MFD_CLOEXEC)
        try:
            os.ftruncate(self.fd, nr_pages << PAGE_SHIFT)
            self.addr = libc.mmap(None, nr_pages << PAGE_SHIFT, libc.PROT_RW,
                                  libc.MAP_SHARED | libc.MAP_NORESERVE, self.fd, 0)
        except OSError:
            os.close(self.fd)
            raise
        self.view = libc.memview(self.addr, nr_pages << PAGE_SHIFT)

    @property
    def end_pfn(self):
        return self.start_pfn + self.nr_pages

    def close(self):
        if self.fd >= 0:
            self.view.release()
            libc.munmap(self.addr, self.nr_pages << PAGE_SHIFT)
            os.close(self.fd)
            self.fd = -1


class PhysMem:
    """All of a machine's RAM, node by node."""

    def __init__(self, node_sizes):
        self.nodes = []
        pfn = 0
        try:
            for nid, size in enumerate(node_sizes):
                self.nodes.append(NodeMemory(nid, pfn, size >> PAGE_SHIFT))
                pfn += size >> PAGE_SHIFT
        except OSError:
            self.close()
            raise
        self.max_pfn = pfn
        self._starts = [n.start_pfn for n in self.nodes]

    def pfn_to_nid(self, pfn):
        """pfn_to_nid - the node holding frame pfn (mirrors early_pfn_to_nid)."""
        if not 0 <= pfn < self.max_pfn:
            raise IndexError(f"pfn {pfn:#x} is beyond max_pfn {self.max_pfn:#x}")
        return bisect.bisect_right(self._starts, pfn) - 1

    def frame_addr(self, pfn):
        """frame_addr - the host address of frame pfn in the linear map."""
        node = self.nodes[self.pfn_to_nid(pfn)]
        return node.addr + ((pfn - node.start_pfn) << PAGE_SHIFT)

    def frame_file(self, pfn):
        """frame_file - (fd, offset) of frame pfn in its node's memfd."""
        node = self.nodes[self.pfn_to_nid(pfn)]
        return node.fd, (pfn - node.start_pfn) << PAGE_SHIFT

    def zero(self, pfn, nr_pages=1):
        """zero - clear nr_pages frames from pfn."""
        libc.memset(self.frame_addr(pfn), 0, nr_pages * PAGE_SIZE)

    def close(self):
        for n in self.nodes:
            n.close()
