"""The machine a kernel boots on, which outlives the kernel.

A :class:`Machine` is the hardware of a preset: its RAM (``hw.physmem``, one
memfd per node) and, when it has one, a host file that backs the part of RAM
a kernel reserves for a trace (``--pmem FILE``).  A kernel boots on a machine
and shuts down; the next kernel boots on the same machine (a hot reboot).
Nothing clears RAM between the two, as nothing does on real hardware: the new
kernel's allocators simply do not know what the old one left there, so
ordinary memory is lost to it, while a region it reserves again at the same
place is found intact.  With ``--pmem FILE`` that region also outlives the
emulator process: kill -9 is a crash, and the next run on the same file is the
next boot.
"""
from hw.physmem import PhysMem


class Machine:
    def __init__(self, spec, pmem_path=None, pmem_format=False):
        """The hardware of spec; pmem_path, the host file behind a reserved
        region, which a kernel takes only if it is a region kmodel made (or
        new), unless pmem_format says the user lets it be overwritten."""
        self.spec = spec
        self.pmem_path = pmem_path
        self.pmem_format = pmem_format
        self.physmem = PhysMem([n.memory for n in spec.nodes])
        self.boots = 0                  # kernels booted on it so far
        self.running = None             # the running kernel's boot token: one at a time

    def close(self):
        """close - release the host memory; again is a no-op."""
        self.physmem.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
