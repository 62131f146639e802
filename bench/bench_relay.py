"""Relay benchmarks (issue: the relay module).

Sequential 64-byte writes against a floor, 64 KiB write bandwidth, and the cost
of ltt_relay_open as the buffer grows.  Every group has its floor: a Python
function that masks the offset and does one slice assignment into a contiguous
memoryview.  The modeled accounting is on (it always is).
"""
import pytest

from kmodel.kernel import boot
from kmodel.relay.relay_alloc import DebugfsClient, ltt_relay_close, ltt_relay_open

SIZE = 1 << 20                          # 1 MiB per CPU: 256 pages
RATIOS = {}


def make_floor(size):
    view = memoryview(bytearray(size))
    mask = size - 1

    def floor(target, offset, src, length):
        offset &= mask
        view[offset:offset + length] = src
        return length
    return floor


@pytest.fixture(scope="module")
def kern():
    k = boot("numa2")
    assert k.modules.insmod("ltt_relay_alloc") == 0
    yield k
    k.shutdown()


def _open(k, backend, n_subbufs=4, subbuf=SIZE // 4):
    client = DebugfsClient(k)
    return ltt_relay_open(k, f"b{backend}", None, subbuf, n_subbufs, client.callbacks(),
                          backend=backend)


def _sequential(benchmark, fn, target, length, group):
    data = bytes(range(256)) * (length // 256 or 1)
    data = data[:length]
    state = [0]

    def run():
        off = state[0]
        for _ in range(256):
            fn(target, off, data, length)
            off += length
        state[0] = off
    benchmark.group = group
    benchmark(run)
    return data


@pytest.mark.parametrize("length", [64, 65536])
def test_write_floor(benchmark, length):
    floor = make_floor(SIZE)
    _sequential(benchmark, floor, None, length, f"sequential writes {length} B x256")
    RATIOS[("floor", length)] = benchmark.stats.stats.median


@pytest.mark.parametrize("backend", ["pagelist", "vmap"])
@pytest.mark.parametrize("length", [64, 65536])
def test_write(benchmark, record_goal, kern, backend, length):
    chan = _open(kern, backend)
    buf = chan.buf[0]
    write = buf.ops.write                        # the backend's ltt_relay_write
    data = _sequential(benchmark, write, buf, length, f"sequential writes {length} B x256")
    out = bytearray(length)
    buf.ops.read(buf, 0, out, length)
    assert out == data                           # the bytes are really there
    t = kern.timing.totals()
    benchmark.extra_info.update({k: t[k] for k in ("cycles", "ops", "bytes_local",
                                                    "bytes_remote", "walk_steps",
                                                    "tlb_misses_4K", "tlb_misses_1G")})
    med = benchmark.stats.stats.median
    RATIOS[(backend, length)] = med
    floor = RATIOS.get(("floor", length))
    if floor:
        ratio = med / floor
        benchmark.extra_info["ratio_to_floor"] = ratio
        if length == 64:
            limit = 1.3 if backend == "pagelist" else 1.1
            record_goal(f"{backend} 64 B writes / floor", ratio, limit, "x")
    if length == 65536 and ("vmap", 65536) in RATIOS and ("pagelist", 65536) in RATIOS:
        bw = RATIOS[("vmap", 65536)] / RATIOS[("pagelist", 65536)]
        record_goal("pagelist 64 KiB bandwidth / vmap's", bw, 0.7, "x", better="higher")
    ltt_relay_close(chan)
    kern.timing.reset()


@pytest.mark.parametrize("mib_per_cpu", [0.25, 0.5, 1])
def test_open_64_cpus(benchmark, mib_per_cpu):
    """ltt_relay_open of N MiB per CPU on 64 CPUs (epyc-rome-nps4); the cost per
    page should stay flat as N grows (linear growth in pages)."""
    k = boot("epyc-rome-nps4")
    try:
        assert k.modules.insmod("ltt_relay_alloc") == 0
        subbuf = int(mib_per_cpu * (1 << 20)) // 4
        pages = 64 * int(mib_per_cpu * 256)

        def once():
            chan = ltt_relay_open(k, "o", None, subbuf, 4, None)
            assert chan is not None
            ltt_relay_close(chan)
        benchmark.group = "ltt_relay_open+close, 64 CPUs"
        benchmark.pedantic(once, rounds=3, iterations=1)
        assert k.leaks() == {}
        per_page = benchmark.stats.stats.median / pages * 1e9
        benchmark.extra_info.update({"pages": pages, "ns_per_page": per_page})
    finally:
        k.shutdown()
