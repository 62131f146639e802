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

A global buffer (RecordOptions.scope, Scope.GLOBAL: one buffer, one
stream, every CPU writing into it, as LTTng's ring buffer allows with
RING_BUFFER_ALLOC_PER_CHANNEL, which lttng-modules uses for its metadata
channel alone) is recorded in time when its stream's timestamps can be in
order: without interrupts, clock skew or a switch timer (check_scope says
why: lttng-modules pins the switch timer to its CPU for per-CPU buffers
only, so a global buffer's runs from another CPU); each CPU's events go
into it at their time on the time line, and a CPU whose clock reads behind
the last read waits for it (hw.clock's in_order): events due at the same
instant run whole one after another, and a reservation reads the clock
after its line came across, later from the other socket.

The consumer task shares its CPU with that CPU's events, on the one time
line, as a consumer daemon and a traced application share a CPU under the
scheduler (kmodel.consumer.timed): woken, it takes the CPU at its wake-up
plus its latency, or when the CPU is done with the event or the interrupt
handler it runs then (neither is preempted by a task switch); its slice
(getting a sub-buffer and reading it) runs to its end, and the
application's events due meanwhile (tracepoints in task context, which run
when their task runs) wait for it, written back to back after it; an
interrupt due meanwhile preempts it: the handler and its events run at the
interrupt's arrival, and the slice's rest (and the write-out after it)
ends that much later.  The write-out itself is no CPU time: the consumer
sleeps on its output.

At ``time_ns`` the time line stops and every online CPU's clock reaches it
(Clock.wait_until: a CPU that traced nothing, or whose events ended early,
ran the workload's untraced code, or idled, until then; one still busy with
an event stays past it); the buffers are then flushed and drained as in a
recording in ticks (record.py), so that the trace holds every event that
was not counted lost, each stream's last packet (a quiet stream's empty
stop packet, as LTTng writes at stop) ending at the stop or after.  A
switch timer's flush on a quiet CPU is stamped with the timer's time (the
timer moves that CPU's clock to it first: kmodel.consumer.timers).  The timing model is reset when
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
from kmodel.relay.rb_config import Scope

SLACK_NS = 0.5          # (a clock that reads a slice's end, give or take float rounding)


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


def check_scope(opts, timed):
    """check_scope - a global buffer (opts.scope GLOBAL: one buffer the
    CPUs share, one stream) in time takes a workload without interrupts and
    CPUs without clock skew, or a ValueError says why not: the time line
    writes an interrupt handler's exit event with its entry (the handler's
    duration in the CPU's clock, ahead of the other CPUs' events on the time
    line meanwhile), a skewed TSC stamps a CPU's events off the others', and
    the switch timer's switch, which runs from a CPU other than the writers'
    (a global buffer's timer is not pinned), reads the clock after the
    buffer's lines came across, so the packet it opens begins after events
    the writers put in it meanwhile: in one stream, each goes back in time,
    which a CTF reader refuses (babeltrace2's muxer: a message older than
    the last).  Per-CPU streams do not mind (each is in its CPU's order, and
    its switch timer runs on its CPU).  The read timer is fine."""
    if Scope(opts.scope) is not Scope.GLOBAL:
        return
    if timed.workload.irq_rate:
        raise ValueError("a global buffer in time takes no interrupts: the model writes a "
                         "handler's exit event with its entry, ahead of the other CPUs' "
                         "events, and one stream's timestamps would go back")
    if any(timed.clock_skew.values()):
        raise ValueError("a global buffer in time takes no clock skew: the CPUs' events "
                         "would go back and forth in time in its one stream")
    if timed.switch_timer_us:
        raise ValueError("a global buffer in time takes no switch timer: its switch, run "
                         "from another CPU, stamps the packet it opens after taking the "
                         "buffer's lines across, later than events the writers put in it "
                         "meanwhile")


class TimedRecorder(Recorder):
    """A Recorder (record.py) whose _trace runs the time line."""
    CLOCK = MODELED_CLOCK

    def __init__(self, opts, timed, outdir, progress=None, keep=False, stop=None,
                 track_fill=False):
        """As Recorder's, with timed (TimedOptions); track_fill keeps each
        buffer's peak fill (peak_fill: cpu -> the most bytes written and not
        consumed), for sizing."""
        check_scope(opts, timed)
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
        """Put cpu's next arrivals on the time line: its next task event or
        interrupt, whichever comes first, when the CPU takes it: at its
        arrival, or when the CPU is done with what it does now.  A task
        event due within the consumer's slice on cpu waits for the slice's
        end (_waiting), and the interrupts due within the slice go on the
        line meanwhile: they preempt it (_cpu_event)."""
        a, b = self._next_task[cpu], self._next_irq[cpu]
        busy = self.k.timing.clock.now(cpu)
        sl = self.drain.slice
        in_slice = sl is not None and self.drain.cpu == cpu and busy <= sl[1] + SLACK_NS
        if cpu in self._waiting:
            a = None                    # (on the line already, at the slice's end)
        if a is not None and (b is None or a <= b):
            if not (in_slice and a < sl[1]):
                self.at(max(a, busy), lambda t2: self._cpu_event(cpu, a, t2, False))
                return
            self._waiting.add(cpu)
            self.at(sl[1], lambda t2: self._cpu_event(cpu, a, t2, False))
        if b is None or cpu in self._irq_queued:
            return
        if in_slice and b < sl[1]:
            busy = sl[0]
        elif cpu in self._waiting:
            return                      # (after the task event that waits)
        self._irq_queued.add(cpu)
        self.at(max(b, busy), lambda t2: self._cpu_event(cpu, b, t2, True))

    def _cpu_event(self, cpu, t, now, irq):
        """cpu's next event (arrived at t; an interrupt if irq), at time now
        on the time line."""
        k, clk = self.k, self.k.timing.clock
        if irq:
            self._irq_queued.discard(cpu)
        if not k.cpu_online(cpu):
            return
        sl = self.drain.slice
        if not irq and sl is not None and now < sl[1] and self.drain.cpu == cpu:
            # the consumer runs on cpu: the application's tracepoint waits for
            # its slice to end, and the interrupts due meanwhile preempt it
            self.at(sl[1], lambda t2: self._cpu_event(cpu, t, t2, False))
            self._waiting.add(cpu)
            self._schedule_cpu(cpu)
            return
        if not irq:
            self._waiting.discard(cpu)
        clk.wait_until(cpu, t)
        with k.on_cpu(cpu):
            if irq:
                self._next_irq[cpu] = next(self._irqs[cpu], None)
                resume = self.drain.preempt(cpu, t)
                self._irq(cpu)
                if resume is not None:
                    resume()
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
        self._waiting = set()           # CPUs whose task event waits for the consumer
        self._irq_queued = set()        # CPUs whose next interrupt is on the time line
        self._data = bytes(range(256)) * (t.workload.size.b // 256 + 1)
        ccpu = k.boot_cpu if t.consumer_cpu is None else t.consumer_cpu
        if not k.cpu_online(ccpu):          # (present, checked against the spec; the
            raise ValueError(f"the consumer's CPU {ccpu} is not online (the boot's "    # boot
                             f"command line: {self.opts.cmdline or 'none'})")  # decides)
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
        for cpu in k.for_each_online_cpu():     # every CPU's time reaches the end:
            clk.wait_until(cpu, end)            # a quiet one's too (its stop packet)
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
