"""The layered buffer files' consumer interface: read(2), poll, LTTng's ioctls
(kmodel/relay/ring_buffer_vfs.py)."""
import pytest

from kmodel.cli.relay_state import relay_state
from kmodel.fs.vfs import POLLHUP, POLLIN, POLLPRI, FsError
from kmodel.relay.packet import HDR, RECORD_HEADER, record_size
from kmodel.relay.ring_buffer import read_packet
from kmodel.relay.ring_buffer_vfs import (RING_BUFFER_CLEAR, RING_BUFFER_FLUSH,
                                          RING_BUFFER_FLUSH_EMPTY,
                                          RING_BUFFER_GET_MAX_SUBBUF_SIZE,
                                          RING_BUFFER_GET_MMAP_LEN,
                                          RING_BUFFER_GET_MMAP_READ_OFFSET,
                                          RING_BUFFER_GET_NEXT_SUBBUF,
                                          RING_BUFFER_GET_PADDED_SUBBUF_SIZE,
                                          RING_BUFFER_GET_SUBBUF, RING_BUFFER_GET_SUBBUF_SIZE,
                                          RING_BUFFER_PUT_NEXT_SUBBUF, RING_BUFFER_PUT_SUBBUF,
                                          RING_BUFFER_SNAPSHOT,
                                          RING_BUFFER_SNAPSHOT_GET_CONSUMED,
                                          RING_BUFFER_SNAPSHOT_GET_PRODUCED)

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
    """LTTng's values: GET_NEXT_SUBBUF 0; the padded size PAGE_ALIGN(content);
    the read offset through the sub-buffer table (2.x overwrite: the first
    get swaps in the spare, sub-buffer 4, and reads the packet there); the
    mmap length with the spare."""
    sh.execute("relay open t subbuf_size=4k n_subbufs=4 layer=locked mode=overwrite")
    sh.execute("relay write t cpu=1 bytes=100 count=110")     # 3 packets delivered
    h = sh.k.fs.open(FILE)
    assert h.ioctl(RING_BUFFER_GET_NEXT_SUBBUF) == 0
    with pytest.raises(FsError) as e:
        h.ioctl(RING_BUFFER_GET_NEXT_SUBBUF)
    assert e.value.errno == 16                              # EBUSY: asked twice
    per = (4096 - HDR) // record_size(100)
    content = HDR + per * record_size(100)                       # records packed
    assert h.ioctl(RING_BUFFER_GET_SUBBUF_SIZE) == content == 4028
    assert h.ioctl(RING_BUFFER_GET_PADDED_SUBBUF_SIZE) == 4096    # PAGE_ALIGN(4028)
    assert h.ioctl(RING_BUFFER_GET_MAX_SUBBUF_SIZE) == 4096
    assert h.ioctl(RING_BUFFER_GET_MMAP_LEN) == 5 * 4096          # the spare too
    rb = relay_state(sh).layers["t"].buf_for(1)
    assert rb.bufb.ids() == [4, 1, 2, 3, 0]                       # swapped
    assert h.ioctl(RING_BUFFER_GET_MMAP_READ_OFFSET) == 0 * 4096  # the reader's: sb 0
    assert h.ioctl(RING_BUFFER_PUT_NEXT_SUBBUF) == 0
    assert rb.bufb.ids() == [0, 1, 2, 3, 4]                       # swapped back
    with pytest.raises(FsError) as e:
        h.ioctl(RING_BUFFER_PUT_NEXT_SUBBUF)
    assert e.value.errno == 22
    with pytest.raises(FsError) as e:
        h.ioctl(0x1234)
    assert e.value.errno == 25                              # ENOTTY
    assert h.ioctl(RING_BUFFER_GET_NEXT_SUBBUF) == 0
    h.close()                                               # gives back what it held
    h = sh.k.fs.open(FILE)
    assert h.ioctl(RING_BUFFER_GET_NEXT_SUBBUF) == 0 and rb.reader_held == 8192
    h.close()


def test_a_small_packet_is_padded_to_a_page(sh):
    sh.execute("relay open t subbuf_size=16k n_subbufs=2 layer=lockless mode=discard")
    sh.execute("relay write t cpu=1 bytes=100 count=40")
    h = sh.k.fs.open(FILE)
    h.ioctl(RING_BUFFER_FLUSH)
    assert h.ioctl(RING_BUFFER_GET_NEXT_SUBBUF) == 0
    content = HDR + 40 * record_size(100)                      # records packed
    assert h.ioctl(RING_BUFFER_GET_SUBBUF_SIZE) == content == 4724
    assert h.ioctl(RING_BUFFER_GET_PADDED_SUBBUF_SIZE) == 8192
    h.close()


def test_a_second_reader_gets_ebusy(sh):
    sh.execute("relay open t subbuf_size=4k n_subbufs=2 layer=lockless mode=discard")
    h = sh.k.fs.open(FILE)
    with pytest.raises(FsError) as e:
        sh.k.fs.open(FILE)
    assert e.value.errno == 16
    h.close()
    sh.k.fs.open(FILE).close()                              # free again


def test_pollpri_says_full_and_clear_drops_what_was_not_read(sh):
    sh.execute("relay open t subbuf_size=4k n_subbufs=2 layer=lockless mode=discard")
    h = sh.k.fs.open(FILE)
    assert h.poll() == 0                                    # nothing delivered yet
    sh.execute("relay write t cpu=1 bytes=3996 count=1")    # 4012 bytes: a whole packet
    assert h.poll() == POLLIN
    sh.execute("relay write t cpu=1 bytes=3996 count=2")    # the second fills the buffer,
    assert h.poll() == POLLIN | POLLPRI                     # the third is dropped
    assert h.ioctl(RING_BUFFER_CLEAR) == 0
    rb = relay_state(sh).layers["t"].buf_for(1)
    assert rb.consumed.counter == rb.offset.counter & ~4095  # at the writer's sub-buffer
    with pytest.raises(FsError) as e:
        h.read(100)
    assert e.value.errno == 11                              # nothing left to read
    h.close()


def test_flush_empty_delivers_a_packet_from_a_quiet_stream(sh):
    sh.execute("relay open t subbuf_size=4k n_subbufs=2 layer=lockless mode=discard")
    h = sh.k.fs.open(FILE)
    h.ioctl(RING_BUFFER_FLUSH)
    with pytest.raises(FsError):
        h.ioctl(RING_BUFFER_GET_NEXT_SUBBUF)                # a plain flush: nothing
    assert h.ioctl(RING_BUFFER_FLUSH_EMPTY) == 0
    assert h.ioctl(RING_BUFFER_GET_NEXT_SUBBUF) == 0
    assert h.ioctl(RING_BUFFER_GET_SUBBUF_SIZE) == HDR      # the packet context alone
    h.close()


def test_snapshot_positions_and_get_by_position(sh):
    """A flight recorder's reader: sample consumed and produced, get each
    packet between them by position, give it back unconsumed."""
    sh.execute("relay open t subbuf_size=4k n_subbufs=4 layer=lockless mode=overwrite")
    sh.execute("relay write t cpu=1 bytes=100 count=200")     # 34 a packet: 5 and 30 records
    h = sh.k.fs.open(FILE)
    assert h.ioctl(RING_BUFFER_SNAPSHOT) == 0
    cons = h.ioctl(RING_BUFFER_SNAPSHOT_GET_CONSUMED)
    prod = h.ioctl(RING_BUFFER_SNAPSHOT_GET_PRODUCED)
    assert (cons, prod) == (2 * 4096, 5 * 4096)             # entering packet 5 pushed 0..1
    seqs = []
    rb = relay_state(sh).layers["t"].buf_for(1)
    for pos in range(cons, prod, 4096):
        assert h.ioctl(RING_BUFFER_GET_SUBBUF, pos) == 0
        assert h.ioctl(RING_BUFFER_GET_SUBBUF_SIZE) == HDR + 34 * record_size(100)
        seqs.append(read_packet(rb, pos)[0].packet_seq_num)
        assert h.ioctl(RING_BUFFER_PUT_SUBBUF) == 0
    assert seqs == [2, 3, 4]
    rb = relay_state(sh).layers["t"].buf_for(1)
    assert rb.consumed.counter == cons                      # nothing consumed
    with pytest.raises(FsError) as e:
        h.ioctl(RING_BUFFER_GET_SUBBUF, cons - 4096)        # pushed past already
    assert e.value.errno == 11
    h.close()


def test_cat_reads_and_consumes(sh):
    sh.execute("relay open t subbuf_size=4k n_subbufs=2 layer=lockless mode=discard")
    sh.execute("relay write t cpu=1 bytes=1000 count=4")
    out = sh.execute(f"cat {FILE}")
    assert out.startswith("00000000  c1 1f fc c1")          # the packet magic, as hexdump
    from kmodel.cli.errors import CommandFailed
    with pytest.raises(CommandFailed, match="Resource temporarily unavailable"):
        sh.execute(f"cat {FILE}")
