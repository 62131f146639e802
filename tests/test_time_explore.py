"""Modeled time in the explorer: a run's timestamps are a function of its
schedule (the clock reads the cycles each CPU was charged in that run)."""
from hw.clock import ClockMode
from kmodel.api import explore
from kmodel.kernel import boot
from kmodel.scenarios.layer_races import make_layer_race


def times_of_search(seed):
    """Each run's delivered packets' (seq, ts_begin, ts_end), a search of 12
    random runs of rb-conformance with the modeled clock."""
    k = boot("numa2")
    sc = make_layer_race("rb-conformance")
    runs = []

    def setup(world):
        clk = world.k.timing.clock
        assert clk.mode is ClockMode.MODELED and clk.in_order    # the boot's, untouched
        return sc.setup(world)

    def check(state, final):
        msg = sc.check(state, final)
        if final:
            runs.append(tuple((d[0], d[1], d[2]) for rb in sc.rbc.bufs.values()
                              for d in rb.book.delivered))
        return msg
    try:
        k.modules.insmod("ltt_relay_alloc")
        res = explore(setup, check, strategy="random", runs=12, seed=seed, kernel=k)
    finally:
        sc.close()
        k.shutdown()
    assert res.ok, res.failure
    return runs


def test_timestamps_are_a_function_of_the_schedule():
    a, b = times_of_search(7), times_of_search(7)
    assert a == b and len(a) == 12
    assert len(set(a)) > 1                      # other schedules, other times
    # each run starts from time 0 (the explorer resets the timing model), so
    # a run's first packet begins before the previous run's last one ends;
    # a count of reads would go on growing from run to run
    for prev, run in zip(a, a[1:]):
        assert min(t0 for _, t0, _ in run) < max(t1 for _, _, t1 in prev)
    assert times_of_search(8) != a
