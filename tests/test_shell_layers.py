"""The shell's relay verbs over a locking layer (kmodel/cli/shell_layer.py)."""
import io

import pytest

from kmodel.cli.errors import CommandFailed, ScriptError
from kmodel.cli.main import main


@pytest.fixture
def sh(relay_sh):
    return relay_sh


def test_open_checks_its_arguments(sh):
    with pytest.raises(ScriptError, match="layer='spin'"):
        sh.execute("relay open t subbuf_size=4k n_subbufs=2 layer=spin")
    with pytest.raises(ScriptError, match="need a layer"):
        sh.execute("relay open t subbuf_size=4k n_subbufs=2 mode=discard")
    with pytest.raises(CommandFailed) as e:
        sh.execute("relay open t subbuf_size=4k n_subbufs=1 layer=locked mode=overwrite")
    assert e.value.errno == 22 and "at least 2 sub-buffers" in sh.execute("dmesg")
    assert sh.k.fs.lookup("/sys/kernel/debug/ltt/t") is None          # nothing half-built
    with pytest.raises(ScriptError, match="no locking layer"):
        sh.execute("relay open r subbuf_size=4k n_subbufs=2")
        sh.execute("relay flush r")
    line = "relay open x subbuf_size=4k n_subbufs=2 layer="
    assert sh.completions(line, "") == ["locked", "lockless", "none"]


@pytest.mark.parametrize("layer", ["locked", "lockless"])
def test_write_consume_and_losses(sh, layer):
    sh.execute(f"relay open t subbuf_size=4k n_subbufs=2 layer={layer} mode=discard")
    out = sh.execute("relay write t cpu=1 bytes=1000 count=12")
    assert out == ("cpu 1: 6 of 12 records of 1000 bytes written "
                   "(dropped: 6 buffer full)\n")   # 3 records of 1016 B a packet
    assert sh.execute("relay consume t cpu=1") .startswith("packet 0: 3 records")
    with pytest.raises(CommandFailed) as e:
        sh.execute("relay consume t cpu=1")
    assert e.value.errno == 11 and "EAGAIN" in str(e.value)
    assert "records_lost_full 6" in sh.execute("cat /sys/kernel/debug/ltt/t/counters/cpu1")
    sh.execute("relay flush t cpu=1")
    assert "events discarded 6" in sh.execute("relay consume t cpu=1")
    sh.execute("relay close t")
    assert sh.execute("leaks") == "no leaks\n"


def test_the_locked_layer_keeps_interrupts_out_while_it_holds_a_record(sh):
    sh.execute("relay open t subbuf_size=4k n_subbufs=4 layer=locked")
    sh.execute("relay reserve t cpu=0 bytes=100")
    with pytest.raises(ScriptError, match="interrupts are off"):
        sh.execute("irq 0 relay write t bytes=10")
    sh.execute("relay commit t cpu=0")
    assert sh.execute("irq 0 relay write t bytes=10") == \
        "cpu 0: 1 of 1 record of 10 bytes written\n"


def test_a_cpu_going_down_loses_nothing_committed(sh):
    sh.execute("relay open t subbuf_size=4k n_subbufs=4 layer=lockless mode=discard")
    sh.execute("relay write t cpu=3 bytes=500 count=10")        # packet 1 half full
    sh.execute("echo 0 > /sys/devices/system/cpu/cpu3/online")
    sh.execute("relay flush t cpu=3")                          # no IPI: done here
    out = sh.execute("relay consume t cpu=3 count=4")
    assert out.count("packet") == 2
    assert sum(int(line.split()[2]) for line in out.splitlines()) == 10


def test_explore_runs_layered_writes_step_by_step(tmp_path):
    script = tmp_path / "l.kms"
    script.write_text("insmod ltt_relay_alloc\n"
                      "relay open t subbuf_size=4k n_subbufs=2 layer=lockless mode=discard\n"
                      "task 0 relay write t bytes=1000 count=2\n"
                      "irq 0 relay write t bytes=1000\n"
                      "always expect /sys/kernel/debug/ltt/t/counters/cpu0 ~ "
                      "records_lost_wrap 0\n"
                      "relay flush t cpu=0\n"
                      "expect /sys/kernel/debug/ltt/t/counters/cpu0 ~ packets_delivered 1\n")
    out = io.StringIO()
    rc = main(["explore", str(script), "--strategy", "exhaustive", "--bound", "1"], out=out)
    text = out.getvalue()
    assert rc == 0, text
    runs = int(text.split("no failure in ")[1].split()[0])
    assert runs > 10          # the interrupt can come between the task's atomic steps


@pytest.mark.parametrize("scope", ["per-cpu", "global"])
def test_storm_invariants_hold_with_layers_open(sh, scope):
    sh.execute(f"relay open t subbuf_size=4k n_subbufs=4 layer=lockless scope={scope}")
    sh.execute("relay open u subbuf_size=4k n_subbufs=2 layer=locked mode=discard")
    assert "invariants held" in sh.execute("storm cpus=1-7 steps=150 seed=4 suspend=0.1")
    for cpu in sh.k.for_each_online_cpu():
        assert sh.execute(f"relay write t cpu={cpu} bytes=64").startswith(f"cpu {cpu}: 1 of 1")
        assert sh.execute(f"relay write u cpu={cpu} bytes=64").startswith(f"cpu {cpu}: 1 of 1")
    sh.execute("relay close t")
    sh.execute("relay close u")
    assert sh.execute("leaks") == "no leaks\n"
