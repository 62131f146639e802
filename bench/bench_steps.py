"""The layers and the scheduler against their floors (issue 25's goals), each
measured by kmodel/perf/step_goals.py, the code `kmodel bench` runs too:

- a 64 B event through each layer's straight form / the raw write, per backend;
- the reader's get/put with the 2.x table's swap / without (era 2009);
- trace record per event / packing the same events with struct.pack_into;
- a scheduler step / a bare generator send;
- exhaustive interleavings per second, bound 2 / the figure measured before;
- what making an event costs: a pair, a slotted object, nothing.
"""
from kmodel.perf import step_goals


def _record(record_goal, key, measured):
    name, limit, unit, better = step_goals.GOALS[key]
    record_goal(name, measured, limit, unit, better)


def test_layer_events(benchmark, record_goal):
    ev = benchmark.pedantic(step_goals.layer_events, rounds=1, iterations=1)
    for (layer, backend), (event, raw) in ev.items():
        benchmark.extra_info[f"{layer}/{backend}"] = {"event_ns": event, "raw_ns": raw}
        _record(record_goal, f"{layer}/{backend}", event / raw)


def test_swap_get_put(benchmark, record_goal):
    sw, bare = benchmark.pedantic(step_goals.swap_get_put, rounds=1, iterations=1)
    benchmark.extra_info.update(swap_ns=sw, bare_ns=bare)
    _record(record_goal, "swap", sw / bare)


def test_trace_record(benchmark, record_goal):
    rec, floor = benchmark.pedantic(step_goals.record_per_event, rounds=1, iterations=1)
    benchmark.extra_info.update(record_ns=rec, floor_ns=floor)
    _record(record_goal, "record", rec / floor)


def test_scheduler_step(benchmark, record_goal):
    step, send, other = benchmark.pedantic(step_goals.scheduler_step, rounds=1, iterations=1)
    benchmark.extra_info.update(step_ns=step, send_ns=send, other_step_ns=other)
    _record(record_goal, "step", step / send)


def test_exhaustive(benchmark, record_goal):
    rate, distinct = benchmark.pedantic(step_goals.exhaustive_rate, rounds=1, iterations=1)
    benchmark.extra_info.update(interleavings_per_s=rate, distinct=distinct)
    _record(record_goal, "exhaustive", rate / step_goals.EXHAUSTIVE_BEFORE)


def test_making_an_event(benchmark):
    pair, obj, bare = benchmark.pedantic(step_goals.event_pair_and_object, rounds=1,
                                         iterations=1)
    benchmark.extra_info.update(pair_ns=pair, object_ns=obj, bare_ns=bare)
    print(f"\na yield of: nothing {bare:.0f} ns, a pair {pair:.0f} ns, "
          f"a slotted object {obj:.0f} ns")
