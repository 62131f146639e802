"""A channel with a locking layer on top: open, close, and its counters files.

``ring_buffer_open`` opens the allocation-layer channel with its buffer files
(/sys/kernel/debug/ltt/NAME/cpuN), puts the sub-buffer layer of the chosen
locking layer, mode and scope on it, and shows each buffer's counters in
/sys/kernel/debug/ltt/NAME/counters/cpuN (or .../global), one ``name value``
a line, with LTTng's names.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from kmodel.core.errno import EINVAL
from kmodel.core.printk import KERN_ERR
from kmodel.relay.event_header import header_of
from kmodel.relay.relay_alloc import ltt_relay_close
from kmodel.relay.relay_file import LTT_DEBUGFS_DIR, ltt_relay_open_debugfs
from kmodel.relay.layer import get_layer, layer_names
from kmodel.relay.ltt_relay import Placement
from kmodel.relay.rb_config import DEFAULT_ERA, Era, Mode, Scope
from kmodel.relay.rb_hotplug import register_rb_hotplug, unregister_rb_hotplug
from kmodel.relay.ring_buffer import channel_era, check_geometry, extra_subbufs, rb_channel
from kmodel.relay.ring_buffer_vfs import ring_buffer_file_operations

if TYPE_CHECKING:
    from kmodel.kernel import Kernel
    from kmodel.relay.ring_buffer import lib_ring_buffer

__all__ = ["ring_buffer_open", "ring_buffer_close", "buffer_counters"]


def buffer_counters(rb: lib_ring_buffer) -> str:
    """The counters of one buffer, as the counters file shows them."""
    rows = [("offset", rb.offset.counter), ("consumed", rb.consumed.counter),
            ("reader_holds", int(rb.reader_held is not None)),
            ("records_lost_full", rb.records_lost_full.counter),
            ("records_lost_wrap", rb.records_lost_wrap.counter),
            ("records_lost_big", rb.records_lost_big.counter),
            ("records_overrun", rb.records_overrun.counter),
            ("records_count", rb.records_count.counter),
            ("corrupted_subbuffers", rb.corrupted_subbuffers.counter),
            ("events_lost", rb.events_lost.counter),
            ("packets_delivered", rb.book.n_delivered)]
    for i, (hot, cold) in enumerate(zip(rb.commit_hot, rb.commit_cold)):
        rows.append((f"subbuf{i}_cc", hot.cc.counter))
        rows.append((f"subbuf{i}_cc_sb", cold.counter))
    return "".join(f"{n} {v}\n" for n, v in rows)


def ring_buffer_open(k: Kernel, name: str, subbuf_size: int, n_subbufs: int, backend: str,
                     placement: Placement | str, layer: str, mode: Mode | str, scope: Scope | str,
                     files: bool = True, history: bool = False, era: Era | str | None = None,
                     header: str = "kmodel") -> tuple[rb_channel | None, int]:
    """ring_buffer_open - (rb_channel, 0) or (None, -errno), with dmesg's reason.
    history: the buffers keep every reservation and delivery (Bookkeeping).
    era: whose reader side (rb_config.Era); None: DEFAULT_ERA.  header: the
    records' header format (event_header.HeaderType's names), set before any
    record is written, and told to the backend (pmem's region says it)."""
    lyr = get_layer(layer)
    if lyr is None:
        k.printk(KERN_ERR + f"ring_buffer_open: layer={layer!r} "
                 f"({', '.join(layer_names())})")
        return None, -EINVAL
    if era is not None and era not in tuple(Era):
        k.printk(KERN_ERR + f"ring_buffer_open: era={era!r} ({' or '.join(Era)})")
        return None, -EINVAL
    extra = 0
    if mode in tuple(Mode):
        runs = channel_era(era, mode, backend)
        era = runs
        extra = extra_subbufs(runs, mode)
    chan, err = ltt_relay_open_debugfs(k, name, subbuf_size, n_subbufs, backend, placement,
                                       files, fops=ring_buffer_file_operations,
                                       extra_subbufs=extra)
    if chan is None:
        return None, err
    bad = check_geometry(chan, mode, scope)
    if bad:
        k.printk(KERN_ERR + f"ring_buffer_open: {bad[1]}")
        ltt_relay_close(chan)
        _remove_dir(k, name)
        return None, -bad[0]
    rbc = rb_channel(k, chan, lyr, mode, scope, history, era or DEFAULT_ERA)
    rbc.header = header_of(header)
    chan.backend.record_header(k, chan, header)
    chan.private_data = rbc             # what its buffer files' operations read
    register_rb_hotplug(rbc)
    if rbc.scope is Scope.GLOBAL:
        rbc.add_buf(k.boot_cpu)
    else:
        for cpu in k.for_each_online_cpu():
            rbc.add_buf(cpu)
    base = f"{LTT_DEBUGFS_DIR}/{name}/counters"
    for key in (["global"] if rbc.scope is Scope.GLOBAL else [f"cpu{c}" for c in
                                                      k.for_each_possible_cpu()]):
        cpu = None if key == "global" else int(key[3:])
        k.fs.create_file(f"{base}/{key}", lambda cpu=cpu: _counters_text(rbc, cpu))
    return rbc, 0


def _counters_text(rbc, cpu):
    rb = rbc.bufs.get(cpu)
    return buffer_counters(rb) if rb is not None else "no buffer\n"


def ring_buffer_close(rbc: rb_channel, name: str) -> None:
    k = rbc.k
    unregister_rb_hotplug(rbc)
    ltt_relay_close(rbc.chan)
    d = k.fs.lookup(f"{LTT_DEBUGFS_DIR}/{name}/counters")
    if d is not None:
        k.fs.remove(d)
    _remove_dir(k, name)


def _remove_dir(k, name):
    d = k.fs.lookup(f"{LTT_DEBUGFS_DIR}/{name}")
    if d is not None and not d.children:
        k.fs.remove(d)
