"""kmodel draw, explain and quiz."""
import io

import pytest

from kmodel.cli.main import main


def run(*argv):
    out = io.StringIO()
    rc = main(list(argv), out=out)
    return rc, out.getvalue()


def test_draw_shows_pages_nodes_and_pointers():
    rc, out = run("draw", "t", "--cpu", "5", "--n-subbufs", "8", "--access", "12k:1",
                  "--access", "r4096:1")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == "channel t: 8 x 4K sub-buffers = 32K a CPU, pagelist, local pages"
    assert lines[1] == "cpu 5 (online, node 1): rchan_buf on node 1, 8 pages"
    assert "<- hpage[0] hpage[1]" in lines[2]
    assert "<- rpage" in lines[3] and "<- wpage" in lines[5]
    assert all(" N1 " in l for l in lines[2:-1] if "pfn" in l)
    assert all(len(l) <= 80 for l in lines)


def test_draw_elides_long_rings_and_fits_80_columns():
    rc, out = run("draw", "big", "--subbuf-size", "64k", "--n-subbufs", "4", "--all-cpus")
    assert rc == 0 and "... 58 more pages ..." in out
    assert all(len(l) <= 80 for l in out.splitlines())


def test_draw_from_a_script(tmp_path, capsys):
    script = tmp_path / "open.kms"
    script.write_text("insmod ltt_relay_alloc\n"
                      "relay open trace subbuf_size=4k n_subbufs=2\n"
                      "relay write trace cpu=5 bytes=3000 count=2\n")
    rc, out = run("draw", "trace", "--script", str(script), "--cpu", "5")
    assert rc == 0
    assert "cpu 5 (online, node 1)" in out and "<- wpage" in out
    assert "[  1] pfn" in out.split("<- wpage")[0].splitlines()[-1]   # wpage moved to page 1
    capsys.readouterr()
    rc, out = run("draw", "trace", "--script", "builtin:read-after-cpu-death", "--cpu", "2")
    assert rc == 0                                  # drawn just before the scenario closes it
    assert "cpu 2 (online, node 0): rchan_buf" in out
    rc, out = run("draw", "trace", "--script", "builtin:nope")
    assert rc == 2


def test_draw_script_options_mean_what_they_do_in_run(tmp_path, capsys):
    script = tmp_path / "open.kms"
    script.write_text("#!kmodel --machine numa2\n"
                      "insmod ltt_relay_alloc\n"
                      "echo 1 > /sys/devices/system/cpu/cpu0/online\n"   # refused: goes on
                      "relay open trace subbuf_size=4k n_subbufs=2\n")
    rc, out = run("draw", "trace", "--script", str(script), "--machine", "uma",
                  "--all-cpus", "--access", "5000:64")
    assert rc == 0 and "node 1" not in out and "write 64 B at 0x1388: page 1" in out
    rc, out = run("draw", "trace", "--script", str(script), "--all-cpus")
    assert rc == 0 and "node 1" in out
    for opt in (["--backend", "vmap"], ["--subbuf-size", "8k"], ["--placement", "opener"]):
        assert run("draw", "trace", "--script", str(script), *opt)[0] == 2
        assert "the script's relay open line shapes the channel" in capsys.readouterr().err
    script.write_text("insmod ltt_relay_alloc\n")
    assert run("draw", "trace", "--script", str(script))[0] == 2
    assert "opened no channel 'trace' (it has: none)" in capsys.readouterr().err
    for bad in ("0", "-3"):                 # argparse refuses it: its SystemExit
        with pytest.raises(SystemExit) as e:
            run("draw", "trace", "--max-pages", bad)
        assert e.value.code == 2 and "--max-pages" in capsys.readouterr().err


def test_explain_walk_forward_then_next_page():
    rc, out = run("explain", "write", "5000", "6000")
    assert rc == 0
    assert " 1. look up offset 5000 (0x1388) from wpage (page 0, at 0x0): +5000 bytes" in out
    assert "walk forward, 1 iteration -> page 1; wpage := page 1" in out
    # the 16 KiB buffer fits numa2's L1, which one core fills at 64 GB/s (32 bytes
    # a cycle at 2 GHz): 3192 / 32 = 99.75 -> 100 cycles, 2808 / 32 -> 88
    assert "copy 3192 B to page 1 (N0) +0x388: L1, 64 GB/s" in out
    assert "100 cycles" in out.split("copy 3192 B")[1].split("\n")[0]
    assert "copy 2808 B to page 2" in out and "cache after: wpage=page 2" in out
    # the per-step costs add up with the model's own total: 6000 / 32 = 187.5 ->
    # 188, two list iterations in L1 (4 each), one 1 GiB TLB miss (30)
    assert "total, as the model counts it: 226 cycles" in out
    # "walk steps" means one thing: iterations beyond a page's next (none here)
    assert "list iterations 2 (walk steps, beyond the next page: 0)" in out
    assert " step " not in out and "1 step" not in out


def test_explain_backward_walk_leaves_cache():
    rc, out = run("explain", "write", "1000", "64", "--n-subbufs", "8", "--before", "12k:1")
    assert "walk back, 3 iterations -> page 0; cache kept" in out
    assert "cache after: wpage=page 3" in out
    assert "list iterations 3 (walk steps, beyond the next page: 2)" in out


def test_explain_says_when_no_tlb_lookup_is_charged():
    """The first write on page 0 takes the cached page: no lookup is charged,
    and explain says so instead of calling it a hit; the next page change
    pays the linear map's first miss."""
    rc, out = run("explain", "write", "100", "64")
    assert "a hit" not in out and "no TLB lookup is charged here" in out
    rc, out = run("explain", "write", "4200", "64", "--before", "100:64")
    assert "TLB 1G miss" in out


def test_explain_vmap_faults_on_nehalem():
    """A buffer in the boot-time slot: no fault.  In the second slot (512 GiB
    of vmalloc space in use before it): one fault for CPU 5's address space,
    on the first page; the second page is in the same slot."""
    rc, out = run("explain", "write", "4000", "200", "--backend", "vmap", "--machine",
                  "nehalem-2009", "--cpu", "5", "--placement", "opener")
    assert rc == 0 and "vmalloc faults 0" in out and "remote 200" in out
    rc, out = run("explain", "write", "4000", "200", "--backend", "vmap", "--machine",
                  "nehalem-2009", "--cpu", "5", "--placement", "opener", "--vmalloc-used",
                  "512g")
    assert rc == 0 and out.count("page walk; vmalloc fault") == 1 and "remote 200" in out
    assert "vmalloc faults 1" in out
    assert all(len(l) <= 80 for l in out.splitlines())


def test_explain_refuses_running_off_the_end():
    rc, out = run("explain", "write", "16000", "1000")
    assert rc == 2


@pytest.mark.parametrize("topic", ["walk", "cache", "buddy", "hotplug", "placement"])
def test_quiz_same_seed_same_problem_and_answers(topic):
    _, a = run("quiz", topic, "-s", "7")
    _, b = run("quiz", topic, "-s", "7")
    _, c = run("quiz", topic, "-s", "7", "-c")
    _, d = run("quiz", topic, "-s", "7", "-c")
    assert a == b and c == d
    assert a.startswith(f"ARG topic {topic}\nARG seed 7\n")
    assert "?  ?" in a and "?  ?" not in c
    # the problem part is the same with and without -c
    assert a.split("\n\n")[0] == c.split("\n\n")[0]
    seeds = {run("quiz", topic, "-s", str(s))[1] for s in range(6)}
    assert len(seeds) > 1


def test_quiz_hotplug_answers_come_from_the_emulator():
    _, out = run("quiz", "hotplug", "-s", "2", "-c")      # errnos passed back
    assert "CONFIG_KMODEL_HOTPLUG_ERRNO=y" in out
    assert "cpu_up(1) returns?  -ENOMEM" in out
    assert "actions seen by A?  CPU_DOWN_PREPARE, CPU_DYING, CPU_DEAD, CPU_POST_DEAD, " \
           "CPU_UP_PREPARE\n" in out
    assert "actions seen by B?  CPU_DOWN_PREPARE, CPU_DYING, CPU_DEAD, CPU_POST_DEAD\n" in out
    _, out = run("quiz", "hotplug", "-s", "6", "-c")      # 2.6.29; C fails, A and B roll back
    assert "ARG kernel 2.6.29" in out and "cpu_up(2) returns?  -EINVAL" in out
    for n in "AB":
        assert f"actions seen by {n}?  CPU_DOWN_PREPARE, CPU_DYING, CPU_DEAD, CPU_POST_DEAD, " \
               "CPU_UP_PREPARE, CPU_UP_CANCELED\n" in out
    assert "actions seen by C?  CPU_DOWN_PREPARE, CPU_DYING, CPU_DEAD, CPU_POST_DEAD, " \
           "CPU_UP_PREPARE\n" in out


def test_quiz_buddy_answers():
    _, out = run("quiz", "buddy", "-s", "2", "-c")
    assert "  1. alloc order 0?  pfn 0; free blocks 1 1 1 1 0" in out
    assert "  2. free #1?  -; free blocks 0 0 0 0 1" in out


def test_quiz_lists_topics_and_rejects_unknown():
    rc, out = run("quiz")
    assert rc == 0 and all(t in out for t in ("walk", "cache", "buddy", "hotplug", "placement"))
    assert run("quiz", "nope")[0] == 2


def test_draw_access_says_what_each_access_did():
    rc, out = run("draw", "t", "--cpu", "5", "--n-subbufs", "8", "--access", "12k:1",
                  "--access", "12k:64", "--access", "r30k:1", "--access", "6k:5000")
    assert rc == 0
    tail = out.splitlines()[-4:]
    assert tail == ["  write 1 B at 0x3000: page 3; walks forward; 2 walk steps",
                    "  write 64 B at 0x3000: the stream's cached page, no lookup",
                    "  read 1 B at 0x7800: page 7; walks backward; 0 walk steps",
                    "  write 5000 B at 0x1800: pages 1, 2; walks backward, forward; "
                    "1 walk step"]
