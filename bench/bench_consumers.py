"""Consumers (issue: consumers): splice against copy, bytes per second.

A 1 MiB buffer (pagelist and static) goes to a file twice in the same run:
by sendfile straight from the frames' memfds (splice.py: no byte through
Python), and by ltt_relay_read into a bytearray then os.write (a copy through
Python).  Both write the same bytes to the same kind of file; the ratio of
their bandwidths is reported.
"""
import os

import pytest

from kmodel.consumer.splice import splice_subbuf
from kmodel.kernel import boot
from kmodel.relay.relay_alloc import ltt_relay_read, ltt_relay_write
from kmodel.relay.relay_file import ltt_relay_open_debugfs

SIZE = 1 << 20
SUB = 64 << 10
_BW = {}


@pytest.fixture(scope="module")
def k():
    k = boot()
    k.modules.insmod("ltt_relay_alloc")
    yield k
    k.shutdown()


@pytest.mark.parametrize("backend", ["pagelist", "static"])
@pytest.mark.parametrize("how", ["copy", "splice"])
def test_drain_1MiB(benchmark, tmp_path, k, backend, how):
    chan, _ = ltt_relay_open_debugfs(k, f"{how}-{backend}", SUB, SIZE // SUB, backend)
    buf = chan.buf[0]
    data = bytes((i * 7 + 1) & 0xFF for i in range(SUB))
    for off in range(0, SIZE, SUB):
        ltt_relay_write(buf, off, data, SUB)
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    scratch = bytearray(SUB)

    def drain():
        os.lseek(fd, 0, os.SEEK_SET)
        for off in range(0, SIZE, SUB):
            if how == "splice":
                splice_subbuf(k, buf, off, SUB, fd)
            else:
                ltt_relay_read(buf, off, scratch, SUB)
                os.write(fd, scratch)
        return SIZE
    benchmark.group = f"drain 1 MiB to a file, {backend}"
    try:
        assert benchmark(drain) == SIZE
    finally:
        os.close(fd)
    assert path.read_bytes() == data * (SIZE // SUB)
    if benchmark.stats:
        bw = SIZE / benchmark.stats.stats.median / 1e9
        benchmark.extra_info["GB_per_s"] = bw
        _BW[(backend, how)] = bw
        if (backend, "copy") in _BW and (backend, "splice") in _BW:
            print(f"\n{backend}: splice {_BW[(backend, 'splice')]:.2f} GB/s, copy "
                  f"{_BW[(backend, 'copy')]:.2f} GB/s, ratio "
                  f"{_BW[(backend, 'splice')] / _BW[(backend, 'copy')]:.2f}x")
