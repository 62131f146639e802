"""Crash safety of the pmem backend: a real second process records on pmem
(either layer, either mode, a per-CPU or a global buffer) and is killed with
SIGKILL at a moment chosen by a seed, after a number of commits or after a
time; `kmodel crash extract` then recovers every record committed before the
kill, and no torn or invented one, and babeltrace2 opens the trace.  Each
record carries its sequence number and a CRC32 of its data (ctf.py's blob
event), so the test knows.  A few trials run in `make test`; the torture
marker (`.ci/run`) runs 64."""
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zlib

import pytest

from kmodel.consumer.crash import crash_extract
from kmodel.consumer.ctf import BY_ID, decode

BABELTRACE = shutil.which("babeltrace2")

CHILD = r"""
import sys, zlib
from hw.machine import Machine
from hw.topology import load_preset
from kmodel.consumer.ctf import BY_ID, encode
from kmodel.cpu.sched import run_now
from kmodel.kernel import boot
from kmodel.relay.layer_channel import ring_buffer_open
path, mode, n, layer, scope = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
era = sys.argv[6] if sys.argv[6] != "-" else None
reader = sys.argv[7] == "reader"      # a reader that takes a packet, holds it, gives it back
k = boot(Machine(load_preset("numa2"), pmem_path=path), cmdline="reserve_mem=4M:4096:trace")
k.modules.insmod("ltt_relay_alloc")
rbc, err = ring_buffer_open(k, "crash", 4096, n, "pmem", "local", layer, mode, scope, era=era)
assert rbc is not None, err
cpus = [0] if scope == "per-cpu" else [0, 2, 5]      # a global buffer: several writers
blob = BY_ID[3]
print("ready", flush=True)
i = 0
held = None
while True:
    if reader and i % 40 == 0:       # (a held packet is lapped: its put keeps it as the spare)
        rb = rbc.buf_for(cpus[0])
        if held is None:
            held = run_now(k, rbc.get_subbuf(rb))
            held = held if held >= 0 else None
        else:
            run_now(k, rbc.put_subbuf(rb, held))
            held = None
    data = bytes((i * 7 + j) & 0xff for j in range(i % 61))
    payload = encode(blob, {"seq": i, "len": len(data), "crc": zlib.crc32(data), "data": data})
    cpu = cpus[i % len(cpus)]
    with k.on_cpu(cpu):
        if run_now(k, rbc.layer.write(rbc.buf_for(cpu), payload, event_id=3)) >= 0:
            print(i, flush=True)         # committed: the test may now count on it
    i += 1
"""


def record_and_kill(path, mode, seed, layer="lockless", scope="per-cpu", by="commits",
                    era=None, reader=False):
    """Run the recorder, kill it with SIGKILL after a seeded number of commits
    (by="commits") or a seeded time (by="clock", 0.05 to 0.6 s after it is
    ready: anywhere in a commit); the sequence numbers it reported committed
    before it died."""
    rng = random.Random(seed)
    target = rng.randrange(1, 1500)
    delay = rng.uniform(0.05, 0.6)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    n_subbufs = 32 if mode == "discard" else 4     # overwrite: it wraps several times
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(path), mode, str(n_subbufs), layer,
                          scope, era or "-", "reader" if reader else "-"],
                         stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert p.stdout.readline().strip() == "ready"
        seen = 0
        if by == "clock":
            time.sleep(delay)           # (a full pipe blocks it: a kill there is fine too)
        else:
            while seen < target:
                if not p.stdout.readline():
                    break
                seen += 1
        os.kill(p.pid, signal.SIGKILL)
        rest = p.stdout.read()          # what it printed before it died
    finally:
        p.kill()
        p.wait()
    assert p.returncode == -signal.SIGKILL
    return target, set(range(seen)) | {int(x) for x in rest.split()}


def recovered(scan):
    """{seq: data} of every record extracted; each must be whole (its CRC)."""
    out = {}
    for packets in scan.packets.values():
        for p in packets:
            for _ts, eid, payload in p.records:
                assert eid == 3
                v = decode(BY_ID[3], payload)
                assert zlib.crc32(v["data"]) == v["crc"], f"torn record {v['seq']}"
                assert v["seq"] not in out, f"record {v['seq']} twice"
                out[v["seq"]] = v["data"]
    return out


TRIALS = [(layer, mode, scope, by, seed) for (layer, mode, scope, by), seed in itertools.product(
    itertools.product(("lockless", "locked"), ("discard", "overwrite"), ("per-cpu", "global"),
                      ("commits", "clock")), range(4))]
QUICK = [("lockless", "discard", "per-cpu", "commits", 0), ("locked", "overwrite", "global",
                                                            "clock", 1),
         ("lockless", "overwrite", "per-cpu", "commits", 4), ("locked", "discard", "global",
                                                               "commits", 2)]


def check_recovery(tmp_path, layer, mode, scope, by, seed, era=None, reader=False):
    img = tmp_path / "pmem.img"
    target, committed = record_and_kill(img, mode, seed, layer, scope, by, era, reader)
    if not committed:
        return                          # killed before its first commit: nothing to find
    scan = crash_extract(str(img), str(tmp_path / "trace"))
    got = recovered(scan)
    assert scan.dropped == {}
    top = max(committed)
    unreported = set(got) - committed   # committed as it died, before it could say so:
    assert len(unreported) <= 1 and all(i > top for i in unreported), sorted(unreported)
    if mode == "discard":               # the buffer holds all of them: every one is back
        assert committed <= set(got), sorted(committed - set(got))[:5]
    else:                               # a flight recorder keeps the newest, unbroken
        assert set(got) == set(range(min(got), max(got) + 1)) and max(got) >= top
    if BABELTRACE:
        r = subprocess.run([BABELTRACE, str(tmp_path / "trace")], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr[-500:]
        assert r.stdout.count("blob:") == len(got)


@pytest.mark.parametrize("layer, mode, scope, by, seed", QUICK)
def test_sigkill_loses_nothing_committed_and_invents_nothing(tmp_path, layer, mode, scope, by,
                                                              seed):
    check_recovery(tmp_path, layer, mode, scope, by, seed)


@pytest.mark.parametrize("layer, era, reader, seed", [("lockless", "2009", False, 3),
                                                      ("lockless", "2.x", True, 5),
                                                      ("locked", "2.x", True, 6)])
def test_sigkill_in_either_era_with_a_reader_swapping(tmp_path, layer, era, reader, seed):
    """Era 2009 on pmem as before; era 2.x with a reader that holds packets
    while the writers lap them, so the table is swapped when the kill comes
    (after a seeded number of commits): nothing committed and unread lost."""
    check_recovery(tmp_path, layer, "overwrite", "per-cpu", "commits", seed, era, reader)


@pytest.mark.torture
@pytest.mark.parametrize("layer, mode, scope, by, seed", TRIALS)
def test_sigkill_torture(tmp_path, layer, mode, scope, by, seed):
    check_recovery(tmp_path, layer, mode, scope, by, seed)


def test_kill_9_of_the_kmodel_shell_is_a_crash_and_extract_reads_it(tmp_path):
    """The command-line path: `kmodel shell --pmem FILE`, records written,
    then SIGKILL while the shell waits for its next command; `kmodel crash
    extract` on the file finds every record."""
    img = tmp_path / "r.img"
    p = subprocess.Popen([sys.executable, "-m", "kmodel", "shell", "--pmem", str(img),
                          "--cmdline", "reserve_mem=4M:4096:trace"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, PYTHONPATH=os.getcwd()))
    try:
        p.stdin.write("insmod ltt_relay_alloc\n"
                      "relay open t subbuf_size=4k n_subbufs=8 backend=pmem layer=lockless\n"
                      "relay write t cpu=3 data=before-the-kill count=120\n")
        p.stdin.flush()
        for line in p.stdout:
            if "120 of 120 records" in line:
                break
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.kill()
        p.wait()
    out = subprocess.run([sys.executable, "-m", "kmodel", "crash", "extract", str(img), "-o",
                          str(tmp_path / "t")], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=os.getcwd()))
    assert out.returncode == 0, out.stderr
    assert "120 records to" in out.stdout and "cpu 3:" in out.stdout
