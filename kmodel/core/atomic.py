"""Atomic operations (include/asm-generic/local.h, include/linux/atomic.h, cmpxchg).

Every operation here is a generator: call it with ``yield from`` inside a
context (kmodel.cpu.context), and it yields once before each memory access
that another context could come between, naming the access.  So
``v = yield from local_add_return(l, 1)`` is one step for the scheduler when
the CPU owns ``l``, and two when it does not.

- ``local_t`` belongs to one CPU.  Its operations are single instructions
  without the LOCK prefix: atomic against every context of its owning CPU (an
  interrupt comes before or after an instruction, never inside one), not
  against other CPUs.  Called from another CPU, a read-modify-write is a load
  and a store that another context can come between: that is how a flush run
  on a remote CPU corrupted LTTng's commit counts (lttng-modules 5e391252).
- ``atomic_long_t`` and ``cmpxchg`` on a plain long are LOCK'd: atomic
  everywhere, and dearer (``atomic_cycles`` against ``local_op_cycles``).
- ``plain_long`` is an ordinary ``long`` in shared memory; ``READ_ONCE`` and
  ``WRITE_ONCE`` (ACCESS_ONCE in 2.6.29) are its loads and stores, and
  ``x++`` on it is a load and a store.

Each has a straight form too (kmodel.core.straight: ``f.straight``), for code
that runs it with no other context between its steps.

Cost: each access charges the running CPU through ``k.timing`` (hw.timing):
the instruction, and a cache-line transfer when another CPU had the line.
Memory order is sequentially consistent; see kmodel.core.irqflags.smp_mb.
"""


from kmodel.core.straight import stepped, trace_only, with_twin
from kmodel.core.step import Op


class _Word:
    """A word of shared memory with a cache line (line_owner: the CpuCost that
    last had it; see hw.timing.TimingModel.atomic)."""
    __slots__ = ("k", "counter", "name", "line_owner")

    def __init__(self, k, value=0, name=None):
        self.k = k
        self.counter = value
        self.name = name or type(self).__name__
        self.line_owner = None

    def __repr__(self):
        return f"{self.name}={self.counter}"


class plain_long(_Word):
    """A plain long in shared memory."""
    __slots__ = ()


class atomic_long_t(_Word):
    __slots__ = ()


class local_t(_Word):
    """A local_t owned by one CPU (cpu)."""
    __slots__ = ("cpu",)

    def __init__(self, k, cpu, value=0, name=None):
        super().__init__(k, value, name)
        self.cpu = cpu


def _charge(w, locked):
    k = w.k
    t = k.timing
    t.atomic(t.cpus[k.current.cpu], w, locked)


@trace_only
def _note(w, value):
    w.k.current.note = value
    return value


# --- plain accesses -----------------------------------------------------------
@stepped
def READ_ONCE(w):
    yield (Op.READ_ONCE, w)
    k = w.k
    t = k.timing                        # t.line_access(c, w), its test written out
    c = t.cpus[k.current.cpu]
    o = w.line_owner
    if o is not c:
        if o is not None:
            t.line_transfer(c, o)
        w.line_owner = c
    return _note(w, w.counter)


@stepped
def WRITE_ONCE(w, value):
    yield (Op.WRITE_ONCE, w)
    k = w.k
    t = k.timing                        # t.line_access(c, w), its test written out
    c = t.cpus[k.current.cpu]
    o = w.line_owner
    if o is not c:
        if o is not None:
            t.line_transfer(c, o)
        w.line_owner = c
    w.counter = value
    _note(w, value)


# --- local_t ------------------------------------------------------------------
@stepped
def local_read(l):
    return (yield from READ_ONCE(l))


@stepped
def local_set(l, i):
    return (yield from WRITE_ONCE(l, i))       # (returns None: forwarded, WRITE_ONCE's twin)


@stepped
def local_add_return(l, i):
    """local_add_return - add i, return the new value; one step on the owning
    CPU, a load and a store (two steps) from any other CPU."""
    k = l.k
    if k.current.cpu == l.cpu:
        yield (Op.LOCAL_ADD, l)
        t = k.timing                    # _charge(l, False), written out: the hot path
        t.atomic(t.cpus[l.cpu], l, False)
        l.counter += i
        return _note(l, l.counter)
    yield (Op.LOCAL_ADD_LOAD, l)
    _charge(l, False)
    v = _note(l, l.counter)
    yield (Op.LOCAL_ADD_STORE, l)
    _charge(l, False)
    l.counter = v + i
    return _note(l, v + i)


@stepped
def local_add(l, i):
    yield from local_add_return(l, i)


@stepped
def local_sub(l, i):
    yield from local_add_return(l, -i)


@stepped
def local_inc(l):
    yield from local_add_return(l, 1)


@stepped
def local_dec(l):
    yield from local_add_return(l, -1)


@stepped
def local_cmpxchg(l, old, new):
    """local_cmpxchg - if l == old, set it to new; returns what l was.  One
    step on the owning CPU; from another, a load and a store with room between."""
    k = l.k
    if k.current.cpu == l.cpu:
        yield (Op.LOCAL_CMPXCHG, l)
        t = k.timing                    # _cmpxchg_once(l, old, new, False), written out
        t.atomic(t.cpus[l.cpu], l, False)
        v = l.counter
        if v == old:
            l.counter = new
        return _note(l, v)
    yield (Op.LOCAL_CMPXCHG_LOAD, l)
    _charge(l, False)
    v = l.counter
    if v != old:
        return _note(l, v)
    yield (Op.LOCAL_CMPXCHG_STORE, l)
    _charge(l, False)
    l.counter = new
    return _note(l, v)


# --- atomic_long_t and cmpxchg: atomic on every CPU ---------------------------
@stepped
def atomic_long_read(a):
    return (yield from READ_ONCE(a))


@stepped
def atomic_long_set(a, i):
    return (yield from WRITE_ONCE(a, i))       # (returns None: forwarded, WRITE_ONCE's twin)


@stepped
def atomic_long_add_return(a, i):
    yield (Op.ATOMIC_LONG_ADD, a)
    _charge(a, True)
    a.counter += i
    return _note(a, a.counter)


@stepped
def atomic_long_add(a, i):
    yield from atomic_long_add_return(a, i)


@stepped
def atomic_long_inc(a):
    yield from atomic_long_add_return(a, 1)


@stepped
def atomic_long_dec(a):
    yield from atomic_long_add_return(a, -1)


def _cmpxchg_now(w, old, new):
    """The straight form of cmpxchg, by hand: _cmpxchg_once with its charge
    written out (the same charge, one call instead of three: the swap of the
    reader's sub-buffer makes three of these a get/put) and no trace note
    (no trace follows a straight form)."""
    k = w.k
    t = k.timing
    t.atomic(t.cpus[k.current.cpu], w, True)
    v = w.counter
    if v == old:
        w.counter = new
    return v


@with_twin(_cmpxchg_now)
def cmpxchg(w, old, new):
    """cmpxchg - LOCK CMPXCHG on any word: if w == old, w = new; returns what
    w was.  atomic_long_cmpxchg is the same on an atomic_long_t."""
    yield (Op.CMPXCHG, w)
    return _cmpxchg_once(w, old, new, True)


def _cmpxchg_once(w, old, new, locked):
    """The compare and exchange of one instruction (locked: with LOCK)."""
    k = w.k                             # _charge(w, locked), written out: the hot path
    t = k.timing
    t.atomic(t.cpus[k.current.cpu], w, locked)
    v = w.counter
    if v == old:
        w.counter = new
    return _note(w, v)


atomic_long_cmpxchg = cmpxchg
