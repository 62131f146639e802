"""A consumer in time: a task on a CPU the user chooses, woken with a
latency, draining at a modeled bandwidth.

LTTng's consumer daemon sleeps until it is woken (by the read timer, or by
the writer at delivery when there is no read timer: kmodel.consumer.timers),
then takes the delivered sub-buffers one at a time (get_subbuf), writes each
out (splice to a disk, or to a socket) and gives it back (put_subbuf).  Here:

- ``wake(t)``: the task is woken at t and runs at t + ``latency_ns`` (its
  wake-up latency: the scheduler's, and the daemon's poll loop);
- of each sub-buffer taken, the packet's content rounded up to a page (what
  LTTng's kernel consumer splices: RING_BUFFER_GET_PADDED_SUBBUF_SIZE) is
  read by the consumer's CPU (accounting's ``consumer_read``: the lines come
  from the writer's cache, or from memory, charged on the consumer's CPU,
  whose clock they move: a consumer on a writing CPU delays that CPU's
  events by its work), then the sub-buffer is held while those bytes are
  written out at ``bandwidth`` bytes a second (``None``: at once).  A held
  sub-buffer is one the writer cannot reuse: that is how a slow consumer
  makes a buffer fill up.  The stream file gets the same bytes (the
  consumers write subbuf_packet_size: padded in era 2.x, whole in 2009);
- when it is written, the registered consumer (consumer/base.py) writes the
  bytes to the stream file for real (``write_subbuf``), and the sub-buffer
  is given back; the task goes on with the next delivered one (round robin
  over the buffers) or sleeps.

The consumer's CPU reads the bytes it writes out; LTTng's splice output moves
page references and the disk's DMA reads the lines, which would charge less
CPU time than the ``consumer_read`` charged here: a pessimistic figure for
splice, the right one for the mmap and read outputs.  ``latency`` keeps
the worst time from an event's timestamp to its packet's arrival in the
consumer (the time it is taken, minus the packet's timestamp_begin).
"""
import os

from hw import PAGE_SIZE
from kmodel.core.errno import EIO
from kmodel.relay.accounting import consumer_read
from kmodel.relay.packet import HDR, unpack_packet_header
from kmodel.relay.relay_alloc import ltt_relay_offset_address
from kmodel.relay.ring_buffer import subbuf_packet_size, subbuf_read_offset


def padded_size(hdr, subbuf_size):
    """padded_size - the bytes of a packet LTTng's consumer reads and writes:
    its content rounded up to a page (lttng-modules'
    RING_BUFFER_GET_PADDED_SUBBUF_SIZE), at most the sub-buffer."""
    return min(subbuf_size, (hdr.content_size // 8 + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))


class TimedDrain:
    def __init__(self, rec, consumer, cpu, latency_ns, bandwidth):
        self.rec = rec
        self.k = rec.k
        self.rbc = rec.rbc
        self.consumer = consumer
        self.cpu = cpu
        self.latency_ns = latency_ns
        self.bandwidth = bandwidth      # bytes a second, or None
        self.asleep = True
        self.held = None                # (cpu, rb, pos) being written out
        self.woken = False              # a wake-up is on its way
        self.next_buf = 0               # round robin over the buffers
        self.taken = 0                  # sub-buffers taken
        self.out_bytes = 0              # bytes written out (modeled: page-padded packets)
        self.work_ns = 0.0              # its CPU's time: get, read, put (charged there)
        self.busy = []                  # (from, to) of each read and write-out, in order
        self.slices = []                # [from, to] of each run on its CPU (get and read)
        self.slice = None               # the last of them: events on its CPU wait for it
        self.preempted_ns = 0.0         # interrupts' time in its slices (they push its end)
        self._late = 0.0                # ... of the slice whose write-out is under way
        self.worst_latency_ns = 0
        self.arrivals = []              # (cpu, packet seq, timestamp_begin, time taken)

    def wake(self, t):
        """wake - the consumer task is woken at t (a timer, or a writer's delivery)."""
        if self.asleep and not self.woken:
            self.woken = True
            self.rec.at(t + self.latency_ns, self._run)

    def _next(self):
        """The next delivered sub-buffer, round robin: (cpu, rb, pos) or None."""
        bufs = self.rbc.buffers()
        with self.k.on_cpu(self.cpu):
            for i in range(len(bufs)):
                cpu, rb = bufs[(self.next_buf + i) % len(bufs)]
                pos = self.rbc.get_subbuf__straight(rb)
                if pos >= 0:
                    self.next_buf = (self.next_buf + i + 1) % len(bufs)
                    return cpu, rb, pos
        return None

    def _cpu_free(self, t, action):
        """The consumer wants its CPU at t: if the CPU is still busy then
        (writing an event, or in an interrupt handler: both run to their end
        before a task switch), action runs when it is done (once: the
        consumer then takes the CPU, even if the application has more events
        due, as the woken task preempts it); else the CPU's clock comes to t
        (it idled, or ran the application's untraced code) and None is
        returned: the consumer runs now."""
        clk = self.k.timing.clock
        busy = clk.now(self.cpu)
        if busy > t and action is not None:
            self.rec.at(busy, action)
            return True
        clk.wait_until(self.cpu, t)
        return None

    def preempt(self, cpu, t):
        """preempt - an interrupt arriving at t on cpu: the consumer's slice
        there, if one runs at t (or begins after t: the interrupt was pending,
        its CPU busy with an event, when the consumer took the CPU; it then
        runs at the slice's start), is set aside: cpu's clock goes back to t for
        the handler (kmodel.consumer.timed_record runs it), and the returned
        function puts the slice's rest after the handler, pushing its end
        (and its write-out's) by the handler's time.  None: no slice of the
        consumer's runs on cpu at t."""
        sl = self.slice
        clk = self.k.timing.clock
        if cpu != self.cpu or sl is None or not t < sl[1] or clk.now(cpu) > sl[1] + 0.5:
            return None
        t = max(t, sl[0])               # (one pending when the slice began: at its start)
        rest = clk.now(cpu) - t
        clk.spend(cpu, -rest)           # (the slice's time, taken back until the handler ends)

        def resume():
            took = clk.now(cpu) - t
            clk.spend(cpu, rest)
            sl[1] += took
            self.preempted_ns += took
            self._late += took
            if self.busy:
                a, b = self.busy[-1]
                self.busy[-1] = (a, b + took)
        return resume

    def _run(self, t, deferred=False):
        self.woken = False
        if self._cpu_free(t, None if deferred else lambda t2: self._run(t2, True)):
            self.woken = True           # (on its way: a wake-up now is the same run)
            return
        clk = self.k.timing.clock
        t = max(t, clk.now(self.cpu))
        before = clk.cycles(self.cpu)
        got = self._next()
        if got is None:
            self.work_ns += (clk.cycles(self.cpu) - before) * clk.ns_per_cycle
            self.asleep = True
            return
        self.asleep = False
        cpu, rb, pos = got
        at = subbuf_read_offset(rb, pos)    # the reader's copy (the sub-buffer table)
        hdr = unpack_packet_header(bytes(ltt_relay_offset_address(rb.rbuf, at)[:HDR]))
        skew = clk.skew.get(cpu, 0) if cpu is not None else 0
        late = t - (hdr.timestamp_begin - skew)
        self.worst_latency_ns = max(self.worst_latency_ns, late)
        self.arrivals.append((cpu, hdr.packet_seq_num, hdr.timestamp_begin, t))
        n = subbuf_packet_size(rb, pos)     # what goes out: padded in 2.x, whole in 2009
        consumer_read(rb.rbuf, at, n, self.cpu)
        work = (clk.cycles(self.cpu) - before) * clk.ns_per_cycle
        out = n * 1e9 / self.bandwidth if self.bandwidth else 0.0
        self.out_bytes += n
        self.work_ns += work
        end = clk.now(self.cpu)         # (its work, with its CPU's copies folded meanwhile)
        self.busy.append((t, end + out))
        self.slice = [t, end]
        self.slices.append(self.slice)
        self._late = 0.0
        self.taken += 1
        self.held = (cpu, rb, pos)
        self.rec.at(end + out, lambda t2: self._done(t2, cpu, rb, pos))

    def busy_within(self, end: float) -> tuple[float, float]:
        """busy_within - (ns the consumer was busy before end, ns it went on
        writing out after end): its reads and write-outs follow one another,
        and the last ones can run past the recording's end (a slow output)."""
        before = sum(max(0.0, min(b, end) - a) for a, b in self.busy if a < end)
        after = max((b for _, b in self.busy), default=end) - end
        return before, max(after, 0.0)

    def _give_back(self, cpu, rb, pos):
        self.held = None
        fd = self.consumer.files.get(cpu)
        size = os.lseek(fd, 0, os.SEEK_CUR) if fd is not None else 0
        self.consumer.write_subbuf(cpu, rb, pos)
        clk = self.k.timing.clock
        before = clk.cycles(self.cpu)
        with self.k.on_cpu(self.cpu):
            if self.rbc.put_subbuf__straight(rb, pos) == -EIO:
                self.consumer.drop_torn(cpu, size)     # era 2009: pushed while read
        self.work_ns += (clk.cycles(self.cpu) - before) * clk.ns_per_cycle

    def _done(self, t, cpu, rb, pos, deferred=False):
        if self._late:                  # interrupts pushed the slice, and all after it
            late, self._late = self._late, 0.0
            self.rec.at(t + late, lambda t2: self._done(t2, cpu, rb, pos))
            return
        if self._cpu_free(t, None if deferred else
                          lambda t2: self._done(t2, cpu, rb, pos, True)):
            return
        self._give_back(cpu, rb, pos)
        self._run(self.k.timing.clock.now(self.cpu), True)

    def finish(self):
        """finish - the recording ends: nothing is held (a sub-buffer being
        written out is written and given back now)."""
        if self.held is not None:
            self._give_back(*self.held)
