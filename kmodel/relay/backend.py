"""The allocation-backend contract: everything a layer above may ask of a buffer.

The patch's author splits the relay into an allocation layer and the layers on
top of it "because we can then easily mix and match each of those".  This file
is the seam.  A backend is a subclass of :class:`RelayBackend` that sets
``name``: defining the class registers it, and the registry is the one list of
backend names (the CLI, its help and completion, and the tests read it).  A
new backend is one new file, plus its name in a test parametrization.

What the layers above may call, and nothing else:

    alloc_buf(k, buf, nid)        allocate buf.alloc_size bytes for buf, on node nid
                                  (nid < 0: the running CPU's node, as mainline's
                                  alloc_page()); 0, or -ENOMEM with nothing left
    free_buf(k, buf)              give back everything alloc_buf took
    write(buf, offset, src, len)  ltt_relay_write: returns len
    read(buf, offset, dest, len)  ltt_relay_read: returns len
    read_get_page(buf, offset)    ltt_relay_read_get_page: the buf_page holding offset
    offset_address(buf, offset)   ltt_relay_offset_address: a writable view from
                                  offset to the end of its page
    pages(buf)                    (offset, page) pairs in buffer order
    describe(buf)                 a Description, for pictures and explanations
    variant(errata, exact)        the ops a buffer uses: the patch's own code under
                                  CONFIG_LTT_RELAY_ERRATA, every access through the
                                  TLB model under CONFIG_KMODEL_EXACT_TLB, else self
    module_init(mod)              at insmod ltt_relay_alloc, with the module (each
                                  backend, in the registry's order); module_exit(mod)
                                  at rmmod, in the reverse order.  Nothing by
                                  default; a backend keeps what it needs across
                                  channels in mod.backend_priv[its name] (pmem:
                                  the region, and the previous boot's trace)
    commit_hook(buf)              a function the sub-buffer layer calls each time
                                  it moves a sub-buffer's commit sequence
                                  (commit_hot[idx].seq), hook(rb, idx, seq), or
                                  None (the default): the pmem backend stores it
    deliver_hook(buf)             ... just before a delivery writes a packet's end
                                  fields, hook(rb, idx, header), or None
    counters_hook(buf)            ... after a counter a reader of a crashed
                                  kernel needs moved (a loss counted, a
                                  sub-buffer consumed), hook(rb), or None
    table_hook(buf)               ... after the sub-buffer table changed (a swap,
                                  a noref flag), hook(rb, order): store the IDs
                                  named in order (positions, or -1 for the
                                  reader's), in that order; or None
    record_header(k, chan, h)     the channel's records take header format h (a
                                  HeaderType's name), set before any record is
                                  written: nothing by default; pmem says it in
                                  its region's header
    tlb_size(tm)                  the page size (index in hw.tlb.SIZES) its accesses
                                  go through, for the accounting fold
    meta_per_page                 True when each access also reads a per-page
                                  descriptor (the page list's buf_page)
    contiguous                    True when buf.view maps the whole buffer
    placement_note                None, or words for a picture when the backend's
                                  memory is not placed by node (pmem)
    reserved_region               True when its memory is a reserved region, charged
                                  by the preset's pmem_memtype (hw.timing)
    whole_packets                 True when its packets must stay whole sub-buffers
                                  (pmem: its crash reader checks a packet's header
                                  against one), not PAGE_ALIGNed to their content
                                  as 2.x's layers make them

``write``, ``read``, ``read_get_page`` and ``offset_address`` are plain
functions taking the buffer first, as the C API does, so a caller can hold one
and call it without a dispatch.

What a backend may keep in the buffer (kmodel.relay.ltt_relay.rchan_buf):
``descs`` (one buf_page per page, in buffer order; the accounting counts on
them), the cache pointers ``wpage``/``rpage``/``hpage``, ``view`` (a
contiguous view of the whole buffer, if it has one), ``page_count``, and
``priv``: one field for anything else of its own.
"""
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from kmodel.core.registry import Registry

if TYPE_CHECKING:                       # the types the contract speaks of, for checkers
    from hw.timing import TimingModel
    from kmodel.kernel import Kernel
    from kmodel.relay.ltt_relay import buf_page, rchan_buf
    from kmodel.relay.module import LttRelayModule

__all__ = ["Description", "RelayBackend", "get_backend", "backend_names", "backends",
           "unregister_backend"]

_REGISTRY: Registry["RelayBackend"] = Registry("relay backend", instances=True)
Buffer = Any                            # bytes-like: bytes, bytearray, memoryview


@dataclass(frozen=True)
class Description:
    """How a buffer's memory is laid out, in words a picture can use.

    mapping: what an offset goes through ("page list", "vmap area", ...);
    details: lines that say where it is (an address range, a block);
    ring: the pages form a list with a head (drawn as a ring)."""
    mapping: str
    details: list[str] = field(default_factory=list)
    ring: bool = False


class RelayBackend(ABC):
    name: ClassVar[str | None] = None   # set by a backend: defining the class registers it
    contiguous: ClassVar[bool] = False  # buf.view covers the whole buffer
    meta_per_page: ClassVar[bool] = False
    placement_note: ClassVar[str | None] = None
                                # what a picture says instead of "local/opener pages",
                                # for a backend whose memory is not placed by node
    reserved_region: ClassVar[bool] = False
                                # its bytes cost as the preset's pmem_memtype says
    whole_packets: ClassVar[bool] = False
                                # its packets stay whole sub-buffers (see above)

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        _REGISTRY.add(cls)      # a variant (no name of its own) is not registered

    @abstractmethod
    def alloc_buf(self, k: "Kernel", buf: "rchan_buf", nid: int) -> int:
        """alloc_buf - 0, or -ENOMEM with nothing left allocated."""

    @abstractmethod
    def free_buf(self, k: "Kernel", buf: "rchan_buf") -> None:
        """free_buf - free what alloc_buf allocated."""

    @staticmethod
    @abstractmethod
    def write(buf: "rchan_buf", offset: int, src: Buffer, length: int) -> int:
        """ltt_relay_write."""

    @staticmethod
    @abstractmethod
    def read(buf: "rchan_buf", offset: int, dest: Buffer, length: int) -> int:
        """ltt_relay_read."""

    @staticmethod
    @abstractmethod
    def read_get_page(buf: "rchan_buf", offset: int) -> "buf_page | None":
        """ltt_relay_read_get_page."""

    @staticmethod
    @abstractmethod
    def offset_address(buf: "rchan_buf", offset: int) -> memoryview:
        """ltt_relay_offset_address."""

    @staticmethod
    @abstractmethod
    def tlb_size(tm: "TimingModel") -> int:
        """The hw.tlb.SIZES index of the pages this backend's accesses go through."""

    @abstractmethod
    def describe(self, buf: "rchan_buf") -> Description:
        """describe - a Description of buf's memory."""

    def pages(self, buf: "rchan_buf") -> list[tuple[int, Any]]:
        """pages - (offset, struct page) of each page, in buffer order."""
        return [(d.offset, d.page) for d in buf.descs]

    def commit_hook(self, buf: "rchan_buf") -> Callable[..., None] | None:
        """commit_hook - what the sub-buffer layer calls when it moves a commit
        sequence, hook(rb, idx, seq), or None."""
        return None

    def deliver_hook(self, buf: "rchan_buf") -> Callable[..., None] | None:
        """deliver_hook - what it calls before a delivery's end fields, or None."""
        return None

    def counters_hook(self, buf: "rchan_buf") -> Callable[..., None] | None:
        """counters_hook - what it calls after a loss or a consume, or None."""
        return None

    def table_hook(self, buf: "rchan_buf") -> Callable[..., None] | None:
        """table_hook - what it calls after the sub-buffer table changed, or None."""
        return None

    def record_header(self, k: "Kernel", chan: Any, header: str) -> None:
        """record_header - the channel's records take header: nothing by default."""

    def module_init(self, mod: "LttRelayModule") -> None:
        """module_init - at module load: nothing by default."""

    def module_exit(self, mod: "LttRelayModule") -> None:
        """module_exit - at module unload: nothing by default."""

    def variant(self, errata: bool, exact: bool) -> "RelayBackend":
        """variant - the ops a buffer uses under those options: self by default."""
        return self


def get_backend(name: str) -> RelayBackend | None:
    """get_backend - the backend registered under name, or None."""
    return _REGISTRY.get(name)


def backend_names() -> list[str]:
    """backend_names - every registered backend, in the order they were defined."""
    return _REGISTRY.names()


def backends() -> list[RelayBackend]:
    """backends - every registered backend, in the order they were defined."""
    return _REGISTRY.members()


def unregister_backend(name: str) -> None:
    """unregister_backend - forget a backend (for tests that define their own)."""
    _REGISTRY.remove(name)
