"""The explorer's coverage report (kmodel/cpu/coverage.py, kmodel explore
--coverage): the yield points of some source, which a search stood at, and
the windows between two contexts."""
import importlib.util
import io
import re
import textwrap

import pytest

from kmodel.core.step import Op
from kmodel.cli.main import main
from kmodel.cpu.context import chain_frames
from kmodel.cpu.coverage import Coverage, Window, find_point, yield_points
from kmodel.cpu.explore import explore
from kmodel.kernel import boot
from kmodel.relay import ring_buffer
from kmodel.scenarios.races import get_race

SOURCE = '''\
def plain():
    return 1


def one(x):
    yield ("op", x)


def two(x):
    v = yield from one(x)
    yield from one(
        x)
    return v


def outer(x):
    def inner():
        yield ("inner", x)
    f = lambda: (yield)
    return inner, f


def loop(x):
    while True:
        got = yield ("op", x)
        if got:
            return
'''


@pytest.fixture()
def source(tmp_path):
    path = tmp_path / "steps.py"
    path.write_text(SOURCE)
    return path


def test_yield_points_are_every_yield_of_a_function(source):
    pts = yield_points(str(source))
    assert [(p.function, p.line) for p in pts] == [
        ("one", 6), ("two", 10), ("two", 11), ("inner", 18), ("outer", 19), ("loop", 25)]
    assert pts[2].text == "yield from one("          # a yield from's first line
    assert pts[0].where == "steps.py:6"


def test_a_suspended_generator_stands_at_the_lines_the_scan_finds(source):
    spec = importlib.util.spec_from_file_location("steps", source)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    points = {(p.file, p.line) for p in yield_points(str(source))}
    gen = mod.two(1)
    stood = []
    for _ in gen:
        stood.append([(f.f_code.co_filename, f.f_lineno) for f in chain_frames(gen)])
    assert [[line for _, line in chain] for chain in stood] == [[10, 6], [11, 6]]
    assert all(key in points for chain in stood for key in chain)


def test_a_search_stands_only_at_points_the_scan_found():
    """Every line of a watched file a context stood at is a yield point (a
    suspended frame reports the line the scan takes), on every race."""
    k = boot("numa2")
    try:
        from kmodel.core import atomic, spinlock
        from kmodel.scenarios import races
        for name in ("lost-update", "cmpxchg-loop-fixed", "spinlock-irq-fixed"):
            cov = Coverage([races, atomic, spinlock], [atomic, spinlock])
            setup, check = get_race(name)
            explore(setup, check, strategy="exhaustive", runs=200, kernel=k, coverage=cov)
            assert cov.reached() and not cov.strays, name
            assert cov.runs >= 2
    finally:
        k.shutdown()


def test_a_window_is_a_step_at_one_point_while_another_context_stands_at_another():
    """lost-update: the handler's increment (READ_ONCE then WRITE_ONCE in
    inc_plain) runs while the task stands between its load and its store."""
    k = boot("numa2")
    try:
        from kmodel.core import atomic
        from kmodel.scenarios import races
        cov = Coverage([races, atomic], [atomic])
        load = find_point(races.inc_plain, "READ_ONCE")
        store = find_point(races.inc_plain, "WRITE_ONCE")
        setup, check = get_race("lost-update")
        res = explore(setup, check, strategy="exhaustive", runs=50, kernel=k, coverage=cov)
        assert res.failure is not None and res.runs == cov.runs
        # the failing run: the handler's load and store while the task stood at its store
        assert cov.between(store, load) and cov.between(store, store)
        fixed = Coverage([races, atomic], [atomic])
        setup, check = get_race("lost-update-fixed")
        explore(setup, check, strategy="exhaustive", runs=50, kernel=k, coverage=fixed)
        assert not fixed.between(store, load)       # irqs are off around the increment
        report = fixed.report([Window("the handler loads while the task is to store",
                                      store, load)])
        assert report[-1] == ("window: the handler loads while the task is to store: "
                              "NOT reached")
    finally:
        k.shutdown()


def test_find_point_names_a_point_by_its_code():
    f, line = find_point(ring_buffer._push_reader, "atomic_long_cmpxchg(rb.consumed")
    assert f == ring_buffer.__file__
    assert "(consumed & ~(S - 1)) + S" in open(f).read().splitlines()[line - 1]
    with pytest.raises(ValueError, match="0 yield points"):
        find_point(ring_buffer.lib_ring_buffer_reserve, "no such code")
    with pytest.raises(ValueError, match="yield points contain"):
        find_point(ring_buffer.lib_ring_buffer_reserve, "ops.read(rb.offset)")   # two


def run_cli(*argv):
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_cli_coverage_report():
    rc, out = run_cli("explore", "builtin:rb-lap", "--runs", "40", "--coverage")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == "explore builtin:rb-lap: random, seed 0"
    assert lines[2].startswith("coverage of 40 runs: ")
    # a 2.x overwrite buffer: the full check (discard mode's) and 2009's two too-big
    # checks are never reached
    assert re.search(r"^  lib_ring_buffer_reserve +10 of 14$", out, re.M)
    assert re.search(r"^  lib_ring_buffer_get_subbuf +3 of 3$", out, re.M)
    assert "window: the reader swaps a sub-buffer out while a writer that entered it " \
           "clears its noref flag: reached in" in out
    # what the lockless per-CPU layer never does is listed as not reached
    assert re.search(r"^layer_locked\.py: 0 of \d+$", out, re.M)
    assert "not reached: atomic.py:" in out and 'yield (Op.LOCAL_ADD_LOAD, l)' in out
    rc, out = run_cli("explore", "builtin:lost-update-fixed", "--strategy", "exhaustive",
                      "--coverage")
    assert rc == 0 and "coverage of 2 runs" in out and "  READ_ONCE" in out


def test_coverage_of_a_discard_scenario_names_no_push_window():
    rc, out = run_cli("explore", "builtin:rb-lap-discard", "--runs", "5", "--coverage")
    assert rc == 0
    assert "the reader swaps a sub-buffer out" not in out
    assert "window: a writer reads consumed while the reader copies" in out


def test_a_file_without_functions_has_no_points(tmp_path):
    p = tmp_path / "empty.py"
    p.write_text(textwrap.dedent("""\
        X = 1
        def f():
            return [x for x in range(3)]
    """))
    assert yield_points(str(p)) == []
    assert Coverage([str(p)]).report() == ["coverage of 0 runs: 0 of 0 yield points reached"]


@pytest.mark.parametrize("argv", [
    ("builtin:rb-lap", "--runs", "24"),
    ("builtin:rb-lap", "--runs", "12", "--strategy", "pct"),
    ("builtin:lost-update-fixed", "--strategy", "exhaustive"),
    ("builtin:rb-lap-discard", "--strategy", "exhaustive", "--runs", "30"),
])
def test_coverage_with_jobs_is_the_report_of_one_process(argv):
    """--coverage with --jobs: each worker sends each run's counts with its
    record, added in the search's order; 1 worker (the search in this
    process) and 2 say the same, line for line."""
    rc1, one = run_cli("explore", *argv, "--coverage")
    rc2, two = run_cli("explore", *argv, "--coverage", "--jobs", "2")
    assert rc1 == rc2 == 0
    assert "coverage of " in one and "reached" in one
    assert two == one


def test_runs_counted_elsewhere_add_up_to_the_search():
    """take_run and add_run: a search's runs counted one at a time in another
    Coverage and added in order give the same counts, first runs and windows
    as the search counted in place (the merge of a split search)."""
    from kmodel.cpu.explore import sample_chunk
    from kmodel.scenarios.layer_laps import LapScenario, layer_coverage
    from layer_suite import layer_kernel
    sc = LapScenario()
    with layer_kernel() as k:
        whole = layer_coverage()
        explore(sc.setup, sc.check, strategy="random", runs=6, seed=3, kernel=k,
                coverage=whole)
        worker, merged = layer_coverage(), layer_coverage()
        for part in (range(0, 2), range(2, 6)):
            for rec in sample_chunk(sc.setup, sc.check, "random", 3, 3, None, part, k,
                                    coverage=worker):
                merged.add_run(rec[5])
        assert worker.runs == 0 and not worker.hits     # a worker keeps one run at a time
        sc.close()
    assert merged.runs == whole.runs == 6
    assert merged.hits == whole.hits and merged.first == whole.first
    assert merged.windows == whole.windows and merged.first_window == whole.first_window
    assert len(set(whole.first.values())) > 1           # (points first reached in later runs)
