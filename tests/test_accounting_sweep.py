"""Written = read + lost, on every stream, in the trace itself (as LTTng keeps
it): a sweep of recordings over backends, layers, modes, consumers and
geometries, with and without a CPU that comes online while tracing.

For every stream of every recording:
- every event written is read or counted lost by one cause (the table);
- the losses the layer counted by full, wrap and big are told in the trace:
  the last packet's events_discarded is their sum, and no packet's count is
  lower than an earlier one's;
- an overwritten packet shows as a gap in packet_seq_num, and there is none
  when nothing was overwritten;
- babeltrace2, where installed, opens the trace.

`make test` runs a covering set; the whole product runs under the `sweep`
marker (`.ci/run` runs it: `pytest -m sweep`).
"""
import itertools
import shutil
import subprocess

import pytest

from kmodel.consumer.ctf import read_trace
from kmodel.consumer.record import Recorder, RecordOptions
from kmodel.relay.rb_config import Mode
from kmodel.session import parse_hotplug

BACKENDS = ("pagelist", "vmap", "static")
LAYERS = ("lockless", "locked")
MODES = ("discard", "overwrite")
CONSUMERS = ("splice", "mmap", "read")
GEOMETRIES = ((4096, 1), (4096, 2), (8192, 4))
HOTPLUG = (False, True)
STARVED = (False, True)                 # a consumer that takes nothing until the end
FULL = [c for c in itertools.product(BACKENDS, LAYERS, MODES, CONSUMERS, GEOMETRIES, HOTPLUG,
                                     STARVED)
        if not (c[2] == "overwrite" and c[4][1] < 2)]     # (refused, as LTTng refuses it)
# a covering set: every value of every dimension, and every pair of mode and
# consumer
QUICK = [("pagelist", "lockless", "discard", "splice", (4096, 1), False, False),
         ("pagelist", "lockless", "discard", "mmap", (4096, 2), True, False),
         ("vmap", "locked", "discard", "read", (8192, 4), False, False),
         ("static", "locked", "overwrite", "splice", (4096, 2), True, False),
         ("pagelist", "lockless", "overwrite", "mmap", (8192, 4), False, False),
         ("vmap", "lockless", "overwrite", "read", (4096, 2), True, False),
         ("static", "lockless", "discard", "read", (4096, 2), True, False),
         ("vmap", "locked", "overwrite", "splice", (8192, 4), True, False),
         ("pagelist", "locked", "discard", "mmap", (8192, 4), True, False),
         ("static", "locked", "overwrite", "mmap", (4096, 2), False, False),
         ("vmap", "lockless", "discard", "read", (4096, 1), True, False),
         ("pagelist", "lockless", "discard", "mmap", (4096, 2), False, True),
         ("static", "locked", "overwrite", "read", (8192, 4), True, True),
         ("vmap", "lockless", "discard", "splice", (4096, 1), False, True)]


def account(tmp_path, backend, layer, mode, consumer, geometry, hotplug, starved):
    subbuf, n = geometry
    hp = parse_hotplug("2 echo 1 > /sys/devices/system/cpu/cpu5/online\n") if hotplug else []
    opts = RecordOptions(machine="numa2", events=300, rate=16, layer=layer, mode=Mode(mode),
                         backend=backend, subbuf_size=subbuf, n_subbufs=n,
                         consumer_rate=0 if starved else 1,
                         consumer=consumer, hotplug=hp,
                         cmdline="maxcpus=4" if hotplug else "", seed=3)
    d = tmp_path / "t"
    d.mkdir()
    stats = Recorder(opts, str(d)).run()
    trace = read_trace(str(d))
    if hotplug:
        assert 5 in stats and stats[5].produced > 0
    for cpu, s in stats.items():
        assert s.produced == s.read + s.lost, (cpu, s)
        packets = trace.get(f"channel0_{cpu}", [])
        assert sum(len(p.events) for p in packets) == s.read, cpu
        told = [p.events_discarded for p in packets]
        assert told == sorted(told), (cpu, told)
        assert (told[-1] if told else 0) == s.lost_full + s.lost_wrap + s.lost_big, (cpu, s)
        seqs = [p.seq for p in packets]
        missing = (seqs[-1] + 1 - len(seqs)) if seqs else 0
        assert (missing > 0) == (s.overrun > 0), (cpu, seqs, s)
    if shutil.which("babeltrace2"):
        r = subprocess.run(["babeltrace2", str(d)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-1500:]
    return stats


@pytest.mark.parametrize("case", QUICK, ids=lambda c: "-".join(map(str, c)))
def test_every_loss_is_told_in_the_trace(tmp_path, case):
    account(tmp_path, *case)


@pytest.mark.sweep
@pytest.mark.parametrize("case", FULL, ids=lambda c: "-".join(map(str, c)))
def test_every_loss_is_told_in_the_trace_sweep(tmp_path, case):
    account(tmp_path, *case)


def test_the_covering_set_covers_every_value():
    for i, values in enumerate((BACKENDS, LAYERS, MODES, CONSUMERS, GEOMETRIES, HOTPLUG,
                                STARVED)):
        assert {c[i] for c in QUICK} == set(values)
    assert {(c[2], c[3]) for c in QUICK} == set(itertools.product(MODES, CONSUMERS))
