"""Tracepoints (include/linux/tracepoint.h): named hooks in kernel code.

A kernel path declares a tracepoint once, ``trace_foo = DEFINE_TRACE("foo")``,
and calls it where something worth seeing happens::

    if trace_foo.enabled:
        trace_foo(buf, page, offset)

With no probe registered, ``enabled`` is False and the call is one attribute
test: the Python counterpart of the kernel's static key, which patches the
call out.  Tracepoints are put on paths that are not the hottest (a page
change, a walk), so that even the test costs nothing measurable; the fast path
of a write carries none, and a subscriber that sees no event for an access
knows it took the fast path.  ``register_trace(tp, probe)`` and
``unregister_trace(tp, probe)`` attach and detach probes, which are called
with the tracepoint's arguments, in registration order.  Tracepoints are
global, as the kernel's are: a probe sees the events of every kernel in the
process, and tells them apart by its arguments.

``static_key_any(tp, ...)`` is one flag for several tracepoints, enabled while
any of them has a probe: a path that several of them would watch tests it
once (the relay's page turns).
"""
from contextlib import contextmanager

TRACEPOINTS = {}


class Tracepoint:
    __slots__ = ("name", "probes", "enabled", "keys")

    def __init__(self, name):
        self.name = name
        self.probes = ()
        self.enabled = False
        self.keys = ()              # the StaticKeys this tracepoint is part of

    def __call__(self, *args):
        for probe in self.probes:
            probe(*args)

    def __repr__(self):
        return f"<tracepoint {self.name}: {len(self.probes)} probe(s)>"


def DEFINE_TRACE(name):
    """DEFINE_TRACE - the tracepoint called name (one per name)."""
    tp = TRACEPOINTS.get(name)
    if tp is None:
        tp = TRACEPOINTS[name] = Tracepoint(name)
    return tp


class StaticKey:
    """A flag that is True while any of its tracepoints has a probe."""
    __slots__ = ("members", "enabled")

    def __init__(self, members):
        self.members = tuple(members)
        self.enabled = any(tp.enabled for tp in self.members)


def static_key_any(*tps):
    """static_key_any - a StaticKey over tracepoints tps."""
    key = StaticKey(tps)
    for tp in tps:
        tp.keys = tp.keys + (key,)
    return key


def _update_keys(tp):
    for key in tp.keys:
        key.enabled = any(m.enabled for m in key.members)


def register_trace(tp, probe):
    tp.probes = tp.probes + (probe,)
    tp.enabled = True
    _update_keys(tp)


def unregister_trace(tp, probe):
    probes = list(tp.probes)
    probes.remove(probe)
    tp.probes = tuple(probes)
    tp.enabled = bool(probes)
    _update_keys(tp)


@contextmanager
def tracing(probes):
    """tracing - attach {tracepoint: probe} for the duration of a with-block."""
    done = []
    try:
        for tp, probe in probes.items():
            register_trace(tp, probe)
            done.append((tp, probe))
        yield
    finally:
        for tp, probe in reversed(done):
            unregister_trace(tp, probe)
