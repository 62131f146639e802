"""The relay structures (include/linux/ltt-relay.h of the patch).

Field names are the patch's.  Fields after the patch's are this port's: which
backend a buffer uses, the node its structure lives on, and what the backend
contract (kmodel/relay/backend.py) lets a backend keep: descriptors per page,
a contiguous view, and one private field.
"""
from enum import StrEnum

from hw import PAGE_SIZE
from kmodel.core.kref import kref
from kmodel.core.list import list_head
from kmodel.cpu.cpumask import NR_CPUS

LTT_RELAY_CHANNEL_VERSION = 8
ACCESS_SHIFT = 48
ONE_ACCESS = 1 << ACCESS_SHIFT  # buf_page.acct: accesses above this bit, bytes below
TURN_SHIFT = 96
ONE_TURN = 1 << TURN_SHIFT      # ... and, above this bit, list steps that arrived here
TURN_ACCESS = ONE_TURN + ONE_ACCESS
NAME_MAX = 255


class Placement(StrEnum):
    """Where a buffer's pages come from (this port's choice, a word on the
    command line): LOCAL, the patch's, the buffer's CPU's node; OPENER,
    mainline relay's alloc_page(), the node of the CPU that opens it."""
    LOCAL = "local"
    OPENER = "opener"


def FIX_SIZE(x):
    """FIX_SIZE - round up to a multiple of PAGE_SIZE ('Needs a _much_ better name')."""
    return (((x) - 1) & ~(PAGE_SIZE - 1)) + PAGE_SIZE


class buf_page:
    """struct buf_page: a page of a buffer, its offset in the buffer, and its list link.

    Kept outside the page itself, so that the page can go to disk or network
    I/O or be mmap()ed as it is.  ``virtual``, ``nid`` and ``paddr`` cache what
    page_address(), page_to_nid() and page_to_phys() would compute; ``acct``
    counts the accesses and bytes not yet folded into the timing model, as
    ``turns * ONE_TURN + accesses * ONE_ACCESS + bytes`` (one integer: one
    update per access), where turns counts the page list's one-step walks
    that arrived at this page on a stream's page turn.

    ``holder`` and ``dirty`` are the coherence model's (kmodel.relay.accounting):
    which CPU's cache holds the page's lines, if any, and whether they are
    modified there.

    The fields from ``next`` to ``run_end`` are fixed when the buffer's pages are, for the
    fast paths of its backend: ``next``, the next buf_page of the buffer
    (page list: list.next with the real head skipped); ``vpn``, the page's
    number in the mapping its accesses go through; ``run``, a view from this
    page to the end of its run, the pages after it that lie next to it in that
    mapping (so a copy across them is one slice); ``run_end``, the buffer
    offset where the run ends.
    """
    SIZEOF = 32         # struct page *, size_t, struct list_head
    __slots__ = ("page", "offset", "list", "virtual", "nid", "paddr", "meta_nid",
                 "acct", "next", "vpn", "run", "run_end", "holder", "dirty")

    def __init__(self):
        self.page = None
        self.offset = 0
        self.list = list_head(self)
        self.virtual = None
        self.nid = 0
        self.paddr = 0
        self.meta_nid = 0
        self.acct = 0
        self.next = None
        self.vpn = -1
        self.run = None
        self.run_end = 0
        self.holder = None      # the CpuCost whose cache has the page's lines, or None
        self.dirty = False      # ... modified there (not yet written back)


class rchan_buf:
    """struct rchan_buf: one CPU's buffer of a channel (____cacheline_aligned)."""
    SIZEOF = 128
    __slots__ = ("chan_private", "chan", "dentry", "kref", "pages", "wpage", "hpage",
                 "rpage", "page_count", "cpu",
                 # this port's
                 "ops", "alloc_size", "alloc_mask", "subbuf_size", "nid", "descs",
                 "view", "priv", "cost", "errata", "turns", "tally")

    def __init__(self):
        self.chan_private = None
        self.chan = None
        self.dentry = None
        self.kref = kref(self)
        self.pages = list_head(self)        # the real head of the page list
        self.wpage = None
        self.hpage = [None, None]
        self.rpage = None
        self.page_count = 0
        self.cpu = 0
        self.ops = None
        self.alloc_size = 0
        self.alloc_mask = 0
        self.subbuf_size = 0
        self.nid = 0
        self.descs = []                     # buf_page per page index, any backend
        self.view = None                    # a contiguous backend's view of it all
        self.priv = None                    # the backend's own (kmodel.relay.backend)
        self.cost = None
        self.errata = False             # CONFIG_LTT_RELAY_ERRATA: the patch's behaviour
        self.turns = None               # kmodel.relay.stream.stream_turns, or None
        self.tally = [0, 0]             # stream.account_run's pending whole pages


class rchan_callbacks:
    """struct rchan_callbacks: the client's hooks (None: the default)."""

    def __init__(self, subbuf_start=None, create_buf_file=None, remove_buf_file=None):
        self.subbuf_start = subbuf_start
        self.create_buf_file = create_buf_file
        self.remove_buf_file = remove_buf_file


class rchan:
    """struct rchan: a channel, with a buffer pointer per CPU (buf[NR_CPUS])."""
    SIZEOF = 8 * NR_CPUS + 320
    __slots__ = ("version", "subbuf_size", "n_subbufs", "alloc_size", "cb", "kref",
                 "private_data", "buf", "list", "parent", "subbuf_size_order",
                 "base_filename",
                 # this port's
                 "backend", "placement", "opener_nid", "k", "nid", "alloc_errno",
                 "extra_subbufs")

    def __init__(self):
        self.version = 0
        self.subbuf_size = 0
        self.n_subbufs = 0
        self.alloc_size = 0
        self.cb = None
        self.kref = kref(self)
        self.private_data = None
        self.buf = [None] * NR_CPUS
        self.list = list_head(self)
        self.parent = None
        self.subbuf_size_order = 0
        self.base_filename = ""
        self.backend = None
        self.placement = Placement.LOCAL
        self.opener_nid = 0
        self.k = None
        self.nid = 0
        self.alloc_errno = 0            # the last errno a backend's alloc_buf returned
        self.extra_subbufs = 0          # beyond n_subbufs: a 2.x reader's spare
