"""Recordings in ticks on the model's clock (issue 24): a tick is 1 ms of
modeled time (kmodel/consumer/record.py), every online CPU is brought to each
tick's start and to the end, traced or not; the sched workload's events are
at its model's times on their CPU's clock; the shell's and the explorer's
clocks read in order (hw/clock.py, Clock.in_order)."""
import pytest
from hypothesis import given, settings, strategies as st

from hw.clock import ClockMode
from hw.topology import load_preset
from kmodel.consumer.base import get_consumer
from kmodel.consumer.ctf import TICK_CLOCK, encode, read_trace
from kmodel.consumer.record import CLASS, Recorder, RecordOptions
from kmodel.consumer.sched_workload import TICK_NS
from kmodel.relay.event_header import header_of
from kmodel.session import ScriptedWrite, Session

T = load_preset("numa2").timing


def switch_ns(values):
    """The modeled cost of one kmodel_switch through the lockless layer with
    the compact header, in a 4 x 16 KiB buffer, worked from the preset: a
    local_cmpxchg of the offset and a local_add_return of the commit count
    (local_op_cycles each), and the record's bytes (header and fields)
    copied in a 64 KiB working set, which the L2 holds."""
    assert T.cache_kib["L1"] * 1024 < 65536 <= T.cache_kib["L2"] * 1024
    rsize = header_of("compact").size + len(encode(CLASS["kmodel_switch"], values))
    return (2 * T.local_op_cycles + rsize * T.cpu_ghz / T.stream_gbps["L2"]) / T.cpu_ghz


def events_of(trace, cpu):
    return [(ts, name, v) for p in trace[f"channel0_{cpu}"] for ts, name, v in p.events]


def test_a_ticks_events_are_at_its_start_and_their_modeled_cost(tmp_path):
    """numa2, 4 events a CPU a tick, seed 1: CPU 0 starts tick 1 with two
    kmodel_switch.  Nothing is charged to it in a tick before its first
    reservation reads the clock (the consumer of a recording in ticks is
    charged to no CPU), so the first is at 1 ms exactly; each next event
    comes a kmodel_switch's modeled cost later: 12 cycles of local ops and
    the copy of a 28-byte record (4 of compact header, 24 of fields) at 32
    GB/s, 1.75 cycles: 13.75 cycles at 2 GHz, 6.875 ns.  The second is read
    at 1 ms + 6 ns, the third at 1 ms + 13 ns (13.75; without the copies'
    cost it would be 12)."""
    rec = Recorder(RecordOptions(machine="numa2", events=8, rate=4, seed=1), str(tmp_path))
    rec.run()
    assert 'description = "' + TICK_CLOCK + '"' in rec.metadata_text
    assert rec.ticks == 2 and rec.end_ns == 2 * TICK_NS
    evs = events_of(read_trace(str(tmp_path)), 0)[4:]         # tick 1
    assert [name for _, name, _ in evs[:2]] == ["kmodel_switch"] * 2
    cost = switch_ns(evs[0][2])
    assert cost == switch_ns(evs[1][2]) == 6.875                 # worked by hand, above
    assert [ts for ts, _, _ in evs[:3]] == [TICK_NS, TICK_NS + 6, TICK_NS + 13]
    assert TICK_NS + int(2 * cost) == TICK_NS + 13


class Watched(Recorder):
    """A Recorder that keeps each CPU's clock when the stop begins, and after."""
    def _final_flush(self, consumer):
        clk = self.k.timing.clock
        online = list(self.k.for_each_online_cpu())
        self.at_stop = {cpu: clk.now(cpu) for cpu in online}
        super()._final_flush(consumer)
        self.after_stop = {cpu: clk.now(cpu) for cpu in online}


def test_a_quiet_cpu_stops_at_the_recordings_end(tmp_path):
    """CPU 3 goes offline before the first tick and writes nothing: its
    stream's one packet (2.x's empty packet at stop, flushed on the boot CPU)
    carries the end of the last tick, not 0; every online CPU, done with its
    events or not, is at that end when the stop begins."""
    path = "/sys/devices/system/cpu/cpu3/online"
    off = ScriptedWrite(0, "0", path, f"0 echo 0 > {path}", "test:1")
    rec = Watched(RecordOptions(machine="numa2", events=40, hotplug=[off]), str(tmp_path))
    rec.run()
    end = rec.end_ns
    assert end == rec.ticks * TICK_NS == 3 * TICK_NS
    assert all(int(t) == end for t in rec.at_stop.values())
    trace = read_trace(str(tmp_path))
    (quiet,) = trace["channel0_3"]
    assert quiet.events == []
    boot = rec.k.boot_cpu
    assert end <= quiet.ts_begin <= quiet.ts_end <= rec.after_stop[boot]
    for cpu in rec.at_stop:
        last = trace[f"channel0_{cpu}"][-1]
        assert end <= last.ts_end <= rec.after_stop[cpu]


class SpiedClock:
    """The recorder's clock, with each CPU's clock kept before each wait of
    the sched workload."""
    def __init__(self, clk, rec):
        self._clk, self._rec, self.before = clk, rec, {}

    def __getattr__(self, name):
        return getattr(self._clk, name)

    def wait_until(self, cpu, t):
        if self._rec.in_sched:
            self.before.setdefault(cpu, []).append(self._clk.now(cpu))
        return self._clk.wait_until(cpu, t)


class SchedSpy(Recorder):
    """A Recorder that keeps the sched model's events as the model gave them
    ({cpu: [its time]}) and its clock's state at each wait."""
    in_sched = False

    def _start_time(self):
        super()._start_time()
        self._clock = self.spy = SpiedClock(self._clock, self)
        self.due = {}
        given = self.sched.next_events

        def next_events(until):
            out = given(until)
            for t, cpu, *_ in out:
                self.due.setdefault(cpu, []).append(t)
            return out
        self.sched.next_events = next_events

    def _tick_sched(self, tick, online):
        self.in_sched = True
        try:
            super()._tick_sched(tick, online)
        finally:
            self.in_sched = False


def test_the_sched_workloads_events_are_at_the_models_times(tmp_path):
    """Each event of the sched workload is written when the model says, on
    its CPU's clock: its timestamp is never before the model's time, and is
    later only by the CPU's backlog of tracing work when it was due (the
    previous events' modeled cost), which is itself less than a tick."""
    rec = SchedSpy(RecordOptions(machine="numa2", workload="sched", duration=12, seed=2),
                   str(tmp_path))
    rec.run()
    trace = read_trace(str(tmp_path))
    n = late = 0
    for cpu, due in rec.due.items():
        evs = events_of(trace, cpu)
        before = rec.spy.before[cpu]
        assert len(evs) == len(due) == len(before), cpu
        for (ts, _, _), t, b in zip(evs, due, before):
            backlog = max(0.0, b - t)           # tracing work the CPU had not done
            assert t <= ts <= t + backlog + 1, (cpu, ts, t, b)
            assert backlog < TICK_NS
            n += 1
            late += ts > t
    assert n > 500 and 0 < late < n         # some pile up (the statedump), most do not


def test_reads_keep_the_order_they_ran_in(tmp_path):
    """In order (the boot's default: the shell, the explorer): a CPU whose
    clock is behind the last read on the machine reads that time, and was
    idle until then; each CPU on its own clock otherwise (a recording)."""
    s = Session("numa2", (), 0, "", None)
    try:
        clk = s.k.timing.clock
        assert clk.mode is ClockMode.MODELED and clk.in_order
        s.k.timing.reset()
        s.k.timing.cpus[1].cycles += 2000           # 1000 ns at 2 GHz
        assert clk.read(1) == 1000
        assert clk.read(0) == 1000 and clk.now(0) == 1000.0
        s.k.timing.reset()
        clk.in_order = False
        s.k.timing.cpus[1].cycles += 2000
        assert (clk.read(1), clk.read(0)) == (1000, 0)
    finally:
        s.close()


@settings(max_examples=200, deadline=None)
@given(cycles=st.integers(0, 10**12), served=st.floats(0, 1e9), pending=st.floats(0, 1e6),
       idle=st.floats(0, 1e12), ahead=st.integers(1, 10**9))
def test_a_wait_lands_on_the_time_asked(cycles, served, pending, idle, ahead):
    """wait_until(cpu, t) past the CPU's clock: a read then gives t, not t - 1
    by rounding the sum of its idle and charged terms (a tick's first event,
    the sched workload's events: never before the time asked)."""
    k = _K[0]
    clk, c = k.timing.clock, k.timing.cpus[0]
    c.cycles, c.served_cycles, c.clock_pending, c.clock_idle = cycles, served, pending, idle
    clk.in_order = False
    t = int(clk.now(0)) + ahead
    assert clk.wait_until(0, t) > 0
    assert clk.read(0) == t


_K = []


def setup_module():
    from kmodel.kernel import boot
    _K.append(boot("numa2"))


def teardown_module():
    _K.pop().shutdown()


class ConsumerWatch(Recorder):
    """A Recorder that keeps, around each of the consumer's turns, how far
    every CPU's clock moved and how many cycles the timing model counted."""
    def _off_the_clock(self, fn, *args):
        tm = self.k.timing
        clk = tm.clock
        now = {cpu: clk.now(cpu) for cpu in tm.cpus}
        cycles = sum(clk.cycles(cpu) for cpu in tm.cpus)
        super()._off_the_clock(fn, *args)
        self.moved = max(getattr(self, "moved", 0.0),
                         max(abs(clk.now(cpu) - t) for cpu, t in now.items()))
        self.charged = getattr(self, "charged", 0) + \
            sum(clk.cycles(cpu) for cpu in tm.cpus) - cycles


def test_the_consumer_of_a_recording_in_ticks_takes_no_cpus_time(tmp_path):
    """The consumer's work (read(2) of each packet: get, copy, put) is counted
    in the timing model, and on no CPU's clock: every clock reads the same
    after the consumer's turn as before (docs/model.md), so each consumer
    gives the same trace (tests/test_consumer_contract.py)."""
    rec = ConsumerWatch(RecordOptions(machine="numa2", events=64, consumer="read"),
                        str(tmp_path))
    rec.run()
    assert rec.charged > 0
    assert rec.moved < 1e-6


@pytest.mark.parametrize("name", ["splice", "mmap", "read"])
def test_a_consumer_that_reads_no_pages_leaves_no_counts(tmp_path, name):
    """A consumer that says it reads no pages (Consumer.reads_pages False: its
    turn is not folded off the clocks) leaves no count on them; read(2) does."""
    class Counted(Recorder):
        touched = 0

        def _off_the_clock(self, fn, *args):
            bufs = [rb.rbuf for rb in self.rbc.bufs.values()]

            def counts():
                return [(b.tally[1], [d.acct for d in b.descs]) for b in bufs]
            before = counts()
            super()._off_the_clock(fn, *args)
            self.touched += before != counts() and not self.consumer.reads_pages
    rec = Counted(RecordOptions(machine="numa2", events=200, consumer=name), str(tmp_path))
    rec.run()
    assert rec.touched == 0
    assert get_consumer(name).reads_pages == (name == "read")
