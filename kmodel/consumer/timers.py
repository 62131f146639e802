"""The channel's timers in modeled time: LTTng's switch timer and read timer.

``lttng enable-channel --switch-timer N`` (microseconds): every N us each
per-CPU buffer is switched on its own CPU, so that a packet holding records
is closed and delivered even if its CPU writes nothing more: a quiet CPU's
events reach the consumer within the period (lttng-modules
lib_ring_buffer_switch_timer: a pinned timer per CPU calling
lib_ring_buffer_switch_slow(buf, SWITCH_ACTIVE)).  ``--read-timer N``: every
N us the consumer is woken to look for delivered sub-buffers (lttng-modules
lib_ring_buffer_read_timer: the writer then never wakes the reader itself;
without a read timer the writer wakes it at delivery).

Each timer is a periodic event on the recording's time line
(kmodel.consumer.timed_record); the switch does one thing, ``switch_buffer``,
on the buffer's CPU, through the channel's locking layer (its flush: the
lockless layer's switch_slow, the locked layer's under its lock), and its
cost is charged to that CPU, whose clock it moves.
"""
from kmodel.relay.rb_config import SwitchMode


def switch_buffer(k, rbc, cpu, rb):
    """switch_buffer - the switch timer's work on one buffer: an ACTIVE switch
    on cpu (the packet closes if it holds records; a header alone stays).
    Returns whether the buffer now has a sub-buffer to read."""
    with k.on_cpu(cpu):
        rbc.layer.flush__straight(rb, SwitchMode.ACTIVE)
    k.timing.clock.settle(cpu)
    return rbc.poll_deliver(rb)


class ChannelTimers:
    """The switch and read timers of one recording (periods in ns; 0: none)."""

    def __init__(self, rec, switch_ns, read_ns):
        self.rec = rec
        self.switch_ns = switch_ns
        self.read_ns = read_ns
        self.switches = 0               # the switch timer's firings on a buffer
        self.reads = 0                  # the read timer's firings

    def start(self):
        if self.switch_ns:
            self.rec.at(self.switch_ns, self._switch)
        if self.read_ns:
            self.rec.at(self.read_ns, self._read)

    def _switch(self, t):
        rec = self.rec
        clk = rec.k.timing.clock
        for cpu, rb in rec.rbc.buffers():
            if cpu is None or not rec.k.cpu_online(cpu):
                continue
            clk.wait_until(cpu, t)      # the timer fires on that CPU at t
            self.switches += 1
            if switch_buffer(rec.k, rec.rbc, cpu, rb) and not self.read_ns:
                rec.drain.wake(clk.now(cpu))
        rec.at(t + self.switch_ns, self._switch)

    def _read(self, t):
        self.reads += 1
        self.rec.drain.wake(t)
        self.rec.at(t + self.read_ns, self._read)
