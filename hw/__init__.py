"""hw: the emulated hardware under kmodel.

Topology and presets (:mod:`hw.topology`), physical memory backed by one memfd
per node (:mod:`hw.physmem`), an MMU that maps scattered frames at consecutive
host addresses (:mod:`hw.mmu`) and a deterministic timing model
(:mod:`hw.timing`, :mod:`hw.tlb`).  Nothing here knows about the kernel.
"""
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
