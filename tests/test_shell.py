"""The shell and the script runner: exit codes, errors, expectations."""
import io
import subprocess
import sys

import pytest

from kmodel.cli.relay_state import relay_state
from kmodel.cli.run import run_text
from kmodel.cli.errors import CommandFailed, ExpectationFailed, ScriptError
from kmodel.cli.shell import Shell


@pytest.fixture
def sh():
    s = Shell("numa2")
    yield s
    s.close()


def run(text, **kw):
    out = io.StringIO()
    rc = run_text(text, out, **kw)
    return rc, out.getvalue()


def test_transcript_shape_and_success():
    rc, out = run("# hello\ncat /sys/devices/system/cpu/online\n\nexpect dmesg ~ Brought up 8 CPUs\n")
    assert rc == 0
    assert out == "# hello\n$ cat /sys/devices/system/cpu/online\n0-7\n\n" \
                  "$ expect dmesg ~ Brought up 8 CPUs\n"


def test_failed_expectation_exits_1_naming_line_and_seen():
    rc, out = run("echo 0 > /sys/devices/system/cpu/cpu3/online\n"
                  "expect /sys/devices/system/cpu/online == 0-7\ncat /proc/meminfo\n",
                  name="t.kms")
    assert rc == 1
    assert "t.kms:2: FAILED: expect /sys/devices/system/cpu/online == 0-7" in out
    assert "is '0-2,4-7', expected == '0-7'" in out
    assert "MemTotal" not in out                       # stopped there


@pytest.mark.parametrize("line, words", [
    ("frobnicate", "unknown command 'frobnicate'"),
    ("cat /proc/nope", "cat: /proc/nope: No such file or directory"),
    ("relay open x subbuf_size=4k", "missing n_subbufs="),
    ("relay open x subbuf_size=lots n_subbufs=2", "subbuf_size: not a size"),
    ("relay write nope cpu=0 data=x", "no channel 'nope'"),
    ("storm cpus=0-99 steps=3", "not possible"),
    ("expect-fail EWHAT echo 1", "unknown errno name"),
    ("insmod nosuch", "no module 'nosuch'"),
])
def test_script_errors_exit_2_with_line_number(line, words):
    rc, out = run(f"insmod ltt_relay_alloc\n{line}\n", name="s.kms")
    assert rc == 2
    assert "s.kms:2: error:" in out and words in out


def test_header_options_and_override():
    rc, out = run("#!kmodel --machine uma\ncat /sys/devices/system/cpu/online\n")
    assert rc == 0 and "0-3\n" in out
    rc, out = run("#!kmodel --machine uma\ncat /sys/devices/system/cpu/online\n",
                  machine="numa2")
    assert "0-7\n" in out
    rc, out = run("#!kmodel --config CONFIG_LTT_RELAY_CHECK_RANDOM_ACCESS=y\n"
                  "insmod ltt_relay_alloc\nrelay open t subbuf_size=4k n_subbufs=8\n"
                  "relay write t cpu=0 data=x offset=12k\n"
                  "expect dmesg ~ Forward random access detected\n")
    assert rc == 0, out


def test_expect_fail_checks_the_errno(sh):
    assert "Device or resource busy" in sh.execute(
        "expect-fail EBUSY echo 0 > /sys/devices/system/cpu/cpu0/online")
    with pytest.raises(ExpectationFailed, match="expected EINVAL, got EBUSY"):
        sh.execute("expect-fail EINVAL echo 0 > /sys/devices/system/cpu/cpu0/online")
    with pytest.raises(ExpectationFailed, match="succeeded"):
        sh.execute("expect-fail EBUSY echo 0 > /sys/devices/system/cpu/cpu1/online")


def test_refused_commands_print_and_go_on(sh):
    with pytest.raises(CommandFailed) as e:
        sh.execute("echo 2 > /sys/devices/system/cpu/cpu1/online")
    assert str(e.value) == "sh: echo: write error: Invalid argument"
    rc, out = run("echo 2 > /sys/devices/system/cpu/cpu1/online\ncat /sys/devices/system/cpu/online\n")
    assert rc == 0 and "write error: Invalid argument\n$ cat" in out


def test_expect_regex_keeps_backslashes(sh):
    sh.execute("insmod cpu-notifier-error-inject")
    sh.execute("echo -16 > /sys/kernel/debug/notifier-error-inject/cpu/actions/"
               "CPU_DOWN_PREPARE/error")
    with pytest.raises(CommandFailed):
        sh.execute("echo 0 > /sys/devices/system/cpu/cpu3/online")
    sh.execute(r"expect dmesg ~ Injecting error \(-16\) to CPU_DOWN_PREPARE$")


def test_dmesg_c_clears(sh):
    assert "Brought up" in sh.execute("dmesg -c")
    assert sh.execute("dmesg") == ""


def test_relay_write_cursor_pads_to_next_subbuffer(sh):
    sh.execute("insmod ltt_relay_alloc")
    sh.execute("relay open t subbuf_size=4k n_subbufs=2")
    assert sh.execute("relay write t cpu=1 bytes=3000") == \
        "cpu 1: wrote 3000 bytes at offset 0..2999\n"
    # 1096 bytes left in sub-buffer 0: a 2000-byte event starts sub-buffer 1
    assert sh.execute("relay write t cpu=1 bytes=2000") == \
        "cpu 1: wrote 2000 bytes at offset 4096..6095\n"
    with pytest.raises(ScriptError, match="do not fit in a sub-buffer"):
        sh.execute("relay write t cpu=1 bytes=5000")


def test_storm_reports_a_broken_invariant(sh):
    sh.execute("insmod ltt_relay_alloc")
    sh.execute("relay open t subbuf_size=4k n_subbufs=2")
    chan = relay_state(sh).channels["t"]
    sh.k.hotplug.unregister_cpu_notifier(sh.k.modules.get("ltt_relay_alloc").nb)
    sh.execute("echo 0 > /sys/devices/system/cpu/cpu3/online")
    chan.buf[3] = None                  # a bug: CPU 3 will come up with no buffer
    with pytest.raises(ExpectationFailed, match="online CPUs \\[3\\] have no buffer"):
        sh.execute("storm cpus=3 steps=5 seed=1")


def test_storm_is_deterministic_under_its_seed():
    def once():
        s = Shell("numa2")
        try:
            return s.execute("storm cpus=1-9 steps=300 seed=5 suspend=0.05")
        finally:
            s.close()
    a = once()
    assert a == once() and "invariants held" in a


def test_memhog_and_leaks(sh):
    assert "holding 256 pages of node 1" in sh.execute("memhog node=1 size=1m")
    assert "cmd_memhog: 256 pages" in sh.execute("leaks")
    sh.execute("memhog free")
    assert sh.execute("leaks") == "no leaks\n"


def test_cli_run_exit_codes_and_no_traceback(tmp_path):
    ok = tmp_path / "ok.kms"
    ok.write_text("expect /sys/devices/system/node/online == 0-1\n")
    bad = tmp_path / "bad.kms"
    bad.write_text("bogus command\n")
    for path, code in ((ok, 0), (bad, 2), (tmp_path / "missing.kms", 2)):
        r = subprocess.run([sys.executable, "-m", "kmodel", "run", str(path)],
                           capture_output=True, text=True)
        assert r.returncode == code, r.stderr
        assert "Traceback" not in r.stderr + r.stdout
    r = subprocess.run([sys.executable, "-m", "kmodel", "run", "builtin:nope"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no built-in scenario 'nope'" in r.stderr


def test_interactive_shell_reads_stdin():
    r = subprocess.run([sys.executable, "-m", "kmodel", "shell", "--machine", "uma"],
                       input="cat /sys/devices/system/cpu/online\nfrob\necho after\nexit\n",
                       capture_output=True, text=True)
    assert r.returncode == 2                    # a script error, as kmodel run says
    assert "0-3\n" in r.stdout and "unknown command 'frob'" in r.stdout
    assert "after\n" in r.stdout                # the shell went on


def test_scenarios_command_lists_titles():
    r = subprocess.run([sys.executable, "-m", "kmodel", "scenarios"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and "storm" in r.stdout and "Erratum E4" in r.stdout


def test_tab_completion_of_commands_and_paths(sh):
    assert sh.completions("rel", "rel") == ["relay"]
    assert sh.completions("cat /sys/devices/system/cpu/cpu1", "/sys/devices/system/cpu/cpu1") == \
        ["/sys/devices/system/cpu/cpu1/"]
    assert sh.completions("cat /sys/devices/system/cpu/cpu1/", "/sys/devices/system/cpu/cpu1/") == \
        ["/sys/devices/system/cpu/cpu1/node", "/sys/devices/system/cpu/cpu1/online"]
    assert sh.completions("echo 1 > /proc/bu", "/proc/bu") == ["/proc/buddyinfo"]


def test_taskset_chooses_the_opener_cpu(sh):
    sh.execute("insmod ltt_relay_alloc")
    sh.execute("taskset -c 5 relay open far subbuf_size=4k n_subbufs=2 placement=opener")
    sh.execute("relay open near subbuf_size=4k n_subbufs=2 placement=opener")
    assert {d.nid for d in relay_state(sh).channels["far"].buf[1].descs} == {1}     # opened on node 1
    assert {d.nid for d in relay_state(sh).channels["near"].buf[1].descs} == {0}
    assert sh.k.current.cpu == 0
    sh.execute("echo 0 > /sys/devices/system/cpu/cpu3/online")
    with pytest.raises(CommandFailed, match="CPU 3 is not online"):
        sh.execute("taskset -c 3 cat /proc/meminfo")
    with pytest.raises(ScriptError, match="taskset -c CPU"):
        sh.execute("taskset 3 cat /proc/meminfo")


def test_a_command_defined_in_a_test_is_a_shell_command_with_state_dropped_at_reboot():
    """The command table is collected (kmodel.cli.command.register), and a
    command's state (a ShellState) is made on first use and dropped with the
    kernel."""
    from dataclasses import dataclass

    from kmodel.cli.command import Command, ShellState, register, unregister

    @dataclass
    class Count(ShellState):
        n: int = 0

    def tally(sh, args):
        st = sh.state(Count)
        st.n += 1
        return f"{st.n}\n"
    register(Command("tally", tally, (("tally", "count the calls since boot"),)), group=99)
    try:
        sh = Shell()
        try:
            assert "count the calls since boot" in sh.execute("help")
            assert sh.completions("tal", "tal") == ["tally"]
            assert sh.execute("tally") == "1\n" and sh.execute("tally") == "2\n"
            sh.execute("reboot")
            assert sh.execute("tally") == "1\n"          # a new kernel, a new count
        finally:
            sh.close()
    finally:
        unregister("tally")
