"""trace sizing in real units (kmodel/consumer/sizing_time.py): losses where
the arithmetic puts them, and a recommendation that holds over 10 s."""
import tempfile

from kmodel.consumer.sizing_time import (TimePoint, TimeSetup, candidates, margin,
                                         recommend, run_time_point, sweep_in_time)
from kmodel.relay.packet import HDR


def test_losses_at_the_rate_the_arithmetic_predicts():
    """Events at 2M/s of 64 bytes (128 MB/s) into a consumer of 32 MB/s over
    5 ms: in steady state it writes out bw / S sub-buffers a second, each of
    (S - HDR) / 64 events; with what the buffer holds at the end, that is
    what is read, and the rest is lost, all for a full buffer."""
    T, rate, size, bw, S, n = 5_000_000, 2e6, 64, 32e6, 8192, 4
    (row,) = sweep_in_time([TimePoint(S, n, rate, size, bw)], TimeSetup(T), jobs=1)
    produced = int(rate * T / 1e9)
    per = (S - HDR) // size
    read = (int(bw * T / 1e9 / S) + n) * per
    assert row.produced == produced
    assert abs((produced - row.lost_total) - read) <= per
    assert row.lost == {"full": row.lost_total, "wrap": 0, "big": 0, "overrun": 0}
    assert abs(row.lost_frac - (1 - read / produced)) < 0.01     # 75% lost, about
    assert S * n - size < row.peak_fill <= S * n              # full: no room for a record
    fast, = sweep_in_time([TimePoint(S, n, rate, size, 200e6)], TimeSetup(T), jobs=1)
    assert fast.lost_total == 0 and fast.peak_fill < S * n


def test_recommended_geometry_loses_nothing_over_10_s_the_next_smaller_loses():
    """500 events a second of 1 KiB into a consumer of 0.6 MB/s that wakes
    40 ms after a delivery: the recommendation, found on 1 s runs, holds over
    10 s, and half its sub-buffer size loses events over those 10 s."""
    rate, size, bw = 500.0, 1024, 0.6e6
    short = TimeSetup(1_000_000_000, wakeup_latency_ns=40_000_000)
    best, rows = recommend(rate, size, bw, 8 * 4 * 65536, [4], short, 8, jobs=1)
    assert best is not None and [r.point.subbuf_size for r in rows] == [4096 << i
                                                                          for i in range(5)]
    assert best.point.subbuf_size > 4096 and 0 < margin(best) < 1
    long = TimeSetup(10_000_000_000, wakeup_latency_ns=40_000_000)
    with tempfile.TemporaryDirectory() as d:
        ten = run_time_point(best.point, long, d)
        smaller = run_time_point(TimePoint(best.point.subbuf_size // 2, 4, rate, size, bw),
                                 long, d)
    assert ten.produced == 5000 and ten.lost_total == 0
    assert smaller.lost_total > 0


def test_candidates_fit_the_budget():
    assert candidates(8 * 4 * 16384, [2, 4], 8) == [(4096, 2), (8192, 2), (16384, 2),
                                                     (32768, 2), (4096, 4), (8192, 4),
                                                     (16384, 4)]
    assert candidates(4096, [4], 8) == []


def test_recommend_does_not_answer_a_rate_the_tracer_cannot_follow(capsys):
    """At 1G events a second the tracing CPU writes one event each 7 ns or
    so, about 227k in 2 ms, not 2M: no buffer loses anything, and no buffer
    is the answer either (it said "choose 4K x 2 ...: nothing lost")."""
    from kmodel.cli.main import main
    assert main(["trace", "sizing", "--time", "2ms", "--event-rates", "1G", "--recommend",
                 "--memory", "64k", "--n-subbufs", "2", "--jobs", "1"]) == 1
    out = capsys.readouterr().out
    assert "the tracing CPUs cannot follow 1G/s of 32 B: " in out and "choose" not in out
