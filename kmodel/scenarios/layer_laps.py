"""A reader that polls while writers lap the buffer: the layers' scenario for
the reader's races (``kmodel explore builtin:rb-lap...``).

The conformance scenario (layer_races.py) has its reader make a few tries
and read each packet in the step of its get; it is done long before a writer
comes round the buffer again.  Here the writers write more records than the
buffer holds (they go round it twice), and the reader keeps going until they
are done: it sleeps (wait_event) until every sub-buffer of a buffer is
delivered, or the writers are done, so that they get to lap it; then it
takes what is delivered, copies each packet a page at a time
(lib_ring_buffer_read: a writer can run between two pages), and gives it
back.  So a writer can find the buffer full while the reader holds a
sub-buffer, and the reader can take a sub-buffer between a writer's read of
``consumed`` and its cmpxchg on it (overwrite mode): push_window().  A
reader that polled without sleeping would spin forever under the schedules
that let the context that ran last go on (exhaustive search, PCT).

Invariants: those of LayerScenario (produced = read + lost per buffer, no
record read twice, each record read as written, ...), and two more, after
every step: the sub-buffer the reader holds is never written, and the
reader's put_subbuf succeeds.  The held sub-buffer's bytes are taken from
its frames in the step of the get (straight from the memfds, so the check
costs the model nothing) and must be the same after every step until the
step of the put.
"""
import os

from kmodel.core.errno import EIO
from kmodel.consumer.splice import subbuf_runs
from kmodel.core import atomic, spinlock
from kmodel.cpu import wait
from kmodel.cpu.context import HARDIRQ, NMI, SOFTIRQ, TASK
from kmodel.cpu.coverage import Coverage, Window, find_point
from kmodel.cpu.wait import wait_event
from kmodel.relay import layer, layer_locked, layer_lockless, rb_backend, ring_buffer
from kmodel.relay.packet import HDR, REC
from kmodel.relay.rb_config import Mode, Scope
from kmodel.relay.rb_backend import lib_ring_buffer_clear_noref, update_read_sb_index
from kmodel.relay.rb_config import DEFAULT_ERA, Era
from kmodel.relay.ring_buffer import (_push_reader, read_packet_steps, subbuf_read_offset)
from kmodel.scenarios.layer_races import LayerScenario

# Records of 4038 bytes take 4054 with their header: two fill an 8 KiB
# sub-buffer after its 84-byte header exactly (so it is delivered by its last commit), four the
# buffer.  CPU 0's writers go round the buffer twice: a task (three records,
# then one too big for a sub-buffer), a hardirq whose first record, of 100
# bytes, makes the next ones close sub-buffers with padding, and a third
# writer.  In the lockless layer it is an NMI, which can come on top of the
# task or the hardirq while their records are in flight, and then writes
# enough to come back to that sub-buffer (a wrap-around loss).  The locked
# layer writes with interrupts off under its spinlock, which an NMI would
# find held by its own CPU below it (its record refused and counted in
# events_lost), so there it is a softirq, which gets to write.
# A global buffer gets a task on CPU 1 as well.
FILL = (8192 - HDR) // 2 - REC     # 4038


def lap_writers(layer, scope):
    """The writers of the lap scenario for a layer and scope: [(cpu, kind, n, size)]."""
    third = NMI if layer == "lockless" else SOFTIRQ
    writers = [(0, TASK, 3, FILL), (0, TASK, 1, 9000), (0, HARDIRQ, 1, 100),
               (0, HARDIRQ, 2, FILL), (0, third, 3, FILL)]
    if Scope(scope) is Scope.GLOBAL:
        writers.append((1, TASK, 3, FILL))
    return writers


class LapScenario(LayerScenario):
    """Writers that lap a 2 x 8 KiB buffer, and a reader that polls until they
    are done.  writers: [(cpu, kind, n records, size)] (default lap_writers);
    the entries of one CPU and kind are one context, which writes them in
    order.  wake_at: how many delivered sub-buffers of a buffer wake the
    reader (default all of them)."""

    def __init__(self, backend="pagelist", layer="lockless", mode=Mode.OVERWRITE,
                 scope=Scope.PER_CPU, writers=None, subbuf=8192, n_subbufs=2, reader_cpu=2,
                 wake_at=None, era=DEFAULT_ERA):
        super().__init__(backend, layer, mode, scope, writers or lap_writers(layer, scope),
                         subbuf, n_subbufs, reader_cpu, era=era)
        self.wake_at = wake_at or n_subbufs
        self.writing = 0
        self.held = {}
        self.broken = None
        self.polled = 0                 # packets the reader took while writers ran, all runs
        self.torn = 0                   # (2009) packets whose put said -EIO, all runs

    def setup(self, world):
        self.writing = 0                # writers not done
        self.held = {}                  # buffer -> (position, bytes at the get) the reader holds
        self.broken = None
        return super().setup(world)

    def _tasks(self):
        """[(cpu, kind, [(writer number, n, size)])]: the entries of one CPU and
        kind merged, in their order, into one context that writes them all."""
        out = {}
        for w, (cpu, kind, n, size) in enumerate(self.writers):
            out.setdefault((cpu, kind), []).append((w, n, size))
        return [(cpu, kind, parts) for (cpu, kind), parts in out.items()]

    def _declare_writers(self, world):
        for cpu, kind, parts in self._tasks():
            rb = self.rbc.buf_for(cpu)
            fn = self._lap_writer(rb, parts)
            name = "writer" + "+".join(str(w) for w, _, _ in parts)
            if kind is TASK:
                world.task(cpu, fn, name=name)
            else:
                world.irq(cpu, fn, name=name, kind=kind)
            self.writing += 1

    def _lap_writer(self, rb, parts):
        def writer():
            for w, n, size in parts:
                yield from self._writer(rb, w, n, size)()
            self.writing -= 1
        return writer

    # --- the reader -----------------------------------------------------------------
    def _readable(self):
        """What the reader sleeps on: wake_at delivered sub-buffers waiting
        in some buffer, or every writer done."""
        if not self.writing:
            return True
        return any(delivered_ahead(rb) >= self.wake_at for rb in self.rbc.bufs.values())

    def _reader(self):
        rbc = self.rbc
        while True:
            yield from wait_event(self.k, self._readable, "a sub-buffer to read")
            done = not self.writing
            got = False
            for rb in list(rbc.bufs.values()):
                c = yield from rbc.get_subbuf(rb)
                if c < 0:
                    continue            # -EAGAIN: a writer pushed past it, or none yet
                got = True
                off = subbuf_read_offset(rb, c)
                self.held[id(rb)] = (c, off, frames_bytes(self.k, rb, off))  # the get's step
                packet = yield from read_packet_steps(rb, c)
                self.polled += 1
                written = frames_bytes(self.k, rb, off) != self.held[id(rb)][2]
                ret = yield from rbc.put_subbuf(rb, c)
                del self.held[id(rb)]
                if ret == -EIO and self.era is Era.V2009:
                    self.torn += 1              # dropped: its records are counted overrun
                    continue
                if ret:
                    self.broken = f"the reader's put_subbuf at {c} returned {ret}"
                elif written:
                    self.broken = (f"put_subbuf at {c} said 0 for a sub-buffer written while "
                                   "it was read")
                self.read[id(rb)].append(packet)
            if done and not got:
                return

    def windows(self):
        """The windows its coverage report names: the push window in overwrite
        mode, where writers push consumed; the held window in both."""
        return ([push_window()] if self.mode is Mode.OVERWRITE else []) + [held_window()]

    # --- invariants -----------------------------------------------------------------
    def check(self, state, final):
        if self.broken:
            return self.broken
        if self.era is Era.V2:          # 2009 writes what the reader holds: put tells it
            for rb in self.rbc.bufs.values():
                msg = self._check_held(rb)
                if msg:
                    return msg
        return super().check(state, final)

    def _check_held(self, rb):
        """The sub-buffer the reader holds has the bytes it had at the get."""
        snap = self.held.get(id(rb))
        if snap is None or rb.reader_held is None:      # (in its put: given back)
            return None
        pos, off, was = snap
        now = frames_bytes(self.k, rb, off)
        if now != was:
            diff = next(i for i, (a, b) in enumerate(zip(now, was)) if a != b)
            which = "global" if rb.cpu is None else f"cpu{rb.cpu}"
            return (f"buffer {which}: the sub-buffer the reader holds (position {pos}) was "
                    f"written while held (byte {diff} changed)")
        return None


def delivered_ahead(rb):
    """How many sub-buffers from rb's consumed position on are delivered."""
    rbc = rb.rbc
    S, n = rbc.subbuf_size, rbc.n_subbufs
    c = rb.consumed.counter
    ready = 0
    while ready < n:
        pos = c + ready * S
        if rb.commit_cold[(pos // S) % n].counter != (pos // rbc.alloc_size + 1) * S:
            break
        ready += 1
    return ready


def frames_bytes(k, rb, offset):
    """The bytes of the sub-buffer at offset of the allocation layer's buffer,
    read from its frames' memfds (no cost in the model, no cache pointer moved)."""
    return b"".join(os.pread(fd, n, off)
                    for fd, off, n in subbuf_runs(k, rb.rbuf, offset, rb.rbc.subbuf_size))


# --- coverage ------------------------------------------------------------------------
COVERAGE_SOURCES = (ring_buffer, rb_backend, layer, layer_locked, layer_lockless, atomic, spinlock,
                    wait)
PRIMITIVES = (atomic, spinlock, wait)


def layer_coverage():
    """layer_coverage - a Coverage of the layers' yield points (ring_buffer.py,
    layer*.py) and of the primitives they yield in (atomics, locks, waits)."""
    return Coverage(COVERAGE_SOURCES, PRIMITIVES)


def push_window():
    """The window of the reader's race in overwrite mode (2.x): the reader
    swaps a sub-buffer out of the table (update_read_sb_index's cmpxchg) while
    a writer that entered it stands at its cmpxchg that clears the noref flag
    (lib_ring_buffer_clear_noref): one of the two cmpxchgs fails."""
    return Window("the reader swaps a sub-buffer out while a writer that entered it "
                  "clears its noref flag",
                  find_point(lib_ring_buffer_clear_noref, "atomic_long_cmpxchg(w"),
                  find_point(update_read_sb_index, "atomic_long_cmpxchg(w"))


def held_window():
    """A writer reads consumed while the reader holds a sub-buffer it copies."""
    return Window("a writer reads consumed while the reader copies a held sub-buffer",
                  find_point(ring_buffer.lib_ring_buffer_read, 'yield (Op.READ'),
                  find_point(_push_reader, "atomic_long_read(rb.consumed"))


# name -> (layer, mode, scope, backend, what it shows)
LAP_SCENARIOS = {
    "rb-lap": ("lockless", Mode.OVERWRITE, Scope.PER_CPU, "pagelist",
               "a reader polls while writers lap the buffer (lockless, overwrite)"),
    "rb-lap-discard": ("lockless", Mode.DISCARD, Scope.PER_CPU, "vmap",
                       "the same in discard mode, on vmap"),
    "rb-lap-locked": ("locked", Mode.OVERWRITE, Scope.PER_CPU, "static",
                      "the same on ltt-relay-locked, on static"),
    "rb-lap-global": ("lockless", Mode.OVERWRITE, Scope.GLOBAL, "pagelist",
                      "the same on one global buffer that two CPUs write"),
}


def make_lap_scenario(name):
    """A fresh scenario of the built-in lap scenario name, or None."""
    entry = LAP_SCENARIOS.get(name)
    if entry is None:
        return None
    lyr, mode, scope, backend, _ = entry
    return LapScenario(backend, lyr, mode, scope)
