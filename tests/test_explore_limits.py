"""explore's numbers have ranges and a search a cap (kmodel.cpu.explore.LIMITS,
MAX_SEARCH_STEPS), checked by the library's explore() before a run, as the
command line checks them before anything boots."""
import pytest

import kmodel
from kmodel.core.step import Op
from kmodel.cpu.explore import LIMITS, MAX_SEARCH_STEPS
from kmodel.cpu.sched import ScheduleError


def one_step():
    yield (Op.STEP, None)


def setup(world):
    world.task(0, one_step)


@pytest.fixture(scope="module")
def k():
    k = kmodel.boot("numa2")
    yield k
    k.shutdown()


@pytest.mark.parametrize("name", sorted(LIMITS))
def test_each_number_out_of_its_range_is_refused_before_a_run(k, name):
    lo, hi = LIMITS[name]
    ran = []

    def counting(world):
        ran.append(1)
        setup(world)
    for bad in (lo - 1, hi + 1, "3", 2.0, True):
        with pytest.raises(ScheduleError, match=f"^--{name.replace('_', '-')} "):
            kmodel.explore(counting, kernel=k, **{name: bad})
    assert ran == []
    for good in (lo, min(hi, lo + 1)):
        kmodel.explore(counting, kernel=k, **{name: good, "runs": 1} if name != "runs"
                       else {name: good, "strategy": "exhaustive"})


def test_a_search_past_the_cap_is_refused_naming_it(k):
    runs = LIMITS["runs"][1]
    steps = MAX_SEARCH_STEPS // runs + 1
    with pytest.raises(ScheduleError, match=f"= {runs * steps:,} steps: at most "
                                            f"{MAX_SEARCH_STEPS:,} a search"):
        kmodel.explore(setup, kernel=k, runs=runs, max_steps=steps)
