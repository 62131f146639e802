"""kmodel trace sizing: how big must the sub-buffers be before no event is lost?

Each point of the sweep records a trace (record.py, in a scratch directory)
with one sub-buffer size, sub-buffer count, event rate and consumer rate, and
reports the share of events lost.  Points run in worker processes; each is
seeded, so a sweep gives the same table on any host and with any number of
workers.
"""
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import product

from kmodel.consumer.record import Recorder, RecordOptions


@dataclass(frozen=True)
class Point:
    subbuf_size: int
    n_subbufs: int
    rate: int
    consumer_rate: int


def run_point(point, machine, events, seed, layer, mode):
    """run_point - (point, produced, lost) for one point of the sweep."""
    with tempfile.TemporaryDirectory(prefix="kmodel-sizing-") as d:
        stats = Recorder(RecordOptions(machine=machine, events=events, rate=point.rate,
                                       layer=layer, mode=mode, subbuf_size=point.subbuf_size,
                                       n_subbufs=point.n_subbufs,
                                       consumer_rate=point.consumer_rate, seed=seed),
                         d).run()
    produced = sum(s.produced for s in stats.values())
    lost = sum(s.lost for s in stats.values())
    return point, produced, lost


def sweep(subbuf_sizes, n_subbufs, rates, consumer_rates, machine=None, events=200, seed=0,
          layer="lockless", mode="discard", jobs=None):
    """sweep - [(point, produced, lost)] in the order of the product of the lists."""
    points = [Point(*p) for p in product(subbuf_sizes, n_subbufs, rates, consumer_rates)]
    args = (machine, events, seed, layer, mode)
    jobs = jobs or os.cpu_count() or 1
    if jobs == 1:
        return [run_point(p, *args) for p in points]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(run_point, points, *[[a] * len(points) for a in args]))
