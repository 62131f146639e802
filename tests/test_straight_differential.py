"""One algorithm, two executions: the generator form of the layers (run by the
scheduler's interpreter, run_now) and their straight form (derived from the
generators' source by kmodel.core.straight) do the same thing.

Hypothesis drives one random sequence of operations (writes, reservations held
while an interrupt or an NMI writes over them, commits, flushes from any CPU,
the reader's gets, puts and releases, CPUs going down and up) through both
forms, in two kernels booted alike, on every backend x layer x mode x scope,
and compares what each operation returned (or the oops it raised), then the
buffers' bytes, every counter, every packet header, the modeled cost and
dmesg.  A mutation of the transform (a dropped callee) is caught: see
test_a_dropped_callee_is_caught.
"""
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw.machine import Machine
from hw.topology import load_preset
from kmodel.core.bug import Oops
from kmodel.core.straight import derive
from kmodel.cpu.context import HARDIRQ, NMI, ContextError, context_enter, context_exit
from kmodel.cpu.sched import run_now
from kmodel.kernel import boot
from kmodel.relay import ring_buffer
from kmodel.relay.layer_channel import ring_buffer_open
from kmodel.relay.packet import unpack_packet_header
from kmodel.relay.rb_config import Mode, Scope, SwitchMode
from kmodel.relay.relay_alloc import ltt_relay_read

BACKENDS = ("pagelist", "vmap", "static", "pmem")
LAYERS = ("lockless", "locked")
CONFIGS = list(itertools.product(BACKENDS, LAYERS, Mode, Scope))
CPUS = (0, 4, 5)                        # numa2: CPU 0 on node 0, 4 and 5 on node 1
HOTPLUG_CPUS = (5,)
PMEM_CMDLINE = "reserve_mem=4M:4096:trace"

cpu = st.sampled_from(CPUS)
size = st.one_of(st.integers(0, 600), st.integers(600, 4200))   # 4200: too big for a packet
OPS = st.one_of(
    st.tuples(st.just("write"), cpu, size),
    st.tuples(st.just("burst"), cpu, size, st.integers(2, 40)),
    st.tuples(st.just("reserve"), cpu, size),
    st.tuples(st.just("commit"), cpu),
    st.tuples(st.just("irq"), cpu, st.sampled_from((HARDIRQ, NMI)), size),
    st.tuples(st.just("flush"), cpu, cpu, st.sampled_from(SwitchMode)),
    st.tuples(st.just("get"), cpu),
    st.tuples(st.just("put"), cpu),
    st.tuples(st.just("release"), cpu),
    st.tuples(st.just("hotplug"), st.sampled_from(HOTPLUG_CPUS)),
)


class Straight:
    """Runs a step straight through: its derived twin."""
    name = "straight"

    @staticmethod
    def layer(k, rbc, step, *args):
        return getattr(rbc.layer, step + "__straight")(*args)

    @staticmethod
    def reader(k, rbc, step, *args):
        return getattr(rbc, step + "__straight")(*args)


class Generator:
    """Runs a step's generator through the scheduler's interpreter."""
    name = "generator"

    @staticmethod
    def layer(k, rbc, step, *args):
        return run_now(k, getattr(rbc.layer, step)(*args))

    @staticmethod
    def reader(k, rbc, step, *args):
        return run_now(k, getattr(rbc, step)(*args))


def payload(n, salt):
    return bytes((salt * 31 + i * 7) & 0xff for i in range(n))


class Rig:
    """One kernel with one layered channel, and what its tests hold."""

    def __init__(self, form, backend, layer, mode, scope, tmp):
        self.form = form
        if backend == "pmem":
            path = tmp / form.name / "region.pmem"      # dmesg names it: one name
            path.parent.mkdir(exist_ok=True)
            if path.exists():
                path.unlink()           # a new region for every example
            self.machine = Machine(load_preset("numa2"), pmem_path=str(path))
            self.region = str(path)
            self.k = boot(self.machine, cmdline=PMEM_CMDLINE)
        else:
            self.machine = self.region = None
            self.k = boot("numa2")
        k = self.k
        k.modules.insmod("ltt_relay_alloc")
        self.rbc, err = ring_buffer_open(k, "d", 4096, 2, backend, "local", layer, mode, scope,
                                         history=True)
        assert self.rbc is not None, err
        self.held = {}                  # cpu -> (rb, slot, tsc, data, token)
        self.reading = {}               # cpu -> consumed position held
        self.dead = False
        self.n = 0

    def close(self):
        self.k.shutdown()
        if self.machine is not None:
            self.machine.close()

    def rb(self, c):
        return self.rbc.buf_for(c)

    def apply(self, op):
        """apply - one operation: what it returned, or the oops it raised."""
        if self.dead:
            return "dead"
        self.n += 1
        try:
            return self._apply(op)
        except Oops as e:
            self.dead = True
            return f"oops: {e}"

    def _apply(self, op):
        k, rbc, form = self.k, self.rbc, self.form
        what = op[0]
        if what in ("write", "burst", "reserve", "commit", "irq") and not k.cpu_online(op[1]):
            return "offline"
        if what == "write":
            _, c, n = op
            with k.on_cpu(c):
                return form.layer(k, rbc, "write", self.rb(c), payload(n, self.n), 3)
        if what == "burst":
            _, c, n, count = op
            with k.on_cpu(c):
                return [form.layer(k, rbc, "write", self.rb(c), payload(n, self.n + i), 3)
                        for i in range(count)]
        if what == "reserve":
            _, c, n = op
            if c in self.held:
                return "holds one"
            data = payload(n, self.n)
            with k.on_cpu(c):
                rb = self.rb(c)
                slot, tsc, token = form.layer(k, rbc, "reserve", rb, len(data))
            if slot >= 0:
                self.held[c] = (rb, slot, tsc, data, token)
            return slot, tsc
        if what == "commit":
            held = self.held.pop(op[1], None)
            if held is None:
                return "holds none"
            rb, slot, tsc, data, token = held
            with k.on_cpu(op[1]):
                return form.layer(k, rbc, "commit", rb, slot, tsc, data, 4, token)
        if what == "irq":
            _, c, kind, n = op
            with k.on_cpu(c):
                try:
                    ctx = context_enter(k, c, kind, "irq")
                except ContextError as e:
                    return f"refused: {e}"
                try:
                    return form.layer(k, rbc, "write", self.rb(c), payload(n, self.n), 5)
                finally:
                    context_exit(k, ctx)
        if what == "flush":
            _, src, c, mode = op
            rb = self.rb(c) if k.cpu_online(c) else rbc.bufs.get(
                None if rbc.scope is Scope.GLOBAL else c)
            if rb is None or not k.cpu_online(src):
                return "no buffer"
            with k.on_cpu(src):
                return form.layer(k, rbc, "flush", rb, mode)
        if what in ("get", "put", "release"):
            c = op[1]
            rb = rbc.bufs.get(None if rbc.scope is Scope.GLOBAL else c)
            if rb is None:
                return "no buffer"
            with k.on_cpu(k.boot_cpu):
                if what == "get":
                    pos = form.reader(k, rbc, "get_subbuf", rb)
                    if pos >= 0:
                        self.reading[c] = pos
                    return pos
                if c not in self.reading:
                    return "holds none"
                step = "put_subbuf" if what == "put" else "release_subbuf"
                return form.reader(k, rbc, step, rb, self.reading.pop(c))
        if what == "hotplug":
            c = op[1]
            if c in self.held:
                return "holds a reservation"
            return k.cpu_down(c) if k.cpu_online(c) else k.cpu_up(c)
        raise AssertionError(op)

    def state(self):
        """Everything the two forms must agree on, at the end."""
        k, rbc = self.k, self.rbc
        cost = k.timing.totals()        # before the reads below charge theirs
        counters, headers, memory = {}, {}, {}
        for key, rb in rbc.buffers():
            counters[key] = {
                "offset": rb.offset.counter, "consumed": rb.consumed.counter,
                "cc": [h.cc.counter for h in rb.commit_hot],
                "seq": [h.seq.counter for h in rb.commit_hot],
                "cc_sb": [c.counter for c in rb.commit_cold],
                "lost": (rb.records_lost_full.counter, rb.records_lost_wrap.counter,
                         rb.records_lost_big.counter, rb.records_overrun.counter),
                "closing": (rb.data_size, rb.content_end, rb.ts_end, rb.discarded_at_close,
                            rb.last_closed_discarded, rb.finalized),
                "book": (rb.book.reserved, rb.book.delivered, rb.book.records_per_packet,
                         rb.book.n_delivered, rb.book.produced, rb.book.committed,
                         rb.book.spurious_wrap),
            }
        for c in sorted(k.cpu_possible_mask):
            rbuf = rbc.chan.buf[c]
            if rbuf is None or self.dead:
                continue
            raw = bytearray(rbc.alloc_size)
            ltt_relay_read(rbuf, 0, raw, rbc.alloc_size)
            memory[c] = bytes(raw)
            headers[c] = [unpack_packet_header(raw[i * rbc.subbuf_size:])
                          for i in range(rbc.n_subbufs)]
        return {"counters": counters, "cost": cost, "headers": headers, "memory": memory,
                "dmesg": k.log.text().replace(self.region or "\0", "REGION"), "trace_clock": k.trace_clock}


def differ(config, ops, tmp):
    """Run ops through both forms; the first difference, or None."""
    rigs = [Rig(form, *config, tmp) for form in (Generator, Straight)]
    return _differ(rigs, ops)


def _differ(rigs, ops):
    try:
        for i, op in enumerate(ops):
            got = [r.apply(op) for r in rigs]
            if got[0] != got[1]:
                return f"op {i} {op}: generator {got[0]!r}, straight {got[1]!r}"
        a, b = (r.state() for r in rigs)
        for key in a:
            if a[key] != b[key]:
                return f"after {len(ops)} ops: {key} differ: {a[key]!r:.600} != {b[key]!r:.600}"
        return None
    finally:
        for r in rigs:
            r.close()


@pytest.mark.parametrize("config", CONFIGS, ids=["-".join(map(str, c)) for c in CONFIGS])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OPS, min_size=1, max_size=40))
def test_both_forms_do_the_same(config, ops, tmp_path):
    assert differ(config, ops, tmp_path) is None


# A sequence that wraps the buffer, holds a reservation while an interrupt
# and an NMI write, flushes from another CPU and reads: every step of the layers.
# (Under the locked layer, the hardirq is refused, interrupts being off, and
# the NMI deadlocks on the buffer's lock: the oops, last.)
BUSY = ([("write", 0, 500)] * 20 + [("reserve", 0, 100), ("irq", 0, HARDIRQ, 60),
        ("write", 4, 200), ("commit", 0), ("flush", 4, 0, SwitchMode.ACTIVE),
        ("get", 0), ("put", 0), ("get", 0), ("release", 0), ("burst", 0, 3000, 9),
        ("hotplug", 5), ("flush", 0, 5, SwitchMode.FLUSH), ("hotplug", 5), ("write", 5, 70),
        ("reserve", 0, 10), ("irq", 0, NMI, 60), ("commit", 0)])


def test_the_busy_sequence_agrees_everywhere(tmp_path):
    for config in CONFIGS:
        assert differ(config, BUSY, tmp_path) is None, config


def test_a_dropped_callee_is_caught(tmp_path, monkeypatch):
    """The mutation of the transform the check must catch: commit_record's
    twin derived with its `yield from lib_ring_buffer_commit(...)` dropped."""
    import kmodel.core.straight as straight_mod
    real = straight_mod._Transform.visit_YieldFrom

    def dropping(self, node):
        if "lib_ring_buffer_commit" in getattr(node.value.func, "id", ""):
            return straight_mod.ast.copy_location(straight_mod.ast.Constant(None), node)
        return real(self, node)
    monkeypatch.setattr(straight_mod._Transform, "visit_YieldFrom", dropping)
    monkeypatch.setattr(ring_buffer.commit_record, "straight", derive(ring_buffer.commit_record))
    for config in (("pagelist", "lockless", Mode.DISCARD, Scope.PER_CPU),
                   ("vmap", "locked", Mode.OVERWRITE, Scope.GLOBAL)):
        assert differ(config, BUSY, tmp_path) is not None, config
