"""The coherence model (kmodel/relay/accounting.py, hw.timing.TimingModel.fetch):
the opener's zeroing, the consumer's reads on its own CPU, the writer taking
its lines back, and the write-backs to the home node, worked by hand on numa2.

numa2: 2 GHz; LLC 4 MiB at 16 GB/s; DRAM 8 GB/s at distance 10 and 4 GB/s at
21.  So 4096 bytes cost 4096 x 2 / 16 = 512 cycles through the LLC (a line
moved between two CPUs of one node, home there too) and 4096 x 2 / 4 = 2048
across the link (the holder's node or the home node is the other one).  CPUs
0-3 are node 0, 4-7 node 1; the opener is CPU 0.  Every buffer here is two
4 KiB pages, and only page 0 is written, twice, at offset 0: the cached page,
so no list step and no 1 GiB TLB lookup; a vmap buffer pays one 4 KiB TLB
miss (30 cycles) on its first access.  64 lines a page.
"""
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hw import PAGE_SIZE
from kmodel.kernel import boot
from kmodel.relay.accounting import consumer_read
from kmodel.relay.relay_alloc import ltt_relay_write
from relay_helpers import RelayEnv

PAGE = b"w" * PAGE_SIZE


def lap(k, buf, writer, consumer):
    """The writer fills page 0, the consumer reads it, the writer fills it
    again: (writer cycles, consumer cycles, c2c lines, write-backs (local,
    remote)) over the three steps."""
    tm = k.timing
    t0 = {c: tm.totals([c]) for c in (writer, consumer)}
    with k.on_cpu(writer):
        ltt_relay_write(buf, 0, PAGE, PAGE_SIZE)
        consumer_read(buf, 0, PAGE_SIZE, consumer)
        ltt_relay_write(buf, 0, PAGE, PAGE_SIZE)
    t1 = {c: tm.totals([c]) for c in (writer, consumer)}

    def d(c, key):
        return t1[c][key] - t0[c][key]
    return (d(writer, "cycles"), d(consumer, "cycles"),
            d(writer, "c2c_lines") + d(consumer, "c2c_lines"),
            (d(writer, "writeback_local"), d(writer, "writeback_remote")))


@pytest.fixture
def env(kernel_factory):
    return RelayEnv(kernel_factory("numa2"))


def test_a_consumer_on_another_node_makes_every_lap_cross_the_link(env):
    """Page list, writer CPU 1 (node 0, its pages' node), consumer CPU 5.
    1. The first write takes the lines the opener (CPU 0, same node) left
       dirty when it zeroed the page: through the LLC, 512 cycles, 64 lines.
    2. The consumer takes them from CPU 1's cache across the link: 2048
       cycles, 64 lines, and CPU 1 writes the 4096 dirty bytes back to their
       home, node 0: a local write-back.
    3. The writer takes them back from CPU 5 across the link: 2048, 64 lines.
    Writer 512 + 2048 = 2560, consumer 2048, 192 lines."""
    chan = env.open(PAGE_SIZE, 2)
    assert lap(env.k, chan.buf[1], 1, 5) == (2560, 2048, 192, (4096, 0))


def test_a_consumer_on_the_writers_node_stays_on_chip(env):
    """The same with the consumer on CPU 2 (node 0): every move goes through
    the LLC, 512 cycles each.  Writer 512 + 512, consumer 512."""
    chan = env.open(PAGE_SIZE, 2)
    assert lap(env.k, chan.buf[1], 1, 2) == (1024, 512, 192, (4096, 0))


@pytest.mark.parametrize("placement, want", [
    # local: the opener's lines come across the link (2048); the consumer
    # (CPU 4) and the writer (CPU 5) then trade them on node 1, home node 1:
    # 512 each way.  The write-back is local.
    ("local", (30 + 2048 + 512, 512, 192, (4096, 0))),
    # opener (mainline relay): the pages are on node 0.  Every move between
    # CPU 4 and CPU 5 goes through that home node across the link: 2048, and
    # the write-back crosses it too: 4096 remote bytes.  The buffer fits the
    # cache all along, and remote placement still costs 2048 - 512 a lap.
    ("opener", (30 + 2048 + 2048, 2048, 192, (0, 4096))),
])
def test_remote_placement_costs_with_a_consumer_even_in_the_cache(env, placement, want):
    chan = env.open(PAGE_SIZE, 2, backend="vmap", placement=placement)
    assert lap(env.k, chan.buf[5], 5, 4) == want


def test_zeroing_older_than_an_llc_has_gone_home(kernel_factory):
    """The opener's zeroing leaves in its cache only the last LLC's worth
    (4 MiB on numa2): with 8 CPUs of 1 MiB each, CPU 0's to CPU 3's pages
    (the first 4 MiB zeroed) are in memory, CPU 4's to CPU 7's in CPU 0's
    cache, and the first 4 MiB were written back by CPU 0 (counted local
    and remote by their home)."""
    k = kernel_factory("numa2")
    t0 = k.timing.totals()
    chan = RelayEnv(k).open(256 * 1024, 4)
    held = {cpu: {d.holder.cpu if d.holder else None for d in chan.buf[cpu].descs}
            for cpu in range(8)}
    assert held == {**{c: {None} for c in range(4)}, **{c: {0} for c in range(4, 8)}}
    t1 = k.timing.totals()
    assert t1["writeback_local"] - t0["writeback_local"] == 4 << 20


@pytest.fixture(scope="module")
def shared():
    k = boot("numa2")
    chan = RelayEnv(k).open(2 * PAGE_SIZE, 2)
    yield k, chan
    k.shutdown()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 4 * PAGE_SIZE - 1), st.integers(1, 4 * PAGE_SIZE))
def test_a_consumer_read_charges_its_bytes_once(shared, offset, length):
    """Whatever the offset and length (within the buffer), the consumer is
    charged exactly length bytes, on the pages it covers, each page's share
    being its overlap with [offset, offset + length)."""
    k, chan = shared
    length = min(length, 4 * PAGE_SIZE - offset)
    buf = chan.buf[1]
    c = k.timing.cpus[6]
    before = [sum(c.bytes)]
    per_page = []
    for d in buf.descs:                 # the simple model: overlap, page by page
        lo, hi = d.offset, d.offset + PAGE_SIZE
        per_page.append(max(0, min(hi, offset + length) - max(lo, offset)))
    consumer_read(buf, offset, length, 6)
    assert sum(c.bytes) - before[0] == length == sum(per_page)
    assert all(d.holder is c for d, n in zip(buf.descs, per_page) if n)
