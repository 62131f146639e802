"""Regressions from the hostile new-user trial (issue: hardening): each input
here once ended in a traceback, a wrong exit status, or a runaway."""
import io
import re
import subprocess
import sys

import pytest

from kmodel.cli.shell_memhog import MemhogState
from kmodel.cli.main import main
from kmodel.cli.shell import Shell


def run(*argv):
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_a_binary_script_is_refused_in_one_line(tmp_path, capsys):
    bad = tmp_path / "b.kms"
    bad.write_bytes(bytes(range(256)) * 2)
    assert run("run", str(bad))[0] == 2
    err = capsys.readouterr().err
    assert "not a text script" in err and err.count("\n") == 1
    nul = tmp_path / "n.kms"
    nul.write_text("cat /proc/meminfo\0\n")
    assert run("run", str(nul))[0] == 2


def test_a_utf8_bom_is_not_part_of_the_first_command(tmp_path):
    s = tmp_path / "bom.kms"
    s.write_bytes("\ufeffcat /sys/devices/system/cpu/online\n".encode())
    rc, out = run("run", str(s))
    assert rc == 0 and "0-7" in out


@pytest.mark.parametrize("setting", ["CONFIG_LOG_BUF_SHIFT=-5", "CONFIG_LOG_BUF_SHIFT=40",
                                     "CONFIG_FORCE_MAX_ZONEORDER=1"])
def test_int_options_keep_their_ranges(setting, capsys):
    assert run("cat", "/proc/meminfo", "--config", setting)[0] == 2
    assert "must be" in capsys.readouterr().err


def test_bench_checks_its_output_paths_before_running(capsys):
    rc, out = run("bench", "--quick", "--json", "/nonexistent/x.json")
    assert rc == 2 and out == ""                # nothing ran
    assert "/nonexistent: No such file or directory" in capsys.readouterr().err


def test_a_header_on_line_two_is_an_error(tmp_path):
    s = tmp_path / "h.kms"
    s.write_text("cat /proc/meminfo\n#!kmodel --machine uma\n")
    rc, out = run("run", str(s))
    assert rc == 2 and "must be the first line" in out


def test_exit_ends_a_script(tmp_path):
    s = tmp_path / "e.kms"
    s.write_text("echo one\nexit\necho two\n")
    rc, out = run("run", str(s))
    assert rc == 0 and "one" in out and "two" not in out


def test_piped_shell_exits_like_run():
    def shell(text):
        return subprocess.run([sys.executable, "-m", "kmodel", "shell"], input=text,
                               capture_output=True, text=True).returncode
    assert shell("echo fine\n") == 0
    assert shell("expect /sys/devices/system/cpu/online == 9\necho on\n") == 1
    assert shell("frob\n") == 2


def test_huge_cpu_ranges_are_refused_before_they_are_expanded(relay_sh):
    sh = relay_sh
    sh.execute("relay open t subbuf_size=4k n_subbufs=2")
    for line in ("storm cpus=0-100000000 steps=3", "relay show t cpu=0-100000000",
                 "storm cpus=0-3 steps=100000000"):
        with pytest.raises(Exception) as e:
            sh.execute(line)
        assert len(str(e.value)) < 200 and ("4095" in str(e.value) or
                                            "1000000" in str(e.value))


def test_storm_stops_between_steps_when_interrupted():
    sh = Shell()
    try:
        real = sh.k.cpu_down
        calls = []

        def down(cpu):
            calls.append(cpu)
            if len(calls) == 3:
                sh.interrupted = True       # Ctrl-C arrives during the third step
            return real(cpu)
        sh.k.cpu_down = down
        out = sh.execute("storm cpus=1-7 steps=50 seed=1")
        assert "(interrupted)" in out and "invariants held" in out
        assert int(out.split("storm: ")[1].split()[0]) < 50
    finally:
        sh.close()


def test_the_relay_library_contract(k):
    from kmodel.core.bug import Oops
    from kmodel.relay.relay_alloc import ltt_relay_close, ltt_relay_read, ltt_relay_write
    from relay_helpers import RelayEnv
    env = RelayEnv(k)
    chan = env.open(4096, 2, backend="vmap")
    buf = chan.buf[0]
    assert ltt_relay_write(buf, 0, b"abcdef", 3) == 3           # the first 3, as memcpy
    out = bytearray(3)
    ltt_relay_read(buf, 0, out, 3)
    assert out == b"abc"
    with pytest.raises(Oops, match="source of 1 bytes for 5"):
        ltt_relay_write(buf, 0, b"x", 5)
    short = bytearray(2)
    with pytest.raises(Oops, match="destination of 2 bytes for 10"):
        ltt_relay_read(buf, 0, short, 10)
    assert len(short) == 2                                      # not grown
    chan2, err = env.open_err(4096, 2)
    assert chan2 is None and err == -17                         # EEXIST, files untouched
    assert "exist already" in k.log.text()
    ltt_relay_close(chan)
    for f in (lambda: ltt_relay_write(buf, 0, b"x", 1),
              lambda: ltt_relay_read(buf, 0, bytearray(1), 1)):
        with pytest.raises(Oops, match="freed rchan_buf"):
            f()


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../../x"])
def test_channel_names_that_are_not_names(name):
    from kmodel.cli.errors import CommandFailed
    sh = Shell()
    try:
        sh.execute("insmod ltt_relay_alloc")
        before = sh.k.fs.listdir("/sys/kernel/debug")
        with pytest.raises(CommandFailed):
            sh.execute(f"relay open '{name}' subbuf_size=4k n_subbufs=2")
        assert sh.k.fs.listdir("/sys/kernel/debug") == before
        assert sh.k.fs.lookup("/sys/kernel/debug/ltt") is None or \
            sh.k.fs.listdir("/sys/kernel/debug/ltt") == []
    finally:
        sh.close()


def test_the_library_api_cleans_up():
    import os
    import kmodel
    with kmodel.boot() as k:
        fds = len(os.listdir("/proc/self/fd"))
        assert k.num_online_cpus() == 8
    k.shutdown()                                        # again: a no-op
    for _ in range(120):
        kmodel.boot()                                   # dropped without shutdown
    assert len(os.listdir("/proc/self/fd")) <= fds + 40


def test_open_channel_raises_with_the_kernels_reason():
    import kmodel
    with kmodel.boot() as k:
        with pytest.raises(kmodel.RelayError, match="not loaded"):
            kmodel.open_channel(k, "t", 4096, 4)
        k.modules.insmod("ltt_relay_alloc")
        with pytest.raises(kmodel.RelayError) as e:
            kmodel.open_channel(k, "t", 4096, 1, layer="lockless", mode="overwrite")
        assert e.value.errno == 22 and "at least 2 sub-buffers" in e.value.reason


def test_machine_files_work_wherever_presets_do(tmp_path, capsys):
    m = tmp_path / "mine.toml"
    m.write_text('name = "mine"\ndescription = "x"\n[[nodes]]\nmemory = "16M"\n'
                 'cpus = "0-1"\n')
    assert run("machine", "show", str(m))[0] == 0
    rc, out = run("cat", "/sys/devices/system/cpu/online", "--machine", str(m))
    assert rc == 0 and out == "0-1\n"
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe\x00binary")
    assert run("cat", "/proc/meminfo", "--machine", str(bad))[0] == 2
    assert "not a TOML text file" in capsys.readouterr().err


def test_relay_write_and_show_say_what_happened(relay_sh):
    from kmodel.cli.errors import ScriptError
    sh = relay_sh
    sh.execute("relay open t subbuf_size=4k n_subbufs=4")
    assert sh.execute("relay write t cpu=0 bytes=4096 count=5") == \
        "cpu 0: wrote 4096 bytes x 5, the first at 0..4095, the last at 0..4095\n"
    assert sh.execute("relay write t cpu=0 bytes=1") == \
        "cpu 0: wrote 1 byte at offset 4096..4096\n"
    assert "the last at 1900..1999" in sh.execute(
        "relay write t cpu=0 offset=16k bytes=100 count=20")        # masked
    for bad, words in (("relay write t cpu=0 data=", "data= is empty"),
                       ("relay show t cpu=9", "no buffer in t for cpu 9"),
                       ("relay show t cpu=100", "no buffer in t for cpu 100"),
                       ("expect leaks == zero", "N a number")):
        with pytest.raises(ScriptError, match=words):
            sh.execute(bad)
    assert sh.execute("echo 0 >> /sys/devices/system/cpu/cpu3/online") == ""
    assert sh.execute("cat /sys/devices/system/cpu/cpu3/online") == "0\n"


@pytest.mark.parametrize("config, absent, missing_module", [
    (["CONFIG_LTT_RELAY=n"], None, "ltt_relay_alloc"),
    (["CONFIG_CPU_NOTIFIER_ERROR_INJECT=n"], None, "cpu_notifier_error_inject"),
    (["CONFIG_PM_SLEEP=n"], "/sys/power/state", None),
    (["CONFIG_PM_SLEEP=n", "CONFIG_HOTPLUG_CPU=n"], "/sys/devices/system/cpu/cpu3/online",
     None),
    (["CONFIG_FAULT_INJECTION=n"], "/sys/kernel/debug/fail_page_alloc", None),
    (["CONFIG_FAIL_PAGE_ALLOC=n"], "/sys/kernel/debug/fail_page_alloc", None),
    (["CONFIG_FAILSLAB=n"], "/sys/kernel/debug/failslab", None),
])
def test_kconfig_options_do_what_they_say(config, absent, missing_module):
    import kmodel
    with kmodel.boot(config=config) as k:
        if absent:
            assert k.fs.lookup(absent) is None
        if missing_module:
            assert missing_module not in k.modules.available()
            assert k.modules.insmod(missing_module) == -2          # ENOENT
        if "CONFIG_HOTPLUG_CPU=n" in config:
            assert k.cpu_down(3) == -1 and k.cpu_online(3)         # EPERM


@pytest.mark.parametrize("config, words", [
    (["CONFIG_DEBUG_VM=n"], "is not supported"),
    (["CONFIG_HOTPLUG_CPU=n"], "needs CONFIG_HOTPLUG_CPU=y"),
])
def test_kconfig_settings_kmodel_does_not_build_are_refused(config, words, capsys):
    assert run("cat", "/proc/meminfo", *[a for c in config for a in ("--config", c)])[0] == 2
    assert words in capsys.readouterr().err


def test_numa_off_needs_one_node(capsys):
    assert run("cat", "/proc/meminfo", "--config", "CONFIG_NUMA=n")[0] == 2
    assert "has 2 nodes" in capsys.readouterr().err
    rc, out = run("cat", "/sys/devices/system/node/online", "--config", "CONFIG_NUMA=n",
                  "--machine", "uma")
    assert rc == 0 and out == "0\n"


def test_file_names_and_orders_as_the_c_computes_them(k):
    from kmodel.relay.relay_alloc import ltt_relay_open_err
    from relay_helpers import RelayEnv
    env = RelayEnv(k)
    chan, err = ltt_relay_open_err(k, "a" * 254, env.parent, 4096, 2, env.client.callbacks())
    assert chan is None and err < 0 and k.leaks() == {}     # every CPU: the same name
    chan, err = ltt_relay_open_err(k, "b" * 253, env.parent, 4096, 2, env.client.callbacks())
    assert chan is not None and f"{'b' * 253}7" in env.parent.children
    assert chan.subbuf_size_order == 12
    from kmodel.relay.relay_alloc import ltt_relay_close
    ltt_relay_close(chan)


def test_get_count_order_rounds_up():
    import kmodel
    from relay_helpers import RelayEnv
    from kmodel.relay.relay_alloc import ltt_relay_open_err
    with kmodel.boot(config=["CONFIG_LTT_RELAY_ERRATA=y"]) as k:
        env = RelayEnv(k)
        chan, _ = ltt_relay_open_err(k, "o", env.parent, 3000, 4, env.client.callbacks())
        assert chan.subbuf_size_order == 12                 # 3000 -> 4096, as the C


def test_builtin_scenarios_refuse_another_machine(capsys):
    """Every built-in scenario is written for its header's machine; on another
    one it is a usage error naming that machine, not a failure halfway through."""
    from kmodel.cli.run import parse_header, scenario_names, scenario_text
    for name in scenario_names():
        want = parse_header(scenario_text(name).splitlines()[0])["machine"]
        other = "uma" if want != "uma" else "numa2"
        assert run("run", f"builtin:{name}", "--machine", other)[0] == 2, name
        err = capsys.readouterr().err
        assert f"written for machine {want}" in err and err.count("\n") == 1
    assert run("explore", "builtin:irq-nesting", "--machine", "uma", "--runs", "1")[0] == 2
    assert run("run", "builtin:irq-nesting", "--machine", "numa2")[0] == 0
    rc, out = run("scenarios", "storm")
    assert rc == 0 and out == scenario_text("storm")


def test_memhog_takes_big_blocks_and_the_same_pages():
    """64 GiB of a node is thousands of blocks, not millions of pages: this
    test would take over a minute and gigabytes page by page.  The pages held
    and left free are what page-by-page allocation gives."""
    from kmodel.cli.machine_cmd import node_meminfo
    sh = Shell("big-16n", [], 0)
    try:
        free = node_meminfo(sh.k, 0)["MemFree"] >> 2
        assert f"holding {free} pages of node 0; 0 pages left free" in \
            sh.execute("memhog node=0 size=64g")
        assert len(sh.state(MemhogState).hogged) < 20000
        assert sh.execute("memhog free") == f"memhog: released {free} pages\n"
        assert node_meminfo(sh.k, 0)["MemFree"] >> 2 == free
        odd = sh.execute("memhog node=1 size=12345k")          # 3086 pages, and a quarter
        assert "holding 3086 pages of node 1" in odd
        top = sh.k.MAX_ORDER - 1                                # greedy, largest first
        assert [o for _, o in sh.state(MemhogState).hogged] == [top] * (3086 >> top) + sorted(
            (i for i in range(top) if 3086 >> i & 1), reverse=True)
    finally:
        sh.close()


def test_write_sizes_are_checked_before_the_payload_is_built(relay_sh, monkeypatch):
    from kmodel.cli import relay_args
    from kmodel.cli.errors import ScriptError
    built = []
    monkeypatch.setattr(relay_args, "payload", lambda n: built.append(n) or bytes(n))
    sh = relay_sh
    sh.execute("relay open t subbuf_size=4k n_subbufs=2")
    sh.execute("relay open l subbuf_size=4k n_subbufs=2 layer=locked")
    for line, words in (("relay write t cpu=0 bytes=200m", "fit in a sub-buffer (4096)"),
                        ("relay write t cpu=0 bytes=20k offset=0", "the whole buffer (8192)"),
                        ("relay write l cpu=0 bytes=200m", "the whole buffer (8192)")):
        with pytest.raises(ScriptError, match=re.escape(words)):
            sh.execute(line)
    assert built == []
    sh.execute("relay write t cpu=0 bytes=8k offset=0")
    assert built == [8192]


def test_the_host_memory_limit_counts_every_open_channel(relay_sh, monkeypatch):
    from kmodel.cli import setup_channel
    from kmodel.cli.errors import ScriptError
    monkeypatch.setattr(setup_channel, "HOST_LIMIT", 3 << 20)  # numa2 has 128 MiB
    sh = relay_sh                       # numa2: 8 possible CPUs
    sh.execute("relay open a subbuf_size=128k n_subbufs=2")         # 2 MiB in all
    with pytest.raises(ScriptError, match="with 2 MiB of channels already open"):
        sh.execute("relay open b subbuf_size=128k n_subbufs=2")
    sh.execute("relay close a")
    sh.execute("relay open b subbuf_size=128k n_subbufs=2")
