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


class FileBacking:
    """A range of frames whose bytes live in a host file instead of the node's
    memfd: the file is mapped over that part of the linear map with
    mmap(MAP_FIXED | MAP_SHARED), so every store the kernel makes there is a
    store to the file, and it outlives the process (kill -9 included)."""
    __slots__ = ("path", "fd", "start_pfn", "nr_pages")

    def __init__(self, path, fd, start_pfn, nr_pages):
        self.path = path
        self.fd = fd
        self.start_pfn = start_pfn
        self.nr_pages = nr_pages


class PhysMem:
    """All of a machine's RAM, node by node."""

    def __init__(self, node_sizes):
        self.nodes = []
        self.backing = None             # a FileBacking, once back_with_file() ran
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

    def back_with_file(self, path, start_pfn, nr_pages):
        """back_with_file - make frames [start_pfn, +nr_pages) the bytes of the
        host file at path (made, or grown from empty, to that size; an existing
        file of another size is refused: it is another region's).  Once per
        machine; asking again for the same range and file is a no-op."""
        size = nr_pages << PAGE_SHIFT
        b = self.backing
        if b is not None:
            if (b.path, b.start_pfn, b.nr_pages) == (path, start_pfn, nr_pages):
                return
            raise ValueError(f"frames {b.start_pfn:#x}+{b.nr_pages} are already backed by "
                             f"{b.path}")
        nid = self.pfn_to_nid(start_pfn)
        node = self.nodes[nid]
        if start_pfn + nr_pages > node.end_pfn:
            raise ValueError("a file-backed range must lie in one node")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            have = os.fstat(fd).st_size
            if have not in (0, size):
                raise ValueError(f"{path} is {have} bytes; the region is {size} bytes "
                                 f"(a file made for another region size)")
            os.ftruncate(fd, size)
            libc.mmap(self.frame_addr(start_pfn), size, libc.PROT_RW,
                      libc.MAP_SHARED | libc.MAP_FIXED, fd, 0)
        except BaseException:
            os.close(fd)
            raise
        self.backing = FileBacking(path, fd, start_pfn, nr_pages)

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
        """frame_file - (fd, offset) of frame pfn in its node's memfd (or in
        the host file that backs it)."""
        b = self.backing
        if b is not None and b.start_pfn <= pfn < b.start_pfn + b.nr_pages:
            return b.fd, (pfn - b.start_pfn) << PAGE_SHIFT
        node = self.nodes[self.pfn_to_nid(pfn)]
        return node.fd, (pfn - node.start_pfn) << PAGE_SHIFT

    def zero(self, pfn, nr_pages=1):
        """zero - clear nr_pages frames from pfn."""
        libc.memset(self.frame_addr(pfn), 0, nr_pages * PAGE_SIZE)

    def close(self):
        for n in self.nodes:
            n.close()                   # (the unmap covers the file's mapping too)
        if self.backing is not None and self.backing.fd >= 0:
            os.close(self.backing.fd)
            self.backing.fd = -1
