"""GFP flags (include/linux/gfp.h, as in 2.6.29)."""

__GFP_DMA = 0x01
__GFP_HIGHMEM = 0x02
__GFP_WAIT = 0x10
__GFP_HIGH = 0x20
__GFP_IO = 0x40
__GFP_FS = 0x80
__GFP_NOWARN = 0x200
__GFP_REPEAT = 0x400
__GFP_NOFAIL = 0x800
__GFP_NORETRY = 0x1000
__GFP_COMP = 0x4000
__GFP_ZERO = 0x8000
__GFP_HARDWALL = 0x20000
__GFP_THISNODE = 0x40000

GFP_ATOMIC = __GFP_HIGH
GFP_NOIO = __GFP_WAIT
GFP_NOFS = __GFP_WAIT | __GFP_IO
GFP_KERNEL = __GFP_WAIT | __GFP_IO | __GFP_FS
GFP_USER = __GFP_WAIT | __GFP_IO | __GFP_FS | __GFP_HARDWALL

# Inside a class body Python mangles names that begin with two underscores
# (``__GFP_ZERO`` would become ``_Class__GFP_ZERO``), so class code uses these.
GFPF_ZERO = __GFP_ZERO
GFPF_NOWARN = __GFP_NOWARN
GFPF_THISNODE = __GFP_THISNODE
GFPF_HIGHMEM = __GFP_HIGHMEM
