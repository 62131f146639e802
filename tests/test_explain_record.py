"""kmodel explain record: one record through a locking layer, step by step.

The steps are the layer's own yields, stepped one at a time; the test holds
them to the straight-line run (run_now) of the same write on a twin kernel:
the same counters and the same modeled cycles, so the narration cannot show
a path the layer does not take.  The narration itself is pinned where it
matters: the reservation's cmpxchg, the padding, the delivery and the new
packet's header, at a sub-buffer boundary worked by hand.
"""
import io
import re

import pytest

import kmodel
from kmodel.cli.explain_record import step_record
from kmodel.cli.main import main
from kmodel.cpu.sched import run_now
from kmodel.relay.packet import HDR, record_size


def run(*argv):
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def step_ops(out):
    """The operation of each numbered step line."""
    return [m.group(1) for m in re.finditer(r"^\s*\d+\. (\S+)", out, re.M)]


def channel(k, layer, mode="discard"):
    k.modules.insmod("ltt_relay_alloc")
    return kmodel.open_channel(k, "t", 4096, 4, layer=layer, mode=mode)


def state(rb):
    return (rb.offset.counter, rb.consumed.counter, [c.cc.counter for c in rb.commit_hot],
            [c.counter for c in rb.commit_cold], [c.seq.counter for c in rb.commit_hot])


@pytest.mark.parametrize("layer", ["lockless", "locked"])
@pytest.mark.parametrize("before", [0, 33, 34, 132])
def test_stepping_a_record_is_the_straight_line_run(layer, before):
    """Stepped or run straight through, the same write leaves the same counters
    and costs the same cycles (at the start, at a boundary, past it, and
    where the buffer is full and the record is dropped)."""
    results = []
    for stepped in (True, False):
        with kmodel.boot("numa2") as k:
            rbc = channel(k, layer)
            rb = rbc.buf_for(0)
            for _ in range(before):
                run_now(k, rbc.layer.write(rb, bytes(100), 1))
            t0 = k.timing.totals()["cycles"]
            if stepped:
                steps, ret = step_record(k, rbc, rb, bytes(200))
                assert sum(s.cycles for s in steps) == k.timing.totals()["cycles"] - t0
            else:
                ret = run_now(k, rbc.layer.write(rb, bytes(200), 1))
            results.append((ret, state(rb), k.timing.totals()["cycles"] - t0))
    assert results[0] == results[1]


def test_a_record_that_closes_a_sub_buffer_worked_by_hand():
    """34 records of 100 bytes (116 with their header, packed) after the
    84-byte packet header: the offset is 84 + 34 x 116 = 4028.  A record of 200
    (216) does not fit in the 68 bytes left: it pads sub-buffer 0 to 4096,
    delivers it, starts sub-buffer 1 with its header, and lands at 4096 + 84."""
    assert record_size(100) == 116 and record_size(200) == 216 and HDR == 84
    rc, out = run("explain", "record", "200", "--records-before", "34", "--before-size", "100",
                  "--era", "2009")
    assert rc == 0
    assert step_ops(out) == ["READ_ONCE(offset)", "READ_ONCE(commit_cold[1].cc_sb)", "READ_ONCE(offset)",
                   "READ_ONCE(consumed)", "local_cmpxchg(offset)",
                   "local_add(commit_hot[0].cc)", "local_cmpxchg(commit_cold[0].cc_sb)",
                   "WRITE_ONCE(commit_cold[0].cc_sb)", "local_add(commit_hot[1].cc)", "copy",
                   "local_add(commit_hot[1].cc)", "WRITE_ONCE(commit_hot[1].seq)"]
    for text in ("68 bytes left in sub-buffer 0: the record (216) closes it with 68 bytes",
                 "reserve: offset 4028 -> 4396",
                 "commit the padding that closes sub-buffer 0: cc = 4096, a full lap",
                 "sub-buffer 0 is complete: take its delivery, cc_sb -> 1",
                 "delivered: cc_sb = 4096",
                 "commit sub-buffer 1's packet header (84 bytes): cc = 84",
                 "commit the record: cc of sub-buffer 1 = 300",
                 "after: offset 4396, consumed 0; cc: 4096 300 0 0; cc_sb: 4096 0 0 0",
                 "the record: slot 4180; 12 steps"):
        assert text in " ".join(out.split()), text


def test_the_locked_layer_takes_the_lock_and_stores_plainly():
    rc, out = run("explain", "record", "100", "--layer", "locked")
    assert rc == 0
    ops = step_ops(out)
    assert ops[0] == "spin_lock(ltt_buf_lock/0)" and ops[-1] == "spin_unlock(ltt_buf_lock/0)"
    assert "WRITE_ONCE(offset) = 200" in out and "local_cmpxchg" not in out
    assert "2 irq flag operations" in out


def test_a_full_buffer_drops_the_record_in_discard_mode():
    """4 sub-buffers of 34 records of 100 bytes fill the buffer; the next record
    would enter sub-buffer 0, which nobody read, and is dropped."""
    rc, out = run("explain", "record", "100", "--records-before", "136")
    assert rc == 0
    assert "the sub-buffer entered holds data the reader has not taken" in " ".join(out.split())
    assert "local_add(records_lost_full) = 1" in out
    assert "counted in records_lost_full" in out and "dropped (-105)" in out


def cycles_and_transfers(*extra):
    rc, out = run("explain", "record", "100", "--records-before", "1", *extra)
    assert rc == 0
    tail = out.split("\nthe record: ")[1]
    return int(tail.split(" cycles")[0].split()[-1].replace(",", "")), out


def test_a_global_buffer_pays_the_lock_prefix_and_the_lines_of_other_cpus():
    """Per-CPU: local_t, no LOCK prefix.  One global buffer: atomic_long_t
    (LOCK'd), and when another CPU wrote last, its lines come over: the offset,
    the commit count and seq, three transfers at that CPU's distance."""
    with kmodel.boot("numa2") as k:
        near, far = k.timing.transfer_cycles[0][0], k.timing.transfer_cycles[0][1]
    per_cpu, _ = cycles_and_transfers()
    own, _ = cycles_and_transfers("--scope", "global")
    same_node, _ = cycles_and_transfers("--scope", "global", "--before-cpu", "1")
    other_node, out = cycles_and_transfers("--scope", "global", "--before-cpu", "4")
    assert per_cpu < own
    assert same_node - own == 3 * near and other_node - own == 3 * far
    assert "cmpxchg(offset)" in out and "atomic_long_add(commit_hot[0].cc)" in out
    assert "1 record of 100 bytes written first by CPU 4" in out


def test_before_cpu_is_for_a_global_buffer_only(capsys):
    rc, _ = run("explain", "record", "100", "--before-cpu", "4")
    assert rc == 2 and "only a global buffer" in capsys.readouterr().err
