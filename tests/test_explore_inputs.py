"""What a user hands the explorer: a script's always and final lines, and
replay tokens (untrusted text: bounded work, and a token that does not fit
the scenario is refused)."""
import base64
import io
import time
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings, strategies as st

from kmodel.cli.errors import ExpectationFailed, ScriptError
from kmodel.cli.expect import check_expectation
from kmodel.cli.explore_cmd import ScriptScenario
from kmodel.cli.main import main
from kmodel.cli.shell import Shell
from kmodel.cpu.explore import (DEFAULT_MAX_STEPS, MAX_CHOICE, TOKEN_PREFIX, decode_token,
                                encode_token, explore, token_caps)
from kmodel.cpu.sched import ScheduleError
from kmodel.kernel import boot
from kmodel.scenarios.races import get_race

SETUP = ("insmod ltt_relay_alloc\n"
         "relay open trace subbuf_size=4k n_subbufs=4\n"
         "task 0 relay write trace bytes=100\n"
         "irq 0 relay write trace bytes=64\n")


def run_cli(*argv):
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def explore_script(tmp_path, text, *extra):
    script = tmp_path / "s.kms"
    script.write_text(text)
    return run_cli("explore", str(script), "--strategy", "exhaustive", *extra)


# --- always and final lines ------------------------------------------------------
def test_a_failing_always_line_fails_the_run(tmp_path):
    """`always leaks == 5`, as the docs write an always line, is checked after
    every step: the channel's pages are allocated, so it fails at once."""
    rc, out = explore_script(tmp_path, SETUP + "always leaks == 5\n")
    assert rc == 1, out
    assert "FAILED in run 1 after 1 steps: invariant failed after step 1: " in out
    assert "s.kms:5: always leaks == 5: leaks: " in out and "still allocated" in out
    rc, out = explore_script(tmp_path, SETUP + "always expect dmesg ~ ^ZZZ\n")
    assert rc == 1 and "s.kms:5: always expect dmesg ~ ^ZZZ: dmesg does not match" in out


def test_holding_always_and_final_lines_pass(tmp_path):
    layered = SETUP.replace("n_subbufs=4", "n_subbufs=4 layer=lockless")
    rc, out = explore_script(tmp_path, layered + "always dmesg !~ BUG\n"
                             "always /sys/devices/system/cpu/online ~ ^0\n"
                             "relay flush trace cpu=0\n"
                             "expect /sys/kernel/debug/ltt/trace/counters/cpu0 ~ "
                             "packets_delivered 1\n"
                             "expect leaks != 0\n")
    assert rc == 0, out
    assert "every schedule within the bound ran" in out


def test_a_failing_final_line_fails_the_run(tmp_path):
    rc, out = explore_script(tmp_path, SETUP + "expect dmesg ~ never printed\n")
    assert rc == 1 and "check failed at the end: " in out and "s.kms:5: expect dmesg" in out


@pytest.mark.parametrize("line,why", [
    ("always frob", "expect PATH == VALUE"),
    ("always", "expect PATH == VALUE"),
    ("always leaks == five", "N a number"),
    ("always leaks ~ 0", "N a number"),
    ("always dmesg ~ [", "bad regular expression"),
    ("always expect-fail EBUSY rmmod x", "expect PATH == VALUE"),
    ("expect dmesg", "expect PATH == VALUE"),
    ("expect leaks = 0", "expect PATH == VALUE"),
    ("frobnicate now", "unknown command 'frobnicate'"),
])
def test_a_line_that_cannot_be_checked_is_refused_before_anything_runs(tmp_path, capsys,
                                                                       line, why):
    rc, out = explore_script(tmp_path, SETUP + line + "\n")
    err = capsys.readouterr().err
    assert rc == 2 and out == "", out
    assert err.startswith("kmodel: error: ") and err.count("\n") == 1
    assert "s.kms:5:" in err and why in err


@pytest.mark.parametrize("line", ["always /sys/no/such == 1",
                                  "expect /proc/no_such_file ~ x"])
def test_a_path_that_is_not_there_is_a_usage_error_naming_the_line(tmp_path, capsys, line):
    rc, _ = explore_script(tmp_path, SETUP + line + "\n")
    err = capsys.readouterr().err
    assert rc == 2 and "s.kms:5:" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def sh():
    sh = Shell("numa2")
    yield sh
    sh.close()


WHAT = st.sampled_from(["dmesg", "leaks", "/proc/buddyinfo", "/sys/devices/system/cpu/online"])
WORDS = st.sampled_from(["==", "!=", "~", "!~", "=", "<", "0", "5", "five", "[", "^0", "0-7",
                         "BUG", "expect", "(x)", "leaks", '"x', "'", "\\n"])


def outcome(run):
    """'refused', 'holds', or the message of the expectation that fails."""
    try:
        run()
    except ScriptError:
        return "refused"
    except ExpectationFailed as e:
        return str(e)
    return "holds"


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.just([]), st.tuples(WHAT, st.lists(WORDS, max_size=4))),
       st.sampled_from([" ", "  ", "\t"]))
def test_always_accepts_exactly_what_expect_accepts(sh, words, sep):
    """The same text after `expect` in the shell and after `always` (or as a
    final expect line) in an explore script: refused by both or by neither,
    and when taken, checked the same way (the same value, spaces and quotes
    as written).  What is read exists: a path that is not there is refused
    when it is checked."""
    text = sep.join([words[0], *words[1]] if words else [])
    shell = outcome(lambda: sh.execute("expect " + text))
    for line in ("always " + text, "expect " + text):
        sc = []
        got = outcome(lambda: sc.append(ScriptScenario("task 0 dmesg\n" + line + "\n",
                                                        "s.kms")))
        if sc:
            exp = (sc[0].always + sc[0].final_lines)[0][2]
            got = outcome(lambda: check_expectation(sh, exp))
        assert got == shell, line


# --- replay tokens ----------------------------------------------------------------
@pytest.fixture(scope="module")
def k():
    k = boot("numa2")
    yield k
    k.shutdown()


def test_a_token_longer_than_its_run_is_refused(k):
    setup, check = get_race("lost-update")
    token = explore(setup, check, kernel=k).failure.token
    choices = decode_token(token)
    assert explore(setup, check, replay=token, kernel=k).failure is not None
    with pytest.raises(ScheduleError, match=r"it has 7 steps, the run failed after 6"):
        explore(setup, check, replay=encode_token(choices + [0]), kernel=k)
    setup, check = get_race("lost-update-fixed")
    passing = explore(setup, check, strategy="exhaustive", runs=5, kernel=k)
    assert passing.ok
    with pytest.raises(ScheduleError, match=r"the run ended after 6"):
        explore(setup, check, replay=encode_token([0] * 9), kernel=k)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["lost-update", "local-remote-fixed", "spinlock-irq"]),
       st.lists(st.integers(0, 4), max_size=14))
def test_any_token_replays_exactly_or_is_refused(k, race, choices):
    setup, check = get_race(race)
    try:
        res = explore(setup, check, replay=encode_token(choices), kernel=k)
    except ScheduleError as e:
        assert "does not fit this scenario" in str(e)
        return
    assert res.steps == len(choices) == len(res.trace)


def bomb(inflated):
    """A token whose zlib stream inflates to inflated zero bytes (made in
    chunks, so the test never holds them)."""
    z = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    body = b"".join(z.compress(chunk) for _ in range(inflated >> 20)) + z.flush()
    return TOKEN_PREFIX + base64.urlsafe_b64encode(body).decode().rstrip("=")


def test_a_zlib_bomb_is_refused_after_the_cap_with_bounded_work():
    token = bomb(200 << 20)                 # 200 MiB of zeros
    assert len(token) < token_caps(DEFAULT_MAX_STEPS)[0]
    tracemalloc.start()
    t = time.perf_counter()
    with pytest.raises(ScheduleError, match=r"inflates to more than 300,000 bytes, the most "
                                            r"that max_steps 100,000 choices take"):
        decode_token(token)
    elapsed = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 << 20 and elapsed < 1.0, (peak, elapsed)


def test_the_caps_follow_max_steps_and_are_named():
    chars, raw = token_caps(10)
    assert raw == 30 and chars < 80
    with pytest.raises(ScheduleError, match=r"holds 11 choices, more than max_steps 10"):
        decode_token(encode_token([0] * 11), max_choices=10)
    assert decode_token(encode_token([1] * 10), max_choices=10) == [1] * 10
    with pytest.raises(ScheduleError, match=rf"too long: .* more than the {chars:,}"):
        decode_token(TOKEN_PREFIX + "A" * chars, max_choices=10)
    with pytest.raises(ScheduleError, match="inflates to more than 30 bytes"):
        decode_token(encode_token([0] * 31), max_choices=10)


def test_a_choice_too_large_or_bytes_after_the_stream_are_corrupt():
    big = TOKEN_PREFIX + base64.urlsafe_b64encode(
        zlib.compress(b"\x80\x80\x80\x01")).decode().rstrip("=")
    with pytest.raises(ScheduleError, match=f"a choice index above {MAX_CHOICE:,}"):
        decode_token(big)
    trailing = TOKEN_PREFIX + base64.urlsafe_b64encode(
        zlib.compress(b"\x01\x02") + b"junk").decode().rstrip("=")
    with pytest.raises(ScheduleError, match="bytes after its end"):
        decode_token(trailing)
    cut = TOKEN_PREFIX + base64.urlsafe_b64encode(
        zlib.compress(bytes(range(100)))[:-6]).decode().rstrip("=")
    with pytest.raises(ScheduleError, match="corrupt"):
        decode_token(cut)
    with pytest.raises(ValueError):
        encode_token([MAX_CHOICE + 1])
    assert decode_token(encode_token([MAX_CHOICE, 0])) == [MAX_CHOICE, 0]


def test_cli_refuses_a_bomb_and_a_long_token_in_one_line(capsys):
    for token in (bomb(8 << 20), TOKEN_PREFIX + "A" * 500_000):
        rc, _ = run_cli("explore", "builtin:lost-update", "--replay", token)
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith("kmodel: error: replay token ")
        assert err.count("\n") == 1
