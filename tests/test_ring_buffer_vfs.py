"""The layered buffer files' consumer interface: read(2), poll, LTTng's ioctls
(kmodel/relay/ring_buffer_vfs.py)."""
import pytest

from kmodel.cli.relay_state import relay_state
from kmodel.fs.vfs import POLLHUP, POLLIN, FsError
from kmodel.relay.packet import HDR, RECORD_HEADER, record_size
from kmodel.relay.ring_buffer_vfs import (RING_BUFFER_FLUSH, RING_BUFFER_GET_MMAP_READ_OFFSET,
                                          RING_BUFFER_GET_NEXT_SUBBUF,
                                          RING_BUFFER_GET_PADDED_SUBBUF_SIZE,
                                          RING_BUFFER_GET_SUBBUF_SIZE,
                                          RING_BUFFER_PUT_NEXT_SUBBUF, RING_BUFFER_SNAPSHOT)

FILE = "/sys/kernel/debug/ltt/t/cpu1"


@pytest.fixture
def sh(relay_sh):
    return relay_sh


def test_read_consumes_packets_content_only(sh):
    sh.execute("relay open t subbuf_size=4k n_subbufs=4 layer=lockless mode=discard")
    fs = sh.k.fs
    h = fs.open(FILE)
    assert h.poll() == 0
    with pytest.raises(FsError) as e:
        h.read(100)
    assert e.value.errno == 11                              # EAGAIN: nothing delivered
    sh.execute("relay write t cpu=1 data=abcdefgh count=200")
    assert h.poll() == POLLIN
    per = (4096 - HDR) // record_size(8)
    first = h.read(10)                                       # reads can split a packet
    rest = h.read(1 << 20)                                   # the rest of what is delivered
    data = first + rest
    packets = 200 // per                                     # delivered so far
    assert len(data) == packets * (HDR + per * record_size(8) - (record_size(8) - 24))
    ts, size, eid = RECORD_HEADER.unpack_from(data, HDR)
    assert (size, data[HDR + 16:HDR + 24]) == (8, b"abcdefgh")
    sh.execute("relay flush t cpu=1")
    tail = h.read(1 << 20)
    assert len(tail) > 0
    h.ioctl(RING_BUFFER_FLUSH)
    rb = relay_state(sh).layers["t"].buf_for(1)
    rb.finalized = True
    assert h.read(100) == b"" and h.poll() == POLLHUP       # end of file
    h.close()


def test_the_consumer_ioctls(sh):
    sh.execute("relay open t subbuf_size=4k n_subbufs=4 layer=locked mode=overwrite")
    sh.execute("relay write t cpu=1 bytes=100 count=110")     # 3 packets delivered
    h = sh.k.fs.open(FILE)
    pos = h.ioctl(RING_BUFFER_GET_NEXT_SUBBUF)
    assert pos == 0
    with pytest.raises(FsError) as e:
        h.ioctl(RING_BUFFER_GET_NEXT_SUBBUF)
    assert e.value.errno == 16                              # EBUSY: asked twice
    per = (4096 - HDR) // record_size(100)
    assert h.ioctl(RING_BUFFER_GET_SUBBUF_SIZE) == HDR + per * record_size(100)
    assert h.ioctl(RING_BUFFER_GET_PADDED_SUBBUF_SIZE) == 4096
    assert h.ioctl(RING_BUFFER_GET_MMAP_READ_OFFSET) == 0
    assert h.ioctl(RING_BUFFER_PUT_NEXT_SUBBUF) == 0
    with pytest.raises(FsError) as e:
        h.ioctl(RING_BUFFER_PUT_NEXT_SUBBUF)
    assert e.value.errno == 22
    produced, consumed = h.ioctl(RING_BUFFER_SNAPSHOT)
    assert consumed == 4096 and produced > consumed
    with pytest.raises(FsError) as e:
        h.ioctl(0x1234)
    assert e.value.errno == 25                              # ENOTTY
    h.ioctl(RING_BUFFER_GET_NEXT_SUBBUF)
    h.close()                                               # gives back what it held
    assert sh.k.fs.open(FILE).ioctl(RING_BUFFER_GET_NEXT_SUBBUF) == 8192


def test_cat_reads_and_consumes(sh):
    sh.execute("relay open t subbuf_size=4k n_subbufs=2 layer=lockless mode=discard")
    sh.execute("relay write t cpu=1 bytes=1000 count=4")
    out = sh.execute(f"cat {FILE}")
    assert out.startswith("00000000  c1 1f fc c1")          # the packet magic, as hexdump
    from kmodel.cli.errors import CommandFailed
    with pytest.raises(CommandFailed, match="Resource temporarily unavailable"):
        sh.execute(f"cat {FILE}")
