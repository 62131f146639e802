"""kmodel trace record: a workload and a consumer, and a CTF trace on disk.

Time goes in ticks of modeled time (hw.clock): tick t starts at t * TICK_NS
(1 ms), and every online CPU's clock is brought to that start
(Clock.wait_until), whether it traces in that tick or not, so that a quiet
CPU's packets (a flush, the stop's) carry the machine's time.  In each tick
every online CPU produces ``rate`` events through the channel's locking
layer: scheduler switches from its task, interrupt entry and exit from a
hardirq nested on it, and now and then a large event that spans pages.  The
events of a tick are written back to back from the tick's start, each at
the modeled cost of the ones before it (a saturated writer, a burst): the
timestamps are then the cost model's alone, with no think time the workload
does not model, and a CPU waits once a tick, not once an event (the hot
path).  Spreading them over the tick would invent the gaps between them.
A tick whose events cost more than 1 ms runs into the next (the CPU is
busy: its wait does nothing).  Each record's copy is charged to the CPU's
clock as it is written (Clock.copied), as in a recording in time.  The
stop comes at the end of the last tick (``end_ns``).

After the CPUs' events, the consumer (a registered one,
consumer/base.py: splice, mmap, read, ...) takes up to ``consumer_rate``
delivered sub-buffers from each CPU's buffer (all of them when it is None)
and writes each to that CPU's stream file, ``channel0_<cpu>``; its work is
counted in the timing model but on no CPU's clock (_off_the_clock), so that
every consumer writes the same trace.  A hotplug
script's writes (``TICK echo VALUE > PATH``, kmodel.session) happen at the
ticks they name.  At the end every buffer is flushed and drained, so that the
trace holds every event that was not counted lost.

The recorder runs on a Session (kmodel.session): it boots the machine, and
nothing here knows the shell.  The events are drawn from a seeded generator:
the same options give the same trace, byte for byte.
"""
import os
import random
import zlib
from dataclasses import dataclass, field

import kmodel.consumer.builtin  # noqa: F401  (registers the shipped consumers)
from hw import PAGE_SHIFT
from hw.clock import PAGE_MASK
from hw.topology import DEFAULT_PRESET
from kmodel.consumer.base import get_consumer
from kmodel.consumer.ctf_index import write_trace_index
from kmodel.consumer.metadata_channel import lttng_metadata_packets
from kmodel.consumer.ctf import (EVENT_CLASSES, SCHED_CLOCK, TICK_CLOCK, TraceInfo, encode,
                                  metadata, read_trace)
from kmodel.consumer.sched_workload import TICK_NS, SchedModel
from kmodel.consumer.snapshot import snapshot_channel
from kmodel.core.errno import ENOENT
from kmodel.cpu.context import HARDIRQ, TASK, context_enter, context_exit
from kmodel.relay.layer_channel import ring_buffer_close, ring_buffer_open
from kmodel.relay.ltt_relay import Placement
from kmodel.relay.packet import HDR, NO_CPU, REC
from kmodel.relay.rb_config import Era, Mode, Scope, SwitchMode
from kmodel.relay.rb_hotplug import flush_buffer
from kmodel.relay.ring_buffer import lib_ring_buffer_finalize
from kmodel.session import Session, WriteRefused

CLASS = {c.name: c for c in EVENT_CLASSES}
WORKLOADS = ("synthetic", "sched")


@dataclass
class RecordOptions:
    machine: str | None = None      # a preset or a machine file; None: the default
    events: int | None = None       # per CPU; or
    duration: int | None = None     # ticks
    rate: int = 16                  # events per CPU per tick
    layer: str = "lockless"
    mode: Mode = Mode.DISCARD
    era: str | None = None          # rb_config.Era; None: the channel's default
    snapshot_at: int | None = None  # a tick: a snapshot to DIR/snapshot-TICK then
    backend: str = "pagelist"
    subbuf_size: int = 16384
    n_subbufs: int = 4
    consumer_rate: int | None = None    # sub-buffers per CPU per tick; None: all delivered
    hotplug: list = field(default_factory=list)     # [kmodel.session.ScriptedWrite]
    seed: int = 0
    config: tuple = ()
    consumer: str = "splice"        # a registered consumer (consumer/base.py)
    cmdline: str = ""               # the boot's, e.g. reserve_mem= for --backend pmem
    pmem: str | None = None         # the host file behind that region
    pmem_format: bool = False       # ... which may be one kmodel did not make
    header: str | None = None       # the records' header: compact, large (LTTng's), kmodel;
                                    # None: compact
    workload: str = "synthetic"     # synthetic, or sched (kmodel/consumer/sched_workload.py)
    scope: Scope = Scope.PER_CPU    # a buffer per CPU, or one for the channel (GLOBAL)


@dataclass
class CpuStats:
    produced: int = 0
    read: int = 0
    lost_full: int = 0
    lost_wrap: int = 0
    lost_big: int = 0
    overrun: int = 0
    events_lost: int = 0            # refused before reserving (nested more
                                    # than 4 deep, or the locked layer's NMI rule); never
                                    # in trace record's straight-through writes, but counted
    packets: int = 0
    record_bytes: int = 0           # of the records read (headers and payloads)

    @property
    def lost(self):
        return self.lost_full + self.lost_wrap + self.lost_big + self.overrun + self.events_lost


def tick_events(rng, cpu, rate, subbuf_size):
    """tick_events - what one CPU traces in one tick: rate times, a
    kmodel_switch (70%), an interrupt's entry and exit (23%) or a blob of
    100 bytes to 3 pages (7%, each smaller than a packet's room), drawn from
    rng.  Yields (irq number or None, ((class name, field values), ...));
    the events of an interrupt are written from its handler.  (The floor of
    `kmodel bench` packs these same events: kmodel/perf/step_goals.py.)"""
    big = subbuf_size - HDR - REC - 16
    for _ in range(rate):
        r = rng.random()
        if r < 0.7:
            yield None, (("kmodel_switch", {
                "prev_tid": rng.randrange(1, 4096), "next_tid": rng.randrange(1, 4096),
                "prev_state": rng.randrange(3), "cpu": cpu}),)
        elif r < 0.93:
            irq = rng.randrange(16, 64)
            yield irq, (("kmodel_irq_entry", {"irq": irq, "vector": irq + 32}),
                        ("kmodel_irq_exit", {"irq": irq, "ret": 1}))
        else:
            n = rng.randrange(100, min(big, 3 * 4096))
            data = rng.randbytes(n)
            yield None, (("blob", {"len": n, "crc": zlib.crc32(data), "data": data}),)


def header_for(opts):
    """header_for - the records' header format a recording uses: LTTng's
    compact one unless opts say otherwise, on every backend (pmem's region
    says which, for its crash reader: pmem_layout.py)."""
    return "compact" if opts.header is None else opts.header


class CopyCost(dict):
    """cpu -> the cycles a byte of a copy into cpu's buffer costs (its stream
    bandwidth from where the buffer is), found at the CPU's first event (a
    CPU that comes online has its buffer then)."""
    def __init__(self, tm, rbc):
        super().__init__()
        self.tm, self.rbc = tm, rbc

    def __missing__(self, cpu):
        rb = self.rbc.buf_for(cpu)
        cpb = self[cpu] = self.tm.stream_cpb(self.tm.cpus[cpu].nid, rb.rbuf.nid,
                                             rb.rbuf.alloc_size)
        return cpb


class Recorder:
    CLOCK = TICK_CLOCK          # what the trace's clock counts (ctf.metadata)

    def __init__(self, opts, outdir, progress=None, keep=False, stop=None):
        """A recording of opts into outdir; progress(text) is told how it goes,
        keep keeps every event written (for tests), and stop() (if given) is
        asked between two ticks whether to stop there: the buffers are then
        flushed and drained as at the end."""
        self.opts = opts
        self.stop = stop
        self.expected = {} if keep else None    # cpu -> {seq: (name, values)}
        self.outdir = outdir
        self.progress = progress
        self.rng = random.Random(opts.seed)
        self.seq = {}                   # cpu -> next event number
        self.consumer = None            # the run's Consumer, once started
        self.refused = []               # the script's writes the kernel refused
        self.script_error = None        # a write to a path that is not there (it stops)
        self.stopped = False            # stop() asked for it: the machine goes at once
        self.sched = None               # the sched workload's model (sched_workload.py)
        self.ticks = 0
        self.metadata_text = ""         # the trace's metadata, once the channel is open
        self.snapshot_seq = None        # cpu -> events written when the snapshot was taken

    # --- the workload ---------------------------------------------------------------
    def _event(self, cpu, name, values):
        """Write one event on cpu through the layer (the current context)."""
        self._write(cpu, self.rbc.buf_for(cpu), name, values)

    def _write(self, cpu, rb, name, values):
        """Write one event on cpu into its buffer rb through the layer, and
        charge its copy to cpu's clock (hw.clock.Clock.copied, inline: the
        hot path): ahead if the record stayed in the page the stream was on,
        the CPU's deferred counts folded if it entered a page."""
        cls = CLASS[name]
        seq = self.seq
        n = values["seq"] = seq.get(cpu, 0)
        seq[cpu] = n + 1
        if self.expected is not None:
            self.expected.setdefault(cpu, {})[n] = (name, dict(values))
        off = rb.offset
        o0 = off.counter
        self._layer_write(rb, encode(cls, values), cls.id)
        o1 = off.counter                # the bytes the record took, header and payload
        if o0 & PAGE_MASK and (o1 - 1) >> PAGE_SHIFT == o0 >> PAGE_SHIFT:
            self._cpu_cost[cpu].clock_pending += (o1 - o0) * self._copy_cpb[cpu]
        elif o1 != o0:
            self._clock.settle(cpu)

    def _tick_cpu(self, cpu):
        k, write = self.k, self._write
        rb = self.rbc.buf_for(cpu)      # (its buffer: hotplug comes between ticks)
        with k.on_cpu(cpu):
            for irq, events in tick_events(self.rng, cpu, self.opts.rate,
                                           self.rbc.subbuf_size):
                if irq is None:
                    for name, values in events:
                        write(cpu, rb, name, values)
                    continue
                ctx = context_enter(k, cpu, HARDIRQ, f"irq{irq}")
                try:
                    for name, values in events:
                        write(cpu, rb, name, values)
                finally:
                    context_exit(k, ctx)

    def _tick_sched(self, tick, online):
        """One tick of the sched workload: its events due, each written on its
        CPU, in its context, when the model says (Clock.wait_until on that
        CPU): its timestamp is the model's time and what tracing has cost the
        CPU since it last waited, never before the model's time (an event due
        while the CPU still writes the previous one is that much late)."""
        k, clk = self.k, self._clock
        model = self.sched
        for t, cpu, ctx, name, values in model.next_events(model.start + (tick + 1) * TICK_NS):
            if cpu not in online:
                continue
            clk.wait_until(cpu, t)
            cls = CLASS[name]
            self.seq[cpu] = self.seq.get(cpu, 0) + 1
            with k.on_cpu(cpu):
                c = None if ctx is TASK else context_enter(k, cpu, ctx, name)
                try:
                    rb = self.rbc.buf_for(cpu)
                    o0 = rb.offset.counter
                    self.rbc.layer.write__straight(rb, encode(cls, values), cls.id)
                    o1 = rb.offset.counter
                    clk.copied(cpu, o0, o1, (o1 - o0) * self._copy_cpb[cpu])
                finally:
                    if c is not None:
                        context_exit(k, c)

    # --- a run ---------------------------------------------------------------------
    def run(self):
        o = self.opts
        cls = get_consumer(o.consumer)
        if cls is None:
            raise ValueError(f"no consumer {o.consumer!r}")
        sess = Session(o.machine or DEFAULT_PRESET, o.config, o.seed, o.cmdline, o.pmem,
                       pmem_format=o.pmem_format)
        self.k = k = sess.k
        self.rbc = consumer = None
        try:
            k.modules.insmod("ltt_relay_alloc")
            self.rbc, err = ring_buffer_open(k, "trace", o.subbuf_size, o.n_subbufs,
                                             o.backend, Placement.LOCAL, o.layer, o.mode,
                                             o.scope, era=o.era, header=header_for(o))
            if self.rbc is None:
                why = [line for line in k.log.lines() if "ltt_relay" in line or
                       "ring_buffer" in line]
                raise ValueError(why[-1] if why else
                                 f"{o.n_subbufs} x {o.subbuf_size} bytes a CPU: the channel "
                                 f"cannot be opened: {os.strerror(-err)} ({err})")
            info = TraceInfo.for_seed(o.seed, header_for(o),
                                      SCHED_CLOCK if o.workload == "sched" else self.CLOCK)
            self.metadata_text = metadata(info)
            self.rbc.uuid = info.uuid_bytes
            with open(os.path.join(self.outdir, "metadata"), "wb") as f:
                f.write(lttng_metadata_packets(self.metadata_text, info.uuid_bytes))
            consumer = self.consumer = cls(k, self.rbc, self.outdir)
            consumer.start()
            if o.workload == "sched":
                self.sched = SchedModel(o.seed, list(k.for_each_online_cpu()), start_ns=0)
            self._trace(sess, consumer)
            if self.sched is not None:
                self.sched.stop(self.sched.truth.last)
            self._final_flush(consumer)
            consumer.finish()
            write_trace_index(self.outdir)      # DIR/index/<stream>.idx (ctf_index.py)
            return self._stats()
        finally:
            if consumer is not None:
                consumer.close()
            if self.rbc is not None and not self.stopped:
                ring_buffer_close(self.rbc, "trace")
            sess.close()        # (after a stop, the channel goes with the machine: its
                                # pages are not given back one by one, ~1 s a GiB)

    def _start_time(self):
        """_start_time - the workload's time line starts at 0: the timing model
        is reset (the costs reported are the workload's, not the boot's and
        the channel's opening), and each buffer's copy cost a byte is found
        (the clock charges a record's copy as it is written, Clock.copied)."""
        tm = self.k.timing
        tm.reset()
        self._clock = tm.clock
        # the time line orders the CPUs by their clocks; per-CPU streams need no
        # order between CPUs.  One buffer's one stream (Scope.GLOBAL) does: the
        # CPUs' turns (a tick each, or events of the same instant) run one after
        # another, and a reservation reads the clock after its line came across
        # (later from the other socket), so a CPU whose clock reads behind the
        # last read waits for it (hw.clock's in_order), in ticks and in time
        self._clock.in_order = Scope(self.opts.scope) is Scope.GLOBAL
        self._cpu_cost = tm.cpus        # (each CPU's clock terms: hw.clock.Clock)
        self._layer_write = self.rbc.layer.write__straight
        self._copy_cpb = CopyCost(tm, self.rbc)

    def _trace(self, sess, consumer):
        """The ticks: the script's writes due, each online CPU's clock at the
        tick's start, its events, the consumer.  Tick t starts at t * TICK_NS
        of modeled time; every online CPU waits for it (Clock.wait_until),
        traced or not, so a quiet CPU's packets carry the machine's time."""
        o, k = self.opts, self.k
        self._start_time()
        clk = self._clock
        script = list(o.hotplug)
        tick = 0
        while True:
            while script and script[0].tick <= tick and self.script_error is None:
                w = script.pop(0)
                try:
                    sess.write(w.path, w.value)
                except WriteRefused as e:       # as a shell script goes on after one,
                    if e.errno == ENOENT:       # and stops at a path that is not there
                        self.script_error = f"{w.where}: {e} (the recording stopped at " \
                                            f"tick {tick})"
                    else:
                        self.refused.append(f"{w.where}: {w.text}: {e}")
            if self.script_error is not None:
                break
            online = list(k.for_each_online_cpu())
            if o.duration is not None and tick >= o.duration:
                break
            if self.stop is not None and self.stop():
                self.stopped = True
                break
            if o.events is not None and all(self.seq.get(c, 0) >= o.events for c in online) \
                    and (o.snapshot_at is None or tick > o.snapshot_at):
                break                           # (a snapshot asked for is taken at its tick)
            start = tick * TICK_NS
            for cpu in online:
                clk.wait_until(cpu, start)
            if self.sched is not None:
                self._tick_sched(tick, online)
            for cpu in online if self.sched is None else ():
                if o.events is None or self.seq.get(cpu, 0) < o.events:
                    self._tick_cpu(cpu)
            if o.snapshot_at == tick:          # lttng snapshot record, writers still on
                snapshot_channel(self.rbc, os.path.join(self.outdir, f"snapshot-{tick}"),
                                 self.metadata_text)
                self.snapshot_seq = dict(self.seq)
            self._off_the_clock(consumer.consume, o.consumer_rate)
            tick += 1
            if self.progress and tick % 16 == 0:
                self.progress(f"[tick {tick}] {sum(self.seq.values())} events, "
                              f"{consumer.moved >> 10} KiB written")
        self.ticks = tick
        self.end_ns = tick * TICK_NS
        for cpu in k.for_each_online_cpu():     # the stop, at the end of the last tick
            clk.wait_until(cpu, self.end_ns)

    def _off_the_clock(self, fn, *args):
        """_off_the_clock - fn(*args), the consumer's work in a recording in
        ticks (and in the drain at stop), charged to the timing model (its
        cycles count) but taken off the clock of the CPU it ran on: it is
        charged to no CPU's time (docs/model.md), so that every consumer
        writes the same trace, byte for byte.  If the consumer reads the
        buffers' pages (Consumer.reads_pages), their deferred counts are
        folded after it (the reader's are charged to the buffer's CPU when
        folded: folded now, they are the consumer's; the writers' were
        charged to their clocks ahead, Clock.copied, and the fold replaces
        that charge with the same figure)."""
        cost, npc = self._cpu_cost, self._clock.ns_per_cycle
        before = {cpu: c.cycles + c.served_cycles + c.clock_pending for cpu, c in cost.items()}
        fn(*args)
        if self.consumer.reads_pages:
            self.k.timing.flush()
        for cpu, busy in before.items():
            c = cost[cpu]
            d = c.cycles + c.served_cycles + c.clock_pending - busy
            if d:
                c.clock_idle -= d * npc

    def _flush_cpu(self, rb):
        """The CPU a buffer is flushed on at stop: its own (its local_t counters,
        and its clock for the packet's end), the boot CPU's if it is offline or
        the buffer is global."""
        k = self.k
        return rb.cpu if rb.cpu is not None and k.cpu_online(rb.cpu) else k.boot_cpu

    def _final_flush(self, consumer):
        """Flush every buffer and drain it, until every buffer's losses are told
        in a packet: a final flush writes the count in a packet of its own
        (SwitchMode.FLUSH) only where there is room, so a full buffer is
        drained, then flushed again.  Every round drains what the last
        delivered, so two rounds suffice; a few more are allowed for a buffer
        a CPU still writes (none does now).  A per-CPU buffer is flushed on its
        CPU (its local_t counters, and its clock for the packet's end)."""
        k, rbc = self.k, self.rbc
        if rbc.era is Era.V2:           # at stop, every stream ends with a packet, an
            for rb in rbc.bufs.values():    # empty one for a quiet stream (FLUSH_EMPTY)
                with k.on_cpu(self._flush_cpu(rb)):
                    flush_buffer(rbc, rb, SwitchMode.EMPTY)
        for _ in range(4):
            for rb in rbc.bufs.values():        # each on its CPU, the boot CPU's if offline
                with k.on_cpu(self._flush_cpu(rb)):
                    rbc.layer.flush__straight(rb, SwitchMode.FLUSH)
            self._off_the_clock(consumer.drain)
            if all(rb.finalized for rb in rbc.bufs.values()):
                return
        for rb in rbc.bufs.values():        # (a consumer that never drains: give up)
            lib_ring_buffer_finalize(rb)

    def _stats(self):
        stats = {}
        for cpu, rb in self.rbc.buffers():
            stats[cpu] = CpuStats(produced=rb.book.produced,
                                  lost_full=rb.records_lost_full.counter,
                                  lost_wrap=rb.records_lost_wrap.counter,
                                  lost_big=rb.records_lost_big.counter,
                                  overrun=rb.records_overrun.counter,
                                  events_lost=rb.events_lost.counter)
        for name, packets in read_trace(self.outdir, decode_events=False,
                                        check_index=False).items():
            for p in packets:           # (counted, not decoded: a stop within a second)
                st = stats.setdefault(None if p.cpu == NO_CPU else p.cpu, CpuStats())
                st.read += p.n_events
                st.packets += 1
                st.record_bytes += max(p.content - HDR, 0)
        return stats
