"""Consumers: splice out of the buffer, CTF traces, kmodel trace record/show,
and babeltrace2 reading them (skipped, with the reason, where it is absent)."""
import io
import os
import re
import shutil
import socket
import subprocess

import pytest

from kmodel.cli.main import main
from kmodel.consumer.ctf import read_trace
from kmodel.consumer.record import Recorder, RecordOptions
from kmodel.session import parse_hotplug
from kmodel.consumer.splice import splice_subbuf, subbuf_runs
from kmodel.relay.relay_alloc import ltt_relay_read, ltt_relay_write
from kmodel.relay.relay_file import ltt_relay_open_debugfs

BABELTRACE = shutil.which("babeltrace2")


def record(tmp_path, **kw):
    d = tmp_path / "trace"
    d.mkdir()
    rec = Recorder(RecordOptions(**kw), str(d), keep=True)
    return d, rec, rec.run()


def check_trace(d, rec, stats):
    """Every event read is the one written with its seq; none twice; time goes up
    in each stream; written = read + lost on every CPU."""
    trace = read_trace(str(d))
    for name, packets in trace.items():
        last = 0
        seen = set()
        for p in packets:
            for ts, ename, values in p.events:
                assert ts >= last, f"{name}: time goes back at {ts}"
                last = ts
                want = rec.expected[p.cpu][values["seq"]]
                assert (ename, values) == want
                assert values["seq"] not in seen
                seen.add(values["seq"])
    for cpu, s in stats.items():
        assert s.produced == s.read + s.lost, (cpu, s)
    return trace


@pytest.mark.parametrize("mode", ["discard", "overwrite"])
@pytest.mark.parametrize("layer", ["locked", "lockless"])
def test_record_is_exact(tmp_path, layer, mode):
    d, rec, stats = record(tmp_path, events=160, rate=40, layer=layer, mode=mode,
                           subbuf_size=4096, n_subbufs=4, consumer_rate=1, seed=3)
    check_trace(d, rec, stats)
    assert sum(s.lost for s in stats.values()) > 0          # the consumer was too slow
    assert sum(s.read for s in stats.values()) > 0


def test_hotplug_and_suspend_while_tracing(tmp_path):
    hp = parse_hotplug("3 echo 0 > /sys/devices/system/cpu/cpu3/online\n"
                       "5 echo mem > /sys/power/state\n"
                       "7 echo 1 > /sys/devices/system/cpu/cpu3/online\n")
    d, rec, stats = record(tmp_path, duration=10, rate=8, hotplug=hp)
    trace = check_trace(d, rec, stats)
    assert stats[3].lost == 0 and stats[3].read == stats[3].produced > 0
    assert len(trace) == 8


def test_the_same_options_give_the_same_trace(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, _, _ = record(tmp_path / "a", events=40)
    b, _, _ = record(tmp_path / "b", events=40)
    files = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    assert "index/channel0_0.idx" in files
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes()


@pytest.mark.parametrize("backend", ["pagelist", "vmap", "static"])
def test_splice_moves_the_buffer_bytes_to_a_file_and_a_socket(k, tmp_path, backend):
    k.modules.insmod("ltt_relay_alloc")
    chan, _ = ltt_relay_open_debugfs(k, "s", 8192, 4, backend)
    buf = chan.buf[2]
    data = bytes((i * 13 + 5) & 0xFF for i in range(32768))
    ltt_relay_write(buf, 0, data[:8192], 8192)
    ltt_relay_write(buf, 8192, data[8192:16384], 8192)
    want = bytearray(8192)
    ltt_relay_read(buf, 8192, want, 8192)
    path = tmp_path / "out"
    with open(path, "wb") as f:
        moved, calls = splice_subbuf(k, buf, 8192, 8192, f.fileno())
    assert moved == 8192 and path.read_bytes() == bytes(want) == data[8192:16384]
    runs = subbuf_runs(k, buf, 8192, 8192)
    assert calls == len(runs) and sum(n for _, _, n in runs) == 8192
    if backend == "static":
        assert len(runs) == 1                       # one contiguous block: one call
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname())
    conn, _ = server.accept()
    try:
        splice_subbuf(k, buf, 0, 8192, client.fileno())
        got = b""
        while len(got) < 8192:
            got += conn.recv(8192 - len(got))
        assert got == data[:8192]
    finally:
        for s in (client, conn, server):
            s.close()


def run(*argv):
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_cli_record_and_show(tmp_path, capsys):
    d = tmp_path / "t"
    rc, out = run("trace", "record", str(d), "--events", "50", "--subbuf-size", "4k")
    assert rc == 0 and "written" in out and "channel0_0" in os.listdir(d)
    rc, shown = run("trace", "show", str(d))
    assert rc == 0 and shown.startswith("channel0_0: ")
    rc, _ = run("trace", "record", str(d), "--events", "50")
    assert rc == 2 and "not empty" in capsys.readouterr().err
    rc, _ = run("trace", "record", str(d), "--events", "50", "--force", "--subbuf-size", "4k")
    assert rc == 0
    (tmp_path / "cut").mkdir()
    shutil.copy(d / "metadata", tmp_path / "cut")
    (tmp_path / "cut" / "channel0_0").write_bytes((d / "channel0_0").read_bytes()[:5000])
    capsys.readouterr()
    rc, _ = run("trace", "show", str(tmp_path / "cut"))
    err = capsys.readouterr().err
    assert rc == 2 and "channel0_0: offset 4096: truncated packet" in err
    assert err.count("\n") == 1
    for bad in (["--events", "0"], ["--events", "5", "--duration", "5"], ["--layer", "x"]):
        with pytest.raises(SystemExit) if "--duration" not in bad else _nothing():
            rc, _ = run("trace", "record", str(tmp_path / "new"), *bad)
            assert rc == 2


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


@pytest.mark.skipif(BABELTRACE is None, reason="babeltrace2 is not installed (Debian "
                    "package babeltrace2; .ci/run installs it)")
@pytest.mark.parametrize("layer", ["locked", "lockless"])
def test_babeltrace2_reads_every_event_and_reports_the_losses(tmp_path, layer):
    d, rec, stats = record(tmp_path, events=160, rate=40, layer=layer, mode="discard",
                           subbuf_size=4096, n_subbufs=4, consumer_rate=1, seed=5)
    r = subprocess.run([BABELTRACE, str(d)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    printed = {}
    for line in r.stdout.splitlines():
        cpu = int(re.search(r"\{ cpu_id = (\d+) \}", line).group(1))
        printed[cpu] = printed.get(cpu, 0) + 1
    discarded = {}
    for m in re.finditer(r"Tracer discarded (\d+) events? .*?channel0_(\d+)",
                         r.stderr.replace("\n", " ")):
        discarded[int(m.group(2))] = discarded.get(int(m.group(2)), 0) + int(m.group(1))
    for cpu, s in stats.items():
        assert printed.get(cpu, 0) == s.read
        assert printed.get(cpu, 0) + discarded.get(cpu, 0) == s.produced, (cpu, s)
    assert sum(discarded.values()) > 0


def test_sizing_sweep_is_the_same_with_any_number_of_workers(capsys):
    argv = ["trace", "sizing", "--subbuf-sizes", "4k", "--n-subbufs", "2,4", "--rates",
            "16,64", "--events", "60"]
    rc1, one = run(*argv, "--jobs", "1")
    rc2, two = run(*argv, "--jobs", "2")
    assert rc1 == rc2 == 0 and one == two
    rows = [line.split() for line in one.splitlines()[1:5]]
    lost = {(int(r[1]), int(r[3])): float(r[-1].rstrip("%")) for r in rows}
    assert lost[(2, 64)] > lost[(4, 64)] and lost[(2, 64)] > lost[(2, 16)]
    for bad in (["--rates", "x"], ["--n-subbufs", ""], ["--jobs", "0"], ["--events", "0"]):
        with pytest.raises(SystemExit) as e:       # refused as argparse reads it
            run("trace", "sizing", *bad)
        assert e.value.code == 2, bad
        err = capsys.readouterr().err
        assert err.startswith("kmodel: error: trace sizing: ") and err.count("\n") == 1


@pytest.mark.skipif(BABELTRACE is None, reason="babeltrace2 is not installed (Debian "
                    "package babeltrace2; .ci/run installs it)")
def test_babeltrace2_reports_overwritten_packets(tmp_path):
    d, rec, stats = record(tmp_path, events=160, rate=40, layer="lockless", mode="overwrite",
                           subbuf_size=4096, n_subbufs=4, consumer_rate=1, seed=5)
    r = subprocess.run([BABELTRACE, str(d)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(r.stdout.splitlines()) == sum(s.read for s in stats.values())
    assert sum(s.overrun for s in stats.values()) > 0
    assert re.search(r"discarded \d+ packets?", r.stderr.replace("\n", " "))
