"""The speed of the layers and of the scheduler, each against a floor measured
in the same run: what `kmodel bench` prints under "Layers and scheduler", and
bench/bench_steps.py records with pytest-benchmark.

- a 64 B event through each locking layer (its straight form,
  kmodel/core/straight.py), against the raw ltt_relay_write of the same 64
  bytes, on each backend;
- ``trace record`` per event, against a floor that draws the same events
  (kmodel.consumer.record.tick_events, the same seed) and packs each, header
  and fields, with struct.pack_into into a bytearray ring;
- a scheduler step (choose, switch, resume, kmodel.cpu.sched.Run), against a
  bare generator send;
- an exhaustive search, bound 2, 2 CPUs and one irq of 3 atomic adds each:
  interleavings per second, against the figure measured before the straight
  forms and typed events (a reference of this machine, not of this run: the
  one goal that is no ratio in the same run; docs/concurrency.md says how
  to measure both in one).
"""
import os
import struct
import tempfile
import time

from kmodel.perf.harness import measure, measure_ratio, quantiles

EVENT = 64                      # bytes per record: a 16-byte header and 48 of payload
N_EVENTS = 256
BACKENDS = ("pagelist", "vmap", "static")
LAYERS = ("lockless", "locked")
EXHAUSTIVE_BEFORE = 18_000      # interleavings/s before (issue 25's figure, this machine)

# (goal name, limit, unit, better): the goals of issue 25
GOALS = {
    "lockless/pagelist": ("lockless 64 B event / raw write, page list", 2.0, "x", "lower"),
    "locked/pagelist": ("locked 64 B event / raw write, page list", 1.8, "x", "lower"),
    "lockless/vmap": ("lockless 64 B event / raw write, vmap", 2.5, "x", "lower"),
    "locked/vmap": ("locked 64 B event / raw write, vmap", 2.5, "x", "lower"),
    "lockless/static": ("lockless 64 B event / raw write, static", 2.5, "x", "lower"),
    "locked/static": ("locked 64 B event / raw write, static", 2.5, "x", "lower"),
    "record": ("trace record per event / struct.pack_into floor", 4.0, "x", "lower"),
    "swap": ("get/put with the 2.x table's swap / bare get/put (2009)", 1.5, "x", "lower"),
    "step": ("scheduler step / bare generator send", 5.0, "x", "lower"),
    "exhaustive": ("exhaustive interleavings/s, bound 2 / 18,000 before", 2.0, "x", "higher"),
}


def layer_events(rounds=9, min_time=0.005):
    """layer_events - {(layer, backend): (event ns, raw ns)}: a 64 B event
    through each layer's straight form and the raw write of 64 B, each
    backend measured in turn, in one kernel."""
    from kmodel.kernel import boot
    from kmodel.perf.layer_workloads import open_layer
    from kmodel.perf.workloads import sequential
    from kmodel.relay.relay_alloc import ltt_relay_write
    out = {}
    k = boot()
    try:
        k.modules.insmod("ltt_relay_alloc")
        k.set_cpu(0)
        for backend in BACKENDS:
            raw_rbc = open_layer(k, f"raw-{backend}", "lockless", backend, "per-cpu")
            # one stream around the ring, as the layer's records go
            raw, _ = sequential(ltt_relay_write, raw_rbc.chan.buf[0], EVENT, N_EVENTS)
            for layer in LAYERS:
                rbc = open_layer(k, f"{layer}-{backend}", layer, backend, "per-cpu")
                rb = rbc.buf_for(0)
                write = rbc.layer.write__straight
                payload = bytes(EVENT - 16)

                def events():
                    for _ in range(N_EVENTS):
                        write(rb, payload)
                out[(layer, backend)] = measure_ratio(events, raw, N_EVENTS, rounds, min_time)
    finally:
        k.shutdown()
    return out


def swap_get_put(n=2_000, rounds=9, min_time=0.005):
    """swap_get_put - (ns per get/put of a 2.x overwrite buffer, whose get
    swaps the reader's spare into the table and whose put swaps it back; ns
    per bare get/put of the same buffer in era 2009, in place): each pair is
    LTTng's get_next_subbuf and put_next_subbuf (the put moves consumed; the
    loop sets it back, a plain store, so that the same delivered sub-buffer
    is taken again), through the layer's straight forms."""
    from kmodel.kernel import boot
    from kmodel.relay.layer_channel import ring_buffer_open
    k = boot()
    try:
        k.modules.insmod("ltt_relay_alloc")
        k.set_cpu(0)
        loops = []
        for era in ("2.x", "2009"):
            rbc, err = ring_buffer_open(k, f"swap-{era}", 16384, 4, "pagelist", "local",
                                        "lockless", "overwrite", "per-cpu", era=era)
            assert rbc is not None, err
            rb = rbc.buf_for(0)
            payload = bytes(EVENT - 16)
            while rb.book.n_delivered < 2:
                rbc.layer.write__straight(rb, payload)
            get, put = rbc.get_subbuf__straight, rbc.put_subbuf__straight
            consumed = rb.consumed

            def loop(rb=rb, get=get, put=put, consumed=consumed):
                for _ in range(n):
                    c = get(rb)
                    put(rb, c)
                    consumed.counter = c    # (the harness: the same packet again)
            loop()
            assert rb.reader_held is None
            loops.append(loop)
        return measure_ratio(loops[0], loops[1], n, rounds, min_time)
    finally:
        k.shutdown()


def record_options(events):
    from kmodel.consumer.record import RecordOptions
    return RecordOptions(machine="numa2", events=events, seed=1)


def record_per_event(events=400, rounds=3):
    """record_per_event - (ns per event of trace record, the floor's ns per
    event): a whole recording (boot, channel, splice consumer writing the
    stream files, final flush) of events per CPU, and the floor drawing the
    same events and packing them into a bytearray ring."""
    from kmodel.consumer.record import Recorder
    samples, floor = [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as d:
            rec = Recorder(record_options(events), d)
            t0 = time.perf_counter()
            stats = rec.run()
            dt = time.perf_counter() - t0
        n = sum(s.produced for s in stats.values())
        samples.append(dt / n * 1e9)
        t0 = time.perf_counter()
        m = pack_floor(record_options(events), rec.ticks, sorted(stats))
        floor.append((time.perf_counter() - t0) / m * 1e9)
        assert m == n, f"the floor packed {m} events, the recording wrote {n}"
    return quantiles(samples)[1], quantiles(floor)[1]


def pack_floor(opts, ticks, cpus):
    """pack_floor - the floor of trace record: the same ticks drawing the same
    events on the same CPUs (tick_events, the same seed), each packed, its
    compact LTTng header (the recording's default, event_header.py) and
    fields, with struct.pack_into into a bytearray ring of the channel's
    size.  Returns the number of events packed."""
    import random

    from kmodel.consumer.ctf import VARIABLE
    from kmodel.consumer.record import CLASS, tick_events
    rng = random.Random(opts.seed)
    size = opts.subbuf_size * opts.n_subbufs
    ring = bytearray(size)
    packers = {}
    for name, cls in CLASS.items():
        fixed = [f for f in cls.fields if f[1] not in VARIABLE]
        packers[name] = (struct.Struct("<I" + "".join(c for _, c in fixed)),
                         [n for n, _ in fixed], cls.id)
    seq = dict.fromkeys(cpus, 0)
    off = n = ts = 0
    for _ in range(ticks):
        for cpu in cpus:
            if seq[cpu] >= opts.events:
                continue
            for _irq, evs in tick_events(rng, cpu, opts.rate, opts.subbuf_size):
                for name, values in evs:
                    values["seq"] = seq[cpu]
                    seq[cpu] += 1
                    st, names, eid = packers[name]
                    data = values.get("data", b"")
                    rsize = st.size + len(data)
                    if off + rsize > size:
                        off = 0
                    ts += 1
                    st.pack_into(ring, off, eid | (ts & 0x7FFFFFF) << 5,
                                 *[values[f] for f in names])
                    if data:
                        ring[off + st.size:off + st.size + len(data)] = data
                    off += rsize
                    n += 1
    return n


def scheduler_step(n=20_000, rounds=5):
    """scheduler_step - (ns per scheduler step, ns per bare generator send, ns
    per step of another kind): two tasks of n/2 steps each, under the random
    chooser.  Their steps are accesses (READ_ONCE), the explorer's common
    case, after which the scheduler keeps the set of enabled contexts; the
    third figure is a step of another kind (Op.STEP), after which it
    recomputes the set."""
    from kmodel.core.step import Op
    from kmodel.cpu.explore import RandomChooser
    from kmodel.cpu.sched import Run, World
    from kmodel.kernel import boot

    def accesses(m):
        for _ in range(m):
            yield (Op.READ_ONCE, None)

    def others(m):
        for _ in range(m):
            yield (Op.STEP, None)

    def bare():
        send = accesses(n).send
        try:
            while True:
                send(None)
        except StopIteration:
            pass
    k = boot("numa2")
    try:
        def scheduled(events):
            def run():
                w = World(k)
                w.task(0, events, n // 2)
                w.task(4, events, n // 2)
                Run(k, w, RandomChooser(0, 0), max_steps=10 * n).run()
            return run
        step, send = measure_ratio(scheduled(accesses), bare, n, rounds, 0.01)
        other, send2 = measure_ratio(scheduled(others), bare, n, rounds, 0.01)
        other *= send / send2           # each ratio is to its own floor's rounds
    finally:
        k.shutdown()
    return step, send, other


def event_pair_and_object(n=100_000, rounds=5):
    """event_pair_and_object - (ns per yield of a pair, of a slotted object,
    of nothing): what making an event costs (kmodel/core/step.py)."""
    from kmodel.core.step import Op

    class Event:
        __slots__ = ("op", "obj")

        def __init__(self, op, obj):
            self.op = op
            self.obj = obj

    def pairs(w):
        for _ in range(n):
            yield (Op.READ_ONCE, w)

    def objects(w):
        for _ in range(n):
            yield Event(Op.READ_ONCE, w)

    def bare(w):
        for _ in range(n):
            yield

    def drive(gen):
        def run():
            for _ in gen(1):
                pass
        return run
    return tuple(measure(drive(g), n, rounds, 0.005)[0] for g in (pairs, objects, bare))


def three_events(v):
    from kmodel.core.atomic import atomic_long_add
    for _ in range(3):
        yield from atomic_long_add(v, 1)


def setup_2cpu_irq(world):
    from kmodel.core.atomic import atomic_long_t
    v = atomic_long_t(world.k, name="v")
    world.task(0, three_events, v, name="t0")
    world.task(1, three_events, v, name="t1")
    world.irq(0, three_events, v, name="irq")
    return v


def check_total(v, final):
    return f"v = {v.counter}" if final and v.counter != 9 else None


def exhaustive_rate(rounds=5):
    """exhaustive_rate - (interleavings per second, distinct interleavings) of
    the exhaustive search, bound 2, over 2 CPUs and an irq of 3 adds each."""
    from kmodel.cpu.explore import explore
    from kmodel.kernel import boot
    k = boot("numa2")
    try:
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            res = explore(setup_2cpu_irq, check_total, strategy="exhaustive", runs=10**7,
                          bound=2, kernel=k)
            times.append(time.perf_counter() - t0)
            assert res.ok and res.complete and res.distinct == res.runs
    finally:
        k.shutdown()
    return res.distinct / quantiles(times)[1], res.distinct


def run_all(quick=False, progress=None):
    """run_all - every measurement: a list of rows ({"goal", "measured",
    "limit", "unit", "met", "detail"}) in GOALS' order."""
    step = progress or (lambda what: None)
    rows = []

    def goal(key, measured, detail):
        name, limit, unit, better = GOALS[key]
        met = measured <= limit if better == "lower" else measured >= limit
        rows.append({"goal": name, "measured": measured, "limit": limit, "unit": unit,
                     "better": better, "met": met, "detail": detail})
    step("host time: 64 B events through the layers, against the raw write")
    ev = layer_events(rounds=5 if quick else 9)
    for backend in BACKENDS:
        for layer in LAYERS:
            e, r = ev[(layer, backend)]
            goal(f"{layer}/{backend}", e / r, f"{e:.0f} ns an event, {r:.0f} ns raw")
    step("host time: trace record against packing the same events")
    rec, floor = record_per_event(events=200 if quick else 400, rounds=1 if quick else 3)
    goal("record", rec / floor, f"{rec / 1e3:.1f} us an event ({1e9 / rec:,.0f}/s), "
         f"floor {floor / 1e3:.2f} us")
    step("host time: the reader's get/put with the table's swap, against without")
    sw, bare = swap_get_put(rounds=5 if quick else 9)
    goal("swap", sw / bare, f"{sw:.0f} ns a get/put with the swap, {bare:.0f} ns without")
    step("host time: a scheduler step against a bare send")
    s, b, o = scheduler_step(rounds=3 if quick else 5)
    goal("step", s / b, f"{s:.0f} ns a step after an access, {b:.0f} ns a send; "
         f"after a step of another kind {o:.0f} ns, {o / b:.1f}x")
    step("host time: exhaustive search, bound 2")
    rate, distinct = exhaustive_rate(rounds=3 if quick else 5)
    goal("exhaustive", rate / EXHAUSTIVE_BEFORE,
         f"{rate:,.0f} interleavings/s ({distinct} distinct), before: "
         f"{EXHAUSTIVE_BEFORE:,}/s")
    return rows


def format_rows(rows):
    """format_rows - the report's lines."""
    lines = ["\nLayers and scheduler: host time, ratios to a floor in the same run "
             "(issue 25's goals)"]
    for r in rows:
        cmp = "<=" if r["better"] == "lower" else ">="
        lines.append(f"  [{'met' if r['met'] else 'MISSED'}] {r['goal']}: "
                     f"{r['measured']:.2f}{r['unit']} (goal {cmp} {r['limit']:g}"
                     f"{r['unit']}; {r['detail']})")
    return lines


def profile(what, n=20_000, top=15):
    """profile - where the time of one measure goes: the cProfile of n 64 B
    events through a layer's straight form on the page list (what
    "lockless" or "locked"), or of a recording of n events per CPU
    ("record"), sorted by own time; the report's text."""
    import cProfile
    import io
    import pstats
    prof = cProfile.Profile()
    if what == "record":
        from kmodel.consumer.record import Recorder
        with tempfile.TemporaryDirectory() as d:
            rec = Recorder(record_options(n // 8), d)
            prof.runcall(rec.run)
    else:
        from kmodel.kernel import boot
        from kmodel.perf.layer_workloads import open_layer
        k = boot()
        try:
            k.modules.insmod("ltt_relay_alloc")
            k.set_cpu(0)
            rbc = open_layer(k, "p", what, "pagelist", "per-cpu")
            rb, write, payload = rbc.buf_for(0), rbc.layer.write__straight, bytes(EVENT - 16)

            def events():
                for _ in range(n):
                    write(rb, payload)
            events()
            prof.runcall(events)
        finally:
            k.shutdown()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    calls = stats.total_calls       # type: ignore[attr-defined]
    out.write(f"{what}: {calls / n:.1f} Python calls an event\n")
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


if __name__ == "__main__":           # python -m kmodel.perf.step_goals [--quick] [--profile W]
    import sys
    if "--profile" in sys.argv:
        print(profile(sys.argv[sys.argv.index("--profile") + 1]))
        sys.exit(os.EX_OK)
    print("\n".join(format_rows(run_all("--quick" in sys.argv,
                                        lambda w: print(w, file=sys.stderr)))))
    sys.exit(os.EX_OK)
