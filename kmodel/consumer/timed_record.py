"""kmodel trace record in time: a workload in modeled nanoseconds, a consumer
in time, the channel's timers, and a CTF trace whose clock is the model's.

The recording is a time line (a heap of (time, order, action)): each online
CPU's next arrival (kmodel.perf.arrivals), the switch and read timers
(kmodel.consumer.timers), and the consumer task's wake-ups and write-outs
(kmodel.consumer.timed).  Actions run in time order, ties in the order they
were scheduled, so the recording is deterministic: a function of the options
and the seed.  An event is written at its arrival, or when its CPU is done
with the previous one (hw.clock.Clock.wait_until); its record's timestamp is
the CPU's modeled clock when the layer reserves it.  After each event the
CPU's deferred relay counts are folded (Clock.settle), so its clock holds
the copy's cost before the next event.

At ``time_ns`` the time line stops; the buffers are flushed and drained as
in a recording in ticks (record.py), outside modeled time, so that the trace
holds every event that was not counted lost.  The timing model is reset when
the time line starts: the costs reported (tracing's CPU time) are the
workload's, not the boot's and the channel's opening.
"""
import heapq
import zlib
from dataclasses import dataclass, field

from kmodel.consumer.ctf import MODELED_CLOCK
from kmodel.consumer.record import Recorder
from kmodel.consumer.timed import TimedDrain
from kmodel.consumer.timers import ChannelTimers
from kmodel.cpu.context import HARDIRQ, context_enter, context_exit
from kmodel.perf.arrivals import MIN_SIZE, irq_times, sizes, task_times
from kmodel.relay.packet import REC


@dataclass
class TimedOptions:
    workload: object                    # kmodel.perf.arrivals.Workload
    time_ns: int                        # how long the workload runs
    consumer_cpu: int | None = None     # None: the boot CPU
    wakeup_latency_ns: int = 0
    bandwidth: float | None = None      # bytes a second; None: the consumer is not limited
    switch_timer_us: int = 0            # 0: no switch timer
    read_timer_us: int = 0              # 0: the writer wakes the consumer at delivery
    clock_skew: dict = field(default_factory=dict)  # cpu -> ns


@dataclass
class TimeStats:
    """What the time line measured (beside record.py's per-CPU counts)."""
    elapsed_ns: int = 0
    tracing_ns: dict = field(default_factory=dict)  # cpu -> ns its writes and timers cost
    consumer_ns: float = 0.0                        # the consumer CPU's work for the consumer
    consumer_busy_ns: float = 0.0                   # ... and its time writing out, by the end
    consumer_after_ns: float = 0.0                  # ... and after it (a slow output)
    worst_latency_ns: int = 0                       # event to consumer, worst packet
    arrivals: list = field(default_factory=list)    # (cpu, packet seq, ts_begin, taken at)
    switches: int = 0
    reads: int = 0
    irqs: int = 0
    nested_irqs: int = 0


class TimedRecorder(Recorder):
    """A Recorder (record.py) whose _trace runs the time line."""
    CLOCK = MODELED_CLOCK

    def __init__(self, opts, timed, outdir, progress=None, keep=False, stop=None,
                 track_fill=False):
        """As Recorder's, with timed (TimedOptions); track_fill keeps each
        buffer's peak fill (peak_fill: cpu -> the most bytes written and not
        consumed), for sizing."""
        super().__init__(opts, outdir, progress, keep, stop)
        self.timed = timed
        self.track_fill = track_fill
        self.peak_fill = {}
        self.time = TimeStats()
        self._heap = []
        self._order = 0

    def at(self, t, action):
        """at - run action(t) at modeled time t (ns)."""
        heapq.heappush(self._heap, (t, self._order, action))
        self._order += 1

    # --- the workload on one CPU -------------------------------------------------
    def _cpu_start(self, cpu, end):
        w, seed = self.timed.workload, self.opts.seed
        self._tasks[cpu] = task_times(w, cpu, seed, end)
        self._irqs[cpu] = irq_times(w, cpu, seed, end)
        self._sizes[cpu] = sizes(w, cpu, seed)
        self._next_task[cpu] = next(self._tasks[cpu], None)
        self._next_irq[cpu] = next(self._irqs[cpu], None)
        self._schedule_cpu(cpu)

    def _schedule_cpu(self, cpu):
        a, b = self._next_task[cpu], self._next_irq[cpu]
        if a is None and b is None:
            return
        t = a if b is None or (a is not None and a <= b) else b
        # on the time line when the CPU takes it: at its arrival, or when the CPU
        # is done with what it does now
        self.at(max(t, self.k.timing.clock.now(cpu)), lambda t2: self._cpu_event(cpu, t))

    def _cpu_event(self, cpu, t):
        k, clk = self.k, self.k.timing.clock
        if not k.cpu_online(cpu):
            return
        clk.wait_until(cpu, t)
        irq = self._next_irq[cpu] is not None and self._next_irq[cpu] == t and \
            (self._next_task[cpu] is None or t < self._next_task[cpu])
        with k.on_cpu(cpu):
            if irq:
                self._next_irq[cpu] = next(self._irqs[cpu], None)
                self._irq(cpu)
            else:
                self._next_task[cpu] = next(self._tasks[cpu], None)
                self._blob(cpu)
        rb = self.rbc.buf_for(cpu)
        if self.track_fill:
            fill = rb.offset.counter - rb.consumed.counter
            if fill > self.peak_fill.get(cpu, 0):
                self.peak_fill[cpu] = fill
        if not self.timed.read_timer_us and self.rbc.poll_deliver(rb):
            self.drain.wake(clk.now(cpu))
        self._schedule_cpu(cpu)

    def _blob(self, cpu):
        """One task event of the workload's size (a blob: 32 bytes and data)."""
        # the record takes the workload's size with the channel's header: its
        # fields (seq, len, crc: 16 bytes) and data fill what the header leaves
        fmt = self.rbc.header
        hdr = REC if fmt is None else fmt.size
        n = next(self._sizes[cpu]) - (MIN_SIZE - REC) - hdr
        data = self._data[:n]
        self._event(cpu, "blob", {"len": n, "crc": zlib.crc32(data), "data": data})

    def _irq(self, cpu):
        """An interrupt on cpu now: its handler's entry event, its duration (in
        which other interrupts nest, as the CPU's context stack allows), its
        exit event.  See kmodel.perf.arrivals."""
        k, clk = self.k, self.k.timing.clock
        self.time.irqs += 1
        irq = 16 + self.time.irqs % 48
        ctx = context_enter(k, cpu, HARDIRQ, f"irq{irq}")
        try:
            self._event(cpu, "irq_handler_entry", {"irq": irq, "name": f"irq{irq}"})
            clk.settle(cpu)
            left = float(self.timed.workload.irq_duration_ns)
            while left > 0:
                nxt = self._next_irq[cpu]
                now = clk.now(cpu)
                if nxt is not None and nxt < now + left and k.cpu_exec[cpu].can_take(HARDIRQ):
                    gap = max(0.0, nxt - now)
                    clk.spend(cpu, gap)
                    left -= gap
                    self._next_irq[cpu] = next(self._irqs[cpu], None)
                    self.time.nested_irqs += 1
                    self._irq(cpu)
                else:
                    clk.spend(cpu, left)
                    left = 0
            self._event(cpu, "irq_handler_exit", {"irq": irq, "ret": 1})
            clk.settle(cpu)
        finally:
            context_exit(k, ctx)

    # --- the time line ---------------------------------------------------------------
    def _trace(self, sess, consumer):
        k, t = self.k, self.timed
        tm = k.timing
        self._start_time()
        clk = tm.clock
        clk.set_skew(t.clock_skew)
        end = t.time_ns
        self._tasks, self._irqs, self._sizes = {}, {}, {}
        self._next_task, self._next_irq = {}, {}
        self._data = bytes(range(256)) * (t.workload.size.b // 256 + 1)
        ccpu = k.boot_cpu if t.consumer_cpu is None else t.consumer_cpu
        self.drain = TimedDrain(self, consumer, ccpu, t.wakeup_latency_ns, t.bandwidth)
        self.timers = ChannelTimers(self, t.switch_timer_us * 1000, t.read_timer_us * 1000)
        for cpu in k.for_each_online_cpu():
            self._cpu_start(cpu, end)
        self.timers.start()
        steps = 0
        while self._heap and self._heap[0][0] < end:
            when, _, action = heapq.heappop(self._heap)
            action(when)
            steps += 1
            if steps % 4096 == 0:
                if self.stop is not None and self.stop():
                    end = when
                    break
                if self.progress:
                    self.progress(f"[{when / 1e6:.3f} ms] {sum(self.seq.values())} events, "
                                  f"{consumer.moved >> 10} KiB written")
        self.drain.finish()
        self._heap = []
        tm.flush()
        self.time.elapsed_ns = self.end_ns = end
        self.time.tracing_ns = {cpu: clk.cycles(cpu) * clk.ns_per_cycle
                                for cpu in k.for_each_online_cpu()}
        self.time.consumer_ns = self.drain.work_ns
        self.time.consumer_busy_ns, self.time.consumer_after_ns = self.drain.busy_within(end)
        self.time.worst_latency_ns = self.drain.worst_latency_ns
        self.time.arrivals = self.drain.arrivals
        self.time.switches, self.time.reads = self.timers.switches, self.timers.reads
        self.ticks = 0
