"""What keeping modeled time costs the host: a layered event with the clock
running, against the same event with the clock frozen, in one run.

With the clock running (hw.clock, ClockMode.MODELED), each event of a
recording in time costs: the CPU's wait for the event's arrival
(Clock.wait_until, which reads the clock), the trace clock's read at the
reservation (the CPU's charged cycles, summed), and bringing the clock up
to date after it (timed_record.keep_time: the copy charged ahead, or the
CPU's buffers folded when the record entered a page).  Frozen (ClockMode.FROZEN),
the same events go through the same layer with none of that: the clock
reads the workload's time alone and nothing is folded until the end.
The goal: time costs at most 10% of a layered event (issue 24).
"""
from kmodel.perf.harness import measure_ratio

GOAL = ("clock running / frozen, 32 B lockless event", 1.10, "x", "lower")
N_EVENTS = 1024


def clock_ratio(rounds=15, min_time=0.02):
    """clock_ratio - (running ns per event, frozen ns per event)."""
    from hw.clock import ClockMode
    from kmodel.consumer.timed_record import keep_time
    from kmodel.kernel import boot
    from kmodel.perf.layer_workloads import open_layer
    k = boot()
    try:
        k.modules.insmod("ltt_relay_alloc")
        k.set_cpu(0)
        rbc = open_layer(k, "time", "lockless", "pagelist", "per-cpu")
        rb = rbc.buf_for(0)
        write = rbc.layer.write__straight
        payload = bytes(16)
        clk = k.timing.clock
        state = {"t": 0.0}

        off = rb.offset
        copy = (16 + len(payload)) * k.timing.stream_cpb(0, rb.rbuf.nid, rb.rbuf.alloc_size)

        def running():
            clk.mode = ClockMode.MODELED
            t = state["t"]
            for _ in range(N_EVENTS):
                t += 500.0
                clk.wait_until(0, t)
                o0 = off.counter
                write(rb, payload)
                keep_time(clk, 0, o0, off.counter, copy)
            state["t"] = t

        def frozen():
            clk.mode = ClockMode.FROZEN
            for _ in range(N_EVENTS):
                write(rb, payload)

        return measure_ratio(running, frozen, N_EVENTS, rounds, min_time)
    finally:
        k.shutdown()
