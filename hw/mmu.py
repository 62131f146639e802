"""The MMU: scattered frames at consecutive virtual addresses.

``map_frames`` reserves a ``PROT_NONE`` area of host address space (one guard
page more than asked, like the kernel's vmalloc guard page) and maps each frame's
range of its node's memfd at consecutive addresses inside it, with
``mmap(MAP_FIXED | MAP_SHARED)``.  Runs of frames that are consecutive in one
memfd are mapped by one call.  Writing through the result writes the frames
themselves: the linear map sees the same bytes.
"""
from hw import PAGE_SHIFT
from hw import libc


class Mapping:
    """A contiguous alias of a list of frames."""
    __slots__ = ("addr", "nr_pages", "pfns", "view")

    def __init__(self, addr, pfns, view):
        self.addr = addr
        self.pfns = pfns
        self.nr_pages = len(pfns)
        self.view = view


class MMU:
    def __init__(self, physmem):
        self.physmem = physmem
        self.live = {}          # addr -> Mapping

    def map_frames(self, pfns):
        """map_frames - map frames (any nodes, any order) at consecutive addresses."""
        pfns = list(pfns)
        if not pfns:
            raise ValueError("map_frames: no frames")
        span = (len(pfns) + 1) << PAGE_SHIFT
        base = libc.mmap(None, span, libc.PROT_NONE,
                         libc.MAP_PRIVATE | libc.MAP_ANONYMOUS | libc.MAP_NORESERVE)
        try:
            i = 0
            while i < len(pfns):
                fd, off = self.physmem.frame_file(pfns[i])
                j = i + 1
                while (j < len(pfns) and pfns[j] == pfns[j - 1] + 1
                       and self.physmem.frame_file(pfns[j])[0] == fd):
                    j += 1
                libc.mmap(base + (i << PAGE_SHIFT), (j - i) << PAGE_SHIFT, libc.PROT_RW,
                          libc.MAP_SHARED | libc.MAP_FIXED, fd, off)
                i = j
        except OSError:
            libc.munmap(base, span)
            raise
        m = Mapping(base, pfns, libc.memview(base, len(pfns) << PAGE_SHIFT))
        self.live[base] = m
        return m

    def unmap(self, m):
        """unmap - remove a mapping made by map_frames; its view is released."""
        if self.live.pop(m.addr, None) is not m:
            raise ValueError(f"unmap: no mapping at {m.addr:#x}")
        libc.unmap_view(m.view, m.addr, (m.nr_pages + 1) << PAGE_SHIFT)

    def close(self):
        for m in list(self.live.values()):
            self.unmap(m)
