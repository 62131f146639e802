"""The layered channel's CPU hotplug callback, and its flush of one buffer.

lttng-modules flushes the buffer of a CPU that died (lttng_cpuhp_rb_frontend_dead
in src/lib/ringbuffer/ring_buffer_frontend.c, ed19c0a1; the CPU_DEAD case of
lib_ring_buffer_cpu_hp_callback before the cpuhp states): "Performing a
buffer switch on a remote CPU. Performed by the CPU responsible for doing the
hotunplug after the target CPU stopped running completely. Ensures that all
data from that remote CPU is flushed."  So a dying CPU's last partial packet
is delivered, where the 2009 relay left it to the final flush ("No need to
flush the cpu: will be flushed upon final relay_flush() call",
relay_hotplug.py).  Era 2.x does the former, 2009 the latter.

``flush_buffer`` is the one call point for a flush of one buffer from
outside the layer: this callback's, and the switch timer's (the modeled-time
work runs the timers; each tick of a buffer's switch timer is
``flush_buffer(rbc, rb)``, as lib_ring_buffer_switch_timer calls
lib_ring_buffer_switch_slow(buf, SWITCH_ACTIVE)).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from kmodel.cpu.actions import CPU_DEAD, CPU_DEAD_FROZEN
from kmodel.cpu.notifier import NOTIFY_OK, notifier_block
from kmodel.relay.rb_config import Era, Scope, SwitchMode
from kmodel.relay.relay_alloc import relay_module

if TYPE_CHECKING:
    from kmodel.relay.ring_buffer import lib_ring_buffer, rb_channel

__all__ = ["flush_buffer", "register_rb_hotplug", "unregister_rb_hotplug"]

RB_HOTPLUG_PRIORITY = 4         # below the relay's (5): its buffers exist first


def flush_buffer(rbc: rb_channel, rb: lib_ring_buffer,
                 mode: SwitchMode = SwitchMode.ACTIVE) -> None:
    """flush_buffer - close rb's open packet through the channel's layer, from
    the CPU that runs now (the layer runs it on the buffer's CPU if need be,
    here if that CPU is offline).  What the switch timer does each period."""
    rbc.layer.flush__straight(rb, mode)


def lib_ring_buffer_cpu_hp_callback(rbc: rb_channel, nb, action: int, cpu: int) -> int:
    """lib_ring_buffer_cpu_hp_callback - at CPU_DEAD, flush the dead CPU's
    per-CPU buffer (era 2.x), so that its last partial packet is delivered."""
    if action in (CPU_DEAD, CPU_DEAD_FROZEN) and rbc.era is Era.V2 and \
            rbc.scope is Scope.PER_CPU:
        rb = rbc.bufs.get(cpu)
        relay = relay_module(rbc.k)
        # (a channel whose relay buffers were closed without ring_buffer_close
        # has nothing left to flush)
        if rb is not None and relay is not None and relay.bufs.get(id(rb.rbuf)) is rb.rbuf:
            flush_buffer(rbc, rb)
    return NOTIFY_OK


def register_rb_hotplug(rbc: rb_channel) -> None:
    """register_rb_hotplug - the channel's notifier on the CPU chain."""
    rbc.nb = notifier_block(lambda nb, action, cpu: lib_ring_buffer_cpu_hp_callback(
        rbc, nb, action, cpu), RB_HOTPLUG_PRIORITY, name="lib_ring_buffer_cpu_hp_callback")
    rbc.k.hotplug.register_cpu_notifier(rbc.nb)


def unregister_rb_hotplug(rbc: rb_channel) -> None:
    """unregister_rb_hotplug - take it off again (at the channel's close)."""
    if rbc.nb is not None:
        rbc.k.hotplug.unregister_cpu_notifier(rbc.nb)
        rbc.nb = None
