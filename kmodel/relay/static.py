"""A third backend: one physically contiguous block (the patch mail's "static array").

The whole buffer is one ``alloc_pages_node(nid, GFP_KERNEL | __GFP_ZERO,
order)`` block, read and written through the kernel linear map: contiguous like
vmap, without vmap's 4 KiB TLB entries or vmalloc faults, but limited to
``MAX_ORDER - 1`` (4 MiB) and at the mercy of fragmentation.  It exists to show
that a backend plugs in under relay_alloc.py without touching it.
"""
from hw import PAGE_SHIFT
from kmodel.core.errno import ENOMEM
from kmodel.core.printk import KERN_ERR
from kmodel.mm.gfp import GFP_KERNEL, __GFP_ZERO
from kmodel.mm.slab import get_order
from kmodel.relay.backend import Description
from kmodel.relay.contiguous import ContiguousBackend, make_descs


class static_buf:
    """The static backend's part of a buffer (rchan_buf.priv): its one block."""
    __slots__ = ("block", "order")

    def __init__(self, block, order):
        self.block = block
        self.order = order


def static_alloc_buf(k, buf, nid):
    order = get_order(buf.alloc_size)
    if order >= k.MAX_ORDER:
        k.printk(KERN_ERR + f"ltt_relay: static backend: {buf.alloc_size} bytes is more than "
                 f"one block of order {k.MAX_ORDER - 1}")
        return -ENOMEM
    block = k.alloc_pages_node(nid, GFP_KERNEL | __GFP_ZERO, order)
    if block is None:
        return -ENOMEM
    buf.priv = static_buf(block, order)
    buf.view = block.virtual[:buf.alloc_size]
    buf.page_count = buf.alloc_size >> PAGE_SHIFT
    pages = [k.pfn_to_page(block.pfn + i) for i in range(buf.page_count)]
    make_descs(k, buf, pages, buf.nid, k.timing.linear_size)
    return 0


def static_free_buf(k, buf):
    k.__free_pages(buf.priv.block, buf.priv.order)
    buf.priv = buf.view = buf.turns = None
    buf.descs = []


class StaticBackend(ContiguousBackend):
    name = "static"

    @staticmethod
    def tlb_size(tm):
        return tm.linear_size

    @staticmethod
    def fault_address(buf, offset):
        return 0xFFFF880000000000 + (buf.priv.block.pfn << PAGE_SHIFT) + offset

    @staticmethod
    def touch(buf, idx, offset, n):
        tm = buf.chan.k.timing
        d = buf.descs[idx]
        tm.tlb_probe(buf.cost, tm.linear_size, d.paddr >> tm.linear_shift)

    def alloc_buf(self, k, buf, nid):
        return static_alloc_buf(k, buf, nid)

    def free_buf(self, k, buf):
        static_free_buf(k, buf)

    def describe(self, buf):
        p = buf.priv
        return Description("linear map block",
                           [f"one block of order {p.order} at pfn {p.block.pfn:#x}"])
