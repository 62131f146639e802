"""The scheduler and the interleaving explorer (kmodel.cpu.sched, kmodel.cpu.explore)."""
import io
from itertools import combinations
from math import comb

import pytest
from hypothesis import given, settings, strategies as st

from kmodel.core.step import Op
from kmodel.cli.main import main
from kmodel.core.spinlock import spin_lock, spin_unlock, spinlock_t
from kmodel.cpu.explore import decode_token, encode_token, explore
from kmodel.cpu.sched import ScheduleError
from kmodel.kernel import boot
from kmodel.scenarios.races import RACES, get_race


@pytest.fixture(scope="module")
def k():
    k = boot("numa2")
    yield k
    k.shutdown()


def kernel_for(race, k):
    """The shared kernel, or, for a race that needs a kernel of its own for each
    run (vmalloc-nmi: an address space keeps a slot once it faulted it in), a
    function that boots one of its machine."""
    r = RACES[race.removesuffix("-fixed")]
    return (lambda: boot(r.machine)) if r.fresh_kernel else k


# Runs within which each strategy finds each bug at seed 0 (the teeth).
FOUND_WITHIN = {"random": 10, "pct": 30}


@pytest.mark.parametrize("race", list(RACES))
@pytest.mark.parametrize("strategy", ["random", "pct"])
def test_random_and_pct_find_each_bug(k, race, strategy):
    setup, check = get_race(race)
    res = explore(setup, check, strategy=strategy, runs=FOUND_WITHIN[strategy],
                  seed=0, kernel=kernel_for(race, k))
    assert res.failure is not None, f"{strategy} missed {race} in {res.runs} runs"


@pytest.mark.parametrize("race", list(RACES))
def test_exhaustive_bound_2_finds_each_bug_and_passes_each_fix(k, race):
    setup, check = get_race(race)
    res = explore(setup, check, strategy="exhaustive", runs=10**6, bound=2,
                  kernel=kernel_for(race, k))
    assert res.failure is not None
    setup, check = get_race(race + "-fixed")
    res = explore(setup, check, strategy="exhaustive", runs=10**6, bound=2,
                  kernel=kernel_for(race, k))
    assert res.ok and res.complete, res.failure and res.failure.message
    assert res.distinct == res.runs > 1


def test_spinlock_irq_is_reported_as_a_deadlock_with_both_stacks(k):
    setup, check = get_race("spinlock-irq")
    f = explore(setup, check, strategy="exhaustive", runs=1000, kernel=k).failure
    assert "BUG: spinlock cpu recursion on CPU#0" in f.message
    dmesg = "\n".join(f.dmesg)
    assert "waiter hardirq irq_writer on CPU#0" in dmesg
    assert "holder task writer, below it on the same CPU" in dmesg
    assert "spin_lock" in dmesg and "locked_inc" in dmesg
    assert any(s.startswith("cpu0: task writer > hardirq irq_writer") for s in f.stacks)


def test_replay_is_exact(k):
    """The same token gives the same steps, the same failure and the same
    modeled cost, run after run."""
    for race in RACES:
        setup, check = get_race(race)
        kk = kernel_for(race, k)
        f = explore(setup, check, strategy="random", runs=50, seed=3, kernel=kk).failure
        again = [explore(setup, check, replay=f.token, kernel=kk) for _ in range(2)]
        for r in again:
            assert r.trace == f.trace and r.failure.message == f.message
            assert r.cost == f.cost
        assert f.cost["cycles"] or race == "lost-update"


def test_replay_of_a_passing_schedule_and_cost_depends_on_schedule(k):
    setup, check = get_race("local-remote-fixed")
    res = explore(setup, check, strategy="exhaustive", runs=1000, kernel=k)
    assert res.ok
    costs = set()
    for seed in range(8):
        r = explore(setup, check, strategy="random", runs=1, seed=seed, kernel=k)
        costs.add(r.cost["cycles"])
    assert len(costs) > 1       # interleavings move lines between nodes differently


def test_abba_lockup_across_cpus(k):
    def ab(first, second):
        yield from spin_lock(first)
        yield from spin_lock(second)
        yield from spin_unlock(second)
        yield from spin_unlock(first)

    def setup(world):
        a, b = spinlock_t(world.k, "A"), spinlock_t(world.k, "B")
        world.task(0, ab, a, b, name="ab")
        world.task(4, ab, b, a, name="ba")

    res = explore(setup, strategy="exhaustive", runs=1000, kernel=k)
    assert "spinlock lockup suspected: 2 context(s) spin" in res.failure.message
    assert res.failure.trace[-1].split()[-1] in ("spin_lock(A)", "spin_lock(B)")


def test_world_refuses_bad_entities(k):
    def nop():
        yield (Op.STEP, None)
    bad = [lambda w: w.task(99, nop), lambda w: w.irq(0, nop, kind="fiq"),
           lambda w: (w.task(0, nop), w.task(0, nop))]
    for setup in bad:
        with pytest.raises(ScheduleError):
            explore(setup, runs=1, kernel=k)
    # the kernel is still usable: every CPU back to its idle task
    assert all(len(ex.stack) == 1 and not ex.irqs_off for ex in k.cpu_exec.values())


@pytest.mark.parametrize("kw,msg", [({"strategy": "dfs"}, "unknown strategy"),
                                    ({"bound": -1}, "--bound"), ({"runs": 0}, "--runs"),
                                    ({"replay": "kx2-zzzz"}, "corrupt"),
                                    ({"replay": "kx1-eNpjYGBkYGAAAAAKAAI"},
                                     "made by an older kmodel, before hardirqs nested"),
                                    ({"replay": "hello"}, "does not start")])
def test_bad_arguments(k, kw, msg):
    setup, check = get_race("lost-update")
    with pytest.raises(ScheduleError, match=msg):
        explore(setup, check, kernel=k, **kw)


# --- against simple models ----------------------------------------------------------
def steps_task(n):
    for _ in range(n):
        yield (Op.STEP, None)


def model_schedules(a, b, bound):
    """How many orders of a steps of A and b steps of B have at most bound
    preemptions: switching to the other while the one that ran could go on."""
    count = 0
    for pos in combinations(range(a + b), a):
        order = ["B"] * (a + b)
        for p in pos:
            order[p] = "A"
        left = {"A": a, "B": b}
        pre = 0
        for i, who in enumerate(order):
            if i and who != order[i - 1] and left[order[i - 1]] > 0:
                pre += 1
            left[who] -= 1
        count += pre <= bound
    return count


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 4), st.integers(0, 4), st.integers(0, 3))
def test_exhaustive_enumerates_the_model_schedules(a, b, bound):
    """Two tasks of a and b operations (a+1 and b+1 steps with their start):
    unbounded, exactly C(a+b+2, a+1) schedules, each once; bounded, as many as
    the model counts."""
    k = _K[0]

    def setup(world):
        world.task(0, steps_task, a)
        world.task(1, steps_task, b)
    res = explore(setup, strategy="exhaustive", runs=10**6, bound=99, kernel=k)
    assert res.complete and res.runs == res.distinct == comb(a + b + 2, a + 1)
    res = explore(setup, strategy="exhaustive", runs=10**6, bound=bound, kernel=k)
    assert res.complete and res.runs == res.distinct == model_schedules(a + 1, b + 1, bound)


_K = []


def setup_module():
    _K.append(boot("numa2"))


def teardown_module():
    _K.pop().shutdown()


@given(st.lists(st.integers(0, 100_000), max_size=300))
def test_token_round_trip(choices):
    assert decode_token(encode_token(choices)) == choices


@given(st.lists(st.integers(0, 9), min_size=1, max_size=50), st.data())
def test_damaged_token_is_refused(choices, data):
    token = encode_token(choices)
    i = data.draw(st.integers(len("kx2-"), len(token) - 1))
    c = data.draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"))
    damaged = token[:i] + c + token[i + 1:]
    if damaged == token:
        return
    try:
        got = decode_token(damaged)
    except ScheduleError:
        return
    # base64's last character can carry bits the decoder drops: same bytes
    assert got == choices


# --- the command ---------------------------------------------------------------------
def run_cli(*argv):
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_cli_exit_codes_and_replay():
    rc, out = run_cli("explore", "builtin:lost-update")
    assert rc == 1 and "FAILED in run 1" in out and "an update was lost" in out
    token = out.split("--replay ")[1].split()[0]
    steps = out.split("steps:\n")[1].split("modeled cost")[0]
    rc2, out2 = run_cli("explore", "builtin:lost-update", "--replay", token)
    assert rc2 == 1 and steps in out2
    rc, out = run_cli("explore", "builtin:lost-update-fixed", "--strategy", "exhaustive")
    assert rc == 0 and "every schedule within the bound ran" in out
    rc, out = run_cli("explore", "--list")
    assert rc == 0 and "builtin:spinlock-irq" in out


def test_cli_script(tmp_path, capsys):
    script = tmp_path / "s.kms"
    script.write_text("insmod ltt_relay_alloc\n"
                      "relay open trace subbuf_size=4k n_subbufs=4\n"
                      "task 0 relay write trace bytes=100\n"
                      "task 0 relay write trace bytes=100\n"
                      "irq 0 relay write trace bytes=64\n"
                      "always expect /sys/devices/system/cpu/online ~ ^0\n"
                      "expect dmesg !~ WARNING\n")
    rc, out = run_cli("explore", str(script), "--strategy", "exhaustive")
    assert rc == 0 and "every schedule within the bound ran" in out
    # the irq arrives before the task starts, before either write or after both;
    # once there it runs to its end, since the task below cannot run
    assert "no failure in 4 runs" in out
    script.write_text("task 0 echo 0 > /sys/devices/system/cpu/cpu1/online\n"
                      "irq 1 dmesg\n"
                      "expect /sys/devices/system/cpu/cpu1/online == 1\n")
    rc, out = run_cli("explore", str(script), "--strategy", "exhaustive")
    assert rc == 1 and "online == 1" in out
    for bad in ("irq 9 dmesg\n", "task 0 frob\n", "expect x == y\n", "task zero dmesg\n"):
        script.write_text(bad)
        rc, _ = run_cli("explore", str(script))
        assert rc == 2, bad
        assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["builtin:lost-update", "--strategy", "dfs"],
    ["builtin:lost-update", "--strategy", "exhaustive", "--bound", "-1"],
    ["builtin:lost-update", "--replay", "kx2-notatoken"],
    ["builtin:lost-update", "--stacks"],
    ["builtin:no-such-race"],
    ["builtin:lost-update", "--runs", "0"],
    ["builtin:lost-update", "--seed", "-1"],
    ["builtin:lost-update", "--runs", "10000000", "--max-steps", "1000000"],
])
def test_cli_bad_usage_is_one_line_and_exit_2(argv, capsys):
    try:
        rc, _ = run_cli("explore", *argv)
    except SystemExit as e:             # a range or a choice, refused as the line is read
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("kmodel: error: ") and err.count("\n") == 1


def test_replay_with_stacks_shows_the_nesting():
    rc, out = run_cli("explore", "builtin:lost-update")
    token = out.split("--replay ")[1].split()[0]
    rc, out = run_cli("explore", "builtin:lost-update", "--replay", token, "--stacks")
    assert "cpu0: task counter++ > hardirq timer_interrupt  [irqs off" in out
    assert out.count("cpu0: task counter++\n") >= 2      # before and after the irq
