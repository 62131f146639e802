"""ltt/ltt-relay-alloc.c: channels and buffers, and their lifetimes.

A port of the patch's common code, above the allocation interface
(kmodel/relay/backend.py).  The patch's hotplug callback is in
relay_hotplug.py and its buffer files in relay_file.py.  Each function names the C it mirrors; where the
port departs from the patch to fix a bug, the comment says "erratum" and
docs/errata.md has the entry.

Module state (the patch's statics ``relay_channels`` and
``relay_channels_mutex``) lives in the loaded module, ``relay_module(k)``.
"""
from __future__ import annotations

import functools
import gc
from typing import TYPE_CHECKING, Any

from kmodel.core.bug import KernelGone
from kmodel.core.errno import EEXIST, EINVAL, ENOMEM
from kmodel.core.kref import kref_get, kref_init, kref_put
from kmodel.core.list import list_add, list_del
from kmodel.core.printk import KERN_ERR
from kmodel.fs.vfs import S_IRUSR
from kmodel.mm.gfp import GFP_KERNEL
from kmodel.relay.accounting import fold_buf, working_sets
from kmodel.relay.backend import get_backend
from kmodel.relay.ltt_relay import (FIX_SIZE, LTT_RELAY_CHANNEL_VERSION, NAME_MAX, Placement,
                                    buf_page, rchan, rchan_buf, rchan_callbacks)

if TYPE_CHECKING:
    from kmodel.fs.vfs import PseudoDir
    from kmodel.kernel import Kernel

__all__ = ["ltt_relay_open", "ltt_relay_open_err", "ltt_relay_close", "ltt_relay_write",
           "ltt_relay_read", "ltt_relay_read_get_page", "ltt_relay_offset_address",
           "ltt_relay_get_chan", "ltt_relay_put_chan", "ltt_relay_get_chan_buf",
           "ltt_relay_put_chan_buf", "relay_module", "PLACEMENTS", "DEFAULT_BACKEND",
           "SIZE_MAX"]

SIZE_MAX = (1 << 64) - 1
PLACEMENTS = tuple(Placement)
DEFAULT_BACKEND = "pagelist"            # the patch's


def errata(k):
    """CONFIG_LTT_RELAY_ERRATA: do what the 2009 patch did where it is wrong."""
    return k.config["CONFIG_LTT_RELAY_ERRATA"] == "y"


def relay_module(k: Kernel) -> Any:
    """The loaded ltt_relay_alloc module, whose statics this code uses, or None."""
    return k.modules.get("ltt_relay_alloc")


# --- buffers ------------------------------------------------------------------
def relay_create_buf(k, chan, cpu):
    """relay_create_buf - allocate and initialise a CPU's buffer; None on failure.

    Erratum: the patch takes the rchan_buf from kzalloc() on whatever node the
    caller runs on, though every access reads its cache pointers; here it is
    kzalloc_node() on the buffer's CPU's node.
    """
    if errata(k):
        buf = k.kzalloc(rchan_buf, GFP_KERNEL)
    else:
        buf = k.kzalloc_node(rchan_buf, GFP_KERNEL, k.cpu_to_node(cpu))
    if buf is None:
        return None
    buf.errata = errata(k)
    buf.cpu = cpu
    buf.ops = chan.backend.variant(buf.errata, k.config["CONFIG_KMODEL_EXACT_TLB"] == "y")
    buf.alloc_size = chan.alloc_size
    # The patch's mask.  A buffer with a reader's spare sub-buffer (n + 1,
    # rb_backend.py) is addressed through the table, inside the buffer only:
    # its mask is a no-op on those offsets.
    buf.alloc_mask = ((1 << (chan.alloc_size - 1).bit_length()) - 1 if chan.extra_subbufs
                      else chan.alloc_size - 1)
    buf.subbuf_size = chan.subbuf_size
    buf.nid = k.slab.kobj_to_nid(buf)
    buf.cost = k.timing.cpus[cpu]
    buf.chan = chan             # the backends reach the kernel through it
    # Page placement: the patch's is the buffer's CPU's node; mainline relay's
    # is alloc_page() on the node of the CPU running this code ("opener").
    nid = k.cpu_to_node(cpu) if chan.placement is Placement.LOCAL else -1
    err = chan.backend.alloc_buf(k, buf, nid)
    if err:
        chan.alloc_errno = -err     # for ltt_relay_open_err: the backend's reason
        buf.chan = None
        k.kfree(buf)
        return None
    kref_get(chan.kref, k.bug)
    relay_module(k).bufs[id(buf)] = buf
    return buf


def relay_destroy_channel(kref):
    """relay_destroy_channel - free the channel struct; only from kref_put()."""
    chan = kref.owner
    chan.k.kfree(chan)


def ltt_relay_get_chan(chan: rchan) -> None:
    kref_get(chan.kref, chan.k.bug)


def ltt_relay_put_chan(chan: rchan) -> None:
    kref_put(chan.kref, relay_destroy_channel, chan.k.bug)


def relay_destroy_buf(buf):
    """relay_destroy_buf - free a buffer's pages and struct, drop its channel ref."""
    chan = buf.chan
    k = chan.k
    relay = relay_module(k)
    # its pending counts, in the working set its CPU has at the moment
    ws = working_sets(b for b in relay.bufs.values() if b.cost is buf.cost)
    fold_buf(k.timing, buf, ws.get(buf.cost))
    chan.backend.free_buf(k, buf)
    if chan.buf[buf.cpu] is buf:
        chan.buf[buf.cpu] = None
    relay.bufs.pop(id(buf), None)
    buf.ops = FreedRchanBuf
    k.kfree(buf)
    kref_put(chan.kref, relay_destroy_channel, k.bug)


def relay_remove_buf(kref):
    """relay_remove_buf - remove the file, then free the buffer; only from kref_put()."""
    buf = kref.owner
    buf.chan.cb.remove_buf_file(buf.dentry)
    relay_destroy_buf(buf)


def ltt_relay_get_chan_buf(buf: rchan_buf) -> None:
    kref_get(buf.kref, buf.chan.k.bug)


def ltt_relay_put_chan_buf(buf: rchan_buf) -> None:
    kref_put(buf.kref, relay_remove_buf, buf.chan.k.bug)


# --- default callbacks --------------------------------------------------------
def create_buf_file_default_callback(filename, parent, mode, buf):
    """The default create_buf_file: makes no file (returns NULL)."""
    return None


def remove_buf_file_default_callback(dentry):
    return -EINVAL


default_channel_callbacks = rchan_callbacks(
    create_buf_file=create_buf_file_default_callback,
    remove_buf_file=remove_buf_file_default_callback)


def __relay_reset(buf, init):
    if init:
        kref_init(buf.kref)


def buf_file_name(base_filename, cpu):
    """The file name of cpu's buffer, as relay_open_buf's snprintf(tmpname,
    NAME_MAX, "%s%d", ...) makes it: NAME_MAX - 1 characters and the NUL."""
    return f"{base_filename}{cpu}"[:NAME_MAX - 1]


def relay_open_buf(k, chan, cpu):
    """relay_open_buf - create a buffer and its file; used by open and hotplug.

    Erratum: with the default callbacks the patch fails every open, since the
    default create_buf_file returns NULL and NULL means failure.  Here a NULL
    from the *default* callback means "no file", as the defaults intend.
    """
    tmpname = k.kzalloc(NAME_MAX + 1, GFP_KERNEL)
    if tmpname is None:
        return None
    name = buf_file_name(chan.base_filename, cpu)
    buf = relay_create_buf(k, chan, cpu)
    if buf is not None:
        __relay_reset(buf, 1)
        dentry = chan.cb.create_buf_file(name, chan.parent, S_IRUSR, buf)
        if dentry is None and (errata(k) or
                               chan.cb.create_buf_file is not create_buf_file_default_callback):
            relay_destroy_buf(buf)
            buf = None
        else:
            buf.dentry = dentry
    k.kfree(tmpname)
    return buf


def relay_close_buf(buf):
    """relay_close_buf - drop the channel's reference; freed with the last one."""
    kref_put(buf.kref, relay_remove_buf, buf.chan.k.bug)


def setup_callbacks(chan, cb):
    if cb is None:
        chan.cb = default_channel_callbacks
        return
    if cb.create_buf_file is None:
        cb.create_buf_file = create_buf_file_default_callback
    if cb.remove_buf_file is None:
        cb.remove_buf_file = remove_buf_file_default_callback
    chan.cb = cb


# --- channels -----------------------------------------------------------------
def _check_sizes(k, subbuf_size, n_subbufs, extra_subbufs=0):
    """Bad sizes the patch would take silently and get wrong: (errno, why) or None."""
    for name, v in (("subbuf_size", subbuf_size), ("n_subbufs", n_subbufs)):
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            return f"{name} {v!r} must be a positive number"
        if v & (v - 1):
            return (f"{name} {v} is not a power of two: the offset masks "
                    "(alloc_size - 1, offset & subbuf_size) need one")
    if subbuf_size * n_subbufs > SIZE_MAX:
        return f"subbuf_size * n_subbufs = {subbuf_size} * {n_subbufs} overflows size_t"
    alloc_size = FIX_SIZE(subbuf_size * (n_subbufs + extra_subbufs))
    for cpu in k.cpu_online_mask:
        nid = k.cpu_to_node(cpu)
        total = k.node_present_pages(nid) << 12
        if alloc_size > total:
            return (f"subbuf_size * n_subbufs = {alloc_size} bytes exceeds the memory of "
                    f"node {nid} ({total} bytes)")
    return None


def with_collector_paused(fn):
    """fn, run with the host's cyclic garbage collector paused: while a
    channel's pages are made or freed, thousands of new objects would trigger
    collections whose cost grows with every live object, so the cost per page
    would grow with the buffer (the emulator's cost, not the kernel's).
    Nothing made here is garbage in a cycle; the collector runs again right
    after.  The frames that allocate keep fn's own name, for the leak reports."""
    @functools.wraps(fn)
    def paused(*args, **kw):
        if not gc.isenabled():
            return fn(*args, **kw)
        gc.disable()
        try:
            return fn(*args, **kw)
        finally:
            gc.enable()
    return paused


@with_collector_paused
def ltt_relay_open_err(k: Kernel, base_filename: str, parent: PseudoDir | None,
                       subbuf_size: int, n_subbufs: int, cb: rchan_callbacks | None = None,
                       private_data: Any = None, backend: str = DEFAULT_BACKEND,
                       placement: Placement | str = Placement.LOCAL, extra_subbufs: int = 0
                       ) -> tuple[rchan | None, int]:
    """The body of ltt_relay_open: returns (chan, 0) or (None, -errno).
    extra_subbufs: sub-buffers allocated beyond n_subbufs (the reader's spare
    of a 2.x overwrite buffer, kmodel.relay.rb_backend), in each buffer."""
    _check_alive(k, "ltt_relay_open")
    relay = relay_module(k)
    if relay is None:
        k.printk(KERN_ERR + "ltt_relay_open: the ltt_relay_alloc module is not loaded")
        return None, -EINVAL
    if base_filename is None or "/" in base_filename:
        if base_filename is not None:
            k.printk(KERN_ERR + f"ltt_relay_open: base_filename {base_filename!r} holds a '/'")
        return None, -EINVAL
    if parent is not None and cb is not None and any(
            buf_file_name(base_filename, cpu) in parent.children
            for cpu in k.for_each_possible_cpu()):
        # debugfs_create_file() would answer -EEXIST for the first buffer file
        k.printk(KERN_ERR + f"ltt_relay_open: files {base_filename}N exist already in "
                 f"{parent.path()}")
        return None, -EEXIST
    if errata(k):
        # the patch checks only for zero, and lets size_t wrap
        why = None if subbuf_size and n_subbufs else "subbuf_size or n_subbufs is 0"
        subbuf_size, n_subbufs = subbuf_size & SIZE_MAX, n_subbufs & SIZE_MAX
    else:
        why = _check_sizes(k, subbuf_size, n_subbufs, extra_subbufs)
    ops = get_backend(backend)
    if why is None and ops is None:
        why = f"unknown backend {backend!r}"
    if why is None and placement not in PLACEMENTS:
        why = f"unknown placement {placement!r} (local or opener)"
    if why is not None:
        k.printk(KERN_ERR + f"ltt_relay_open: {why}")
        return None, -EINVAL

    chan = k.kzalloc(rchan, GFP_KERNEL)
    if chan is None:
        return None, -ENOMEM
    chan.k = k
    chan.version = LTT_RELAY_CHANNEL_VERSION
    chan.n_subbufs = n_subbufs
    chan.subbuf_size = subbuf_size
    chan.subbuf_size_order = (subbuf_size - 1).bit_length()   # get_count_order(): rounds up
    chan.alloc_size = FIX_SIZE((subbuf_size * (n_subbufs + extra_subbufs)) & SIZE_MAX)
    chan.extra_subbufs = extra_subbufs
    chan.parent = parent
    chan.private_data = private_data
    chan.base_filename = base_filename[:NAME_MAX - 1]          # strlcpy(..., NAME_MAX)
    chan.backend = ops
    chan.placement = Placement(placement)
    chan.opener_nid = k.numa_node_id()
    chan.nid = k.slab.kobj_to_nid(chan)
    setup_callbacks(chan, cb)
    kref_init(chan.kref)

    # mutex_lock(&relay_channels_mutex)
    for i in k.for_each_online_cpu():
        chan.buf[i] = relay_open_buf(k, chan, i)
        if chan.buf[i] is None:
            # Erratum: the patch stops at the first possible CPU without a
            # buffer, leaking every buffer after a hole in the online mask.
            for j in k.for_each_possible_cpu():
                if chan.buf[j] is not None:
                    relay_close_buf(chan.buf[j])
                elif errata(k):
                    break
            # The patch's ltt_relay_open returns NULL and its callers say
            # -ENOMEM; a backend that refused for another reason (pmem: EBUSY)
            # is reported with its own errno.
            err = chan.alloc_errno or ENOMEM
            kref_put(chan.kref, relay_destroy_channel, k.bug)
            return None, -err
    list_add(chan.list, relay.relay_channels)
    return chan, 0


def ltt_relay_open(k: Kernel, base_filename: str, parent: PseudoDir | None, subbuf_size: int,
                   n_subbufs: int, cb: rchan_callbacks | None = None, private_data: Any = None,
                   backend: str = DEFAULT_BACKEND,
                   placement: Placement | str = Placement.LOCAL) -> rchan | None:
    """ltt_relay_open - create a channel with a buffer for each online CPU.

    Returns the channel, or None (the patch's API; the shell uses
    ltt_relay_open_err for the errno).  Buffers are named base_filename0 ...
    through cb->create_buf_file.  backend (a name in kmodel.relay.backend's
    registry: "pagelist", "vmap", "static", ...) and
    placement ("local": each buffer on its CPU's node; "opener": mainline's
    alloc_page() on the running CPU's node) are this port's additions.
    """
    chan, _ = ltt_relay_open_err(k, base_filename, parent, subbuf_size, n_subbufs, cb,
                               private_data, backend, placement)
    return chan


@with_collector_paused
def ltt_relay_close(chan: rchan | None) -> None:
    """ltt_relay_close - close every buffer and drop the channel's reference."""
    if chan is None:
        return
    k = chan.k
    _check_alive(k, "ltt_relay_close")
    for i in k.for_each_possible_cpu():
        if chan.buf[i] is not None:
            relay_close_buf(chan.buf[i])
    list_del(chan.list)
    kref_put(chan.kref, relay_destroy_channel, k.bug)


# --- generic access (dispatch to the channel's backend) -----------------------
def ltt_relay_write(buf: rchan_buf, offset: int, src: Any, length: int) -> int:
    """ltt_relay_write - write length bytes of src at offset of buf; returns length.

    As the C's memcpy, it takes the first length bytes of a longer src: the
    source is checked before the backend sees it (a byte view of anything
    that is not bytes or a bytearray, sliced once if it is longer), so the
    backend writes (and counts) the access once.  A src shorter than length,
    or one that is not a buffer of bytes, is a kernel bug: an oops, with
    nothing written (and so is a buffer already freed: see FreedRchanBuf)."""
    t = type(src)
    if (t is not bytes and t is not bytearray) or len(src) != length:
        src = _source_of(buf, src, length)
    return buf.ops.write(buf, offset, src, length)


def _source_of(buf, src, length):
    """The first length bytes of src as a byte view, or the oops of a src that
    is not a contiguous buffer, or shorter than length (len() of a memoryview
    counts its items, which need not be bytes)."""
    try:
        mem = memoryview(src).cast("B")
    except (TypeError, ValueError) as e:
        buf.chan.k.bug.oops(f"BUG: ltt_relay_write: a source of {type(src).__name__} "
                            f"is not a contiguous buffer of bytes ({e})", depth=3)
    if len(mem) < length:
        _short_mem(buf, "ltt_relay_write", "source", mem, length, depth=4)
    return mem[:length] if len(mem) > length else mem


def ltt_relay_read(buf: rchan_buf, offset: int, dest: Any, length: int) -> int:
    """ltt_relay_read - read length bytes at offset of buf into dest; returns length.
    A dest shorter than length (the C would write past its end) is an oops."""
    if len(dest) < length:
        _short_mem(buf, "ltt_relay_read", "destination", dest, length)
    return buf.ops.read(buf, offset, dest, length)


def _short_mem(buf, fn, what, mem, length, depth=3):
    """The oops of a src or dest shorter than length; returns if it is not."""
    n = len(memoryview(mem).cast("B")) if mem is not None else 0
    if n < length:
        buf.chan.k.bug.oops(f"BUG: {fn}: {what} of {n} bytes for {length} bytes: it would "
                            f"run past the end of the {what}", depth=depth)


def _use_after_free(fn):
    def access(buf, *args):
        buf.chan.k.bug.oops(f"BUG: {fn} on a freed rchan_buf (cpu {buf.cpu}): use after "
                            "ltt_relay_close", depth=3)
    return staticmethod(access)


class FreedRchanBuf:
    """The ops relay_destroy_buf leaves in a freed buffer, as the slab's poison
    is left in freed memory: an access through it oopses, at no cost to the
    accesses of live buffers."""
    write = _use_after_free("ltt_relay_write")
    read = _use_after_free("ltt_relay_read")
    read_get_page = _use_after_free("ltt_relay_read_get_page")
    offset_address = _use_after_free("ltt_relay_offset_address")


def _after_shutdown(fn):
    def access(buf, *args):
        raise KernelGone(f"{fn} on cpu {buf.cpu}'s buffer: its kernel has shut down")
    return staticmethod(access)


class GoneRchanBuf:
    """The ops a buffer gets when its kernel shuts down (relay_kernel_gone):
    its memory goes with the kernel, so an access raises KernelGone instead
    of reaching memory that is no longer the kernel's."""
    write = _after_shutdown("ltt_relay_write")
    read = _after_shutdown("ltt_relay_read")
    read_get_page = _after_shutdown("ltt_relay_read_get_page")
    offset_address = _after_shutdown("ltt_relay_offset_address")


def relay_kernel_gone(relay) -> None:
    """relay_kernel_gone - at the kernel's shutdown: every live buffer's
    accesses raise KernelGone from now on (not the kernel's: an emulator's
    guard, as Linux has no life after shutdown)."""
    for buf in relay.bufs.values():
        buf.ops = GoneRchanBuf


def _check_alive(k: Kernel, fn: str) -> None:
    if k.down:
        raise KernelGone(f"{fn}: the kernel has shut down")


def ltt_relay_read_get_page(buf: rchan_buf, offset: int) -> buf_page | None:
    return buf.ops.read_get_page(buf, offset)


def ltt_relay_offset_address(buf: rchan_buf, offset: int) -> memoryview:
    return buf.ops.offset_address(buf, offset)
