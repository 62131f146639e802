"""Tracepoints (kmodel/core/tracepoint.py) and the relay's (kmodel/relay/relay_trace.py)."""
import pytest

from hw import PAGE_SIZE
from kmodel.core.tracepoint import (DEFINE_TRACE, TRACEPOINTS, register_trace, tracing,
                                    unregister_trace)
from kmodel.relay import relay_trace as rt
from kmodel.relay.relay_alloc import ltt_relay_read, ltt_relay_write
from relay_helpers import RelayEnv

RELAY = {rt.trace_relay_lookup: "lookup", rt.trace_relay_walk: "walk",
         rt.trace_relay_lookup_done: "done", rt.trace_relay_cache: "cache",
         rt.trace_relay_tlb: "tlb", rt.trace_relay_tlb_done: "tlb_done",
         rt.trace_relay_copy: "copy"}


def events_of(buf, fn):
    seen = []

    def probe_for(name):
        return lambda b, *args: seen.append((name, args)) if b is buf else None
    with tracing({tp: probe_for(n) for tp, n in RELAY.items()}):
        fn()
    return seen


def test_register_and_unregister():
    tp = DEFINE_TRACE("test_point")
    assert DEFINE_TRACE("test_point") is tp and TRACEPOINTS["test_point"] is tp
    got = []
    a, b = (lambda x: got.append(("a", x))), (lambda x: got.append(("b", x)))
    assert not tp.enabled
    register_trace(tp, a)
    register_trace(tp, b)
    tp(1)
    unregister_trace(tp, a)
    tp(2)
    unregister_trace(tp, b)
    assert got == [("a", 1), ("b", 1), ("b", 2)] and not tp.enabled


def test_no_relay_tracepoint_is_enabled_without_a_probe():
    assert not any(tp.enabled for tp in RELAY)
    with pytest.raises(RuntimeError):
        with tracing({rt.trace_relay_copy: lambda *a: None}):
            assert rt.trace_relay_copy.enabled
            raise RuntimeError
    assert not rt.trace_relay_copy.enabled        # detached even after an error


def test_pagelist_events_in_order(k):
    env = RelayEnv(k)
    buf = env.open(4096, 4).buf[0]
    # the fast path fires nothing
    assert events_of(buf, lambda: ltt_relay_write(buf, 100, b"x" * 64, 64)) == []
    ev = events_of(buf, lambda: ltt_relay_write(buf, PAGE_SIZE - 10, b"y" * 20, 20))
    names = [n for n, _ in ev]
    assert names == ["lookup", "done", "tlb", "tlb_done", "copy",     # page 0: at hand
                     "lookup", "walk", "cache", "done", "tlb", "tlb_done", "copy"]
    assert ev[4][1] == (0, PAGE_SIZE - 10, 10, True)
    assert ev[11][1] == (1, 0, 10, True)
    assert ev[6][1] == (True,)                                      # forward
    # backward: 3 pages behind from page 1 is 1 ahead the short way... use a read
    ev = events_of(buf, lambda: ltt_relay_read(buf, 3 * PAGE_SIZE + 5, bytearray(4), 4))
    assert ("walk", (False,)) in ev and not any(n == "cache" for n, _ in ev)


@pytest.mark.parametrize("backend", ["vmap", "static"])
def test_contiguous_events(k, backend):
    env = RelayEnv(k)
    buf = env.open(4096, 4, backend=backend).buf[0]
    ev = events_of(buf, lambda: ltt_relay_write(buf, PAGE_SIZE - 10, b"y" * 5000, 5000))
    assert [n for n, _ in ev] == ["tlb", "tlb_done", "copy", "tlb", "tlb_done", "copy",
                                  "tlb", "tlb_done", "copy"]
    assert [a for n, a in ev if n == "copy"] == [(0, PAGE_SIZE - 10, 10, True),
                                                 (1, 0, 4096, True), (2, 0, 894, True)]
