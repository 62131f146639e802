"""The locking-layer contract: what a locking layer gives the sub-buffer layer.

The patch's author puts the locking on top of the allocation layer, in
layers of its own (ltt-relay-locked, ltt-relay-lockless), so that each runs
on any backend.  kmodel keeps that seam here, in the shape of the backend
contract (backend.py): a layer is a subclass of :class:`LockingLayer` that
sets ``name``; defining the class checks that it implements the contract and
registers it, and the registry is the one list of layer names (the CLI, its
help and completion, and the tests read it).  A new layer is one file plus
its tests; a layer defined in a test file alone passes the layers'
conformance suite (kmodel/scenarios/layer_races.py).

What a layer must give (each a generator, run step by step by the explorer;
everything else runs its straight form, ``<name>__straight``, derived from
it when the class is defined: kmodel.core.straight):

    counter_ops(scope)                the CounterOps its buffers' counters use
    reserve(rb, payload_len, event_id)  (slot, tsc, token) or (-errno, 0, None);
                                      the token goes to commit (event_id sizes
                                      an LTTng header: event_header.py)
    commit(rb, slot, tsc, payload, event_id, token)
    flush(rb, mode)                   close the open packet (mode: SwitchMode)

What it may change (defaults in this class):

    init_buf(rb)                      per-buffer set-up; rb.layer_priv is the
                                      layer's own slot (the locked layer keeps
                                      its spinlock there)
    write(rb, payload, event_id)      reserve, then commit: one record
    get_subbuf(rb), put_subbuf(rb, consumed), release_subbuf(rb, consumed),
    poll_deliver(rb)                  the reader's side: take the next delivered
                                      sub-buffer, give it back consumed, give
                                      it back unconsumed, and whether one is
                                      ready; the default is the sub-buffer
                                      layer's own, and every reader (buffer
                                      files, consumers, the shell) reaches it
                                      through the channel (rb_channel.get_subbuf
                                      and the rest), so a layer can replace it
"""
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from kmodel.core.registry import Registry
from kmodel.core.straight import derive_methods, stepped
from kmodel.cpu.sched import Steps
from kmodel.relay.rb_config import Scope, SwitchMode
from kmodel.relay.ring_buffer import (CounterOps, lib_ring_buffer, lib_ring_buffer_get_subbuf,
                                      lib_ring_buffer_poll_deliver, lib_ring_buffer_put_subbuf,
                                      lib_ring_buffer_release_subbuf)

__all__ = ["LockingLayer", "get_layer", "layer_names", "unregister_layer"]

# The generator methods a layer may define; each gets its straight form beside
# it (kmodel.core.straight), which every caller outside the explorer runs.
STEPS = ("reserve", "commit", "write", "flush", "get_subbuf", "put_subbuf", "release_subbuf")

_REGISTRY: Registry["LockingLayer"] = Registry("locking layer", instances=True)


class LockingLayer(ABC):
    name: ClassVar[str | None] = None   # set by a layer: defining the class registers it
    # The straight forms of the steps (derived when the class is defined):
    reserve__straight: Callable[..., tuple[int, int, Any]]
    commit__straight: Callable[..., None]
    write__straight: Callable[..., int]
    flush__straight: Callable[..., None]
    get_subbuf__straight: Callable[..., int]
    put_subbuf__straight: Callable[..., int]
    release_subbuf__straight: Callable[..., int]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        derive_methods(cls, STEPS)      # each step's straight form: <name>__straight
        _REGISTRY.add(cls)

    @abstractmethod
    def counter_ops(self, scope: Scope) -> CounterOps:
        """counter_ops - how this layer's buffers keep their counters in scope."""

    def init_buf(self, rb: lib_ring_buffer) -> None:
        """init_buf - set up a new buffer (its rb.layer_priv); nothing by default."""

    @abstractmethod
    def reserve(self, rb: lib_ring_buffer, payload_len: int, event_id: int = 0) -> Steps:
        """reserve - room for a record: (slot, tsc, token) or (-errno, 0, None)."""

    @abstractmethod
    def commit(self, rb: lib_ring_buffer, slot: int, tsc: int, payload: bytes,
               event_id: int, token: Any) -> Steps:
        """commit - copy the record reserved at slot and commit it."""

    @abstractmethod
    def flush(self, rb: lib_ring_buffer, mode: SwitchMode = SwitchMode.ACTIVE) -> Steps:
        """flush - close rb's open packet, from any CPU (SwitchMode says how)."""

    @stepped
    def write(self, rb: lib_ring_buffer, payload: bytes, event_id: int = 0) -> Steps:
        """write - one record: the slot, or a negative errno when it was dropped."""
        slot, tsc, token = yield from self.reserve(rb, len(payload), event_id)
        if slot >= 0:
            yield from self.commit(rb, slot, tsc, payload, event_id, token)
        return slot

    @stepped
    def get_subbuf(self, rb: lib_ring_buffer, consumed: int | None = None) -> Steps:
        """get_subbuf - the reader takes the next delivered sub-buffer (or the
        one at position consumed, a flight recorder's snapshot): its consumed
        position, or -EAGAIN, -ENODATA, -EBUSY."""
        return (yield from lib_ring_buffer_get_subbuf(rb, consumed))

    @stepped
    def put_subbuf(self, rb: lib_ring_buffer, consumed: int) -> Steps:
        """put_subbuf - the reader gives the sub-buffer at consumed back, consumed:
        0 or -errno."""
        return (yield from lib_ring_buffer_put_subbuf(rb, consumed))

    @stepped
    def release_subbuf(self, rb: lib_ring_buffer, consumed: int) -> Steps:
        """release_subbuf - the reader gives it back unconsumed: 0 or -errno."""
        return (yield from lib_ring_buffer_release_subbuf(rb, consumed))

    def poll_deliver(self, rb: lib_ring_buffer) -> bool:
        """poll_deliver - would the reader get a sub-buffer now?  (Not a step.)"""
        return lib_ring_buffer_poll_deliver(rb)


def get_layer(name: str) -> LockingLayer | None:
    """get_layer - the layer registered under name, or None."""
    return _REGISTRY.get(name)


def layer_names() -> list[str]:
    """layer_names - every registered layer, in the order they were defined."""
    return _REGISTRY.names()


def unregister_layer(name: str) -> None:
    """unregister_layer - forget a layer (for tests that define their own)."""
    _REGISTRY.remove(name)
