"""struct page and its accessors (include/linux/mm.h, mm_types.h).

Page descriptors are made lazily, only for frames in use, so a 1 TiB machine
does not need 2^28 Python objects.  ``virtual`` is the frame's view in the
linear map (as with WANT_PAGE_VIRTUAL): from this page to the end of the block
it was allocated in.
"""
from hw import PAGE_SHIFT


class Page:
    __slots__ = ("pfn", "nid", "order", "private", "virtual", "head")

    def __init__(self, pfn, nid, order, virtual, head=None):
        self.pfn = pfn
        self.nid = nid
        self.order = order          # order of the block this page heads
        self.private = 0
        self.virtual = virtual
        self.head = head            # head page for a tail page, else None

    def __repr__(self):
        return f"<page pfn:{self.pfn:#x} node:{self.nid} order:{self.order}>"


def page_to_pfn(page):
    return page.pfn


def page_to_nid(page):
    return page.nid


def page_address(page):
    """page_address - the page's bytes in the kernel linear map (a memoryview)."""
    return page.virtual


def page_to_phys(page):
    return page.pfn << PAGE_SHIFT


def set_page_private(page, value):
    page.private = value


def page_private(page):
    return page.private
