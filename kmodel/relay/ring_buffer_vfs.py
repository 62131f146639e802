"""The consumer's file interface of a layered buffer (LTTng's ring_buffer_vfs.c).

A channel opened with a locking layer gives its per-CPU buffer files
(/sys/kernel/debug/ltt/NAME/cpuN) these operations, on top of the relay's
open and release (which hold the buffer):

- ``read(2)``: consumes delivered packets, content only (padding skipped):
  it takes the next packet, returns its bytes as far as count allows, and
  gives the packet back once all of it is read.  Nothing delivered: -EAGAIN,
  as for a file opened O_NONBLOCK; finalized and drained: end of file (b"").
- ``poll``: POLLIN when a packet is delivered (or one is being read),
  POLLHUP once finalized and drained.
- ``ioctl``, LTTng's consumer commands, with their names:
  RING_BUFFER_GET_NEXT_SUBBUF (the consumed position; -EAGAIN, -ENODATA; -EBUSY
  if one is held already), RING_BUFFER_PUT_NEXT_SUBBUF, RING_BUFFER_GET_SUBBUF_SIZE
  (the held packet's content size), RING_BUFFER_GET_PADDED_SUBBUF_SIZE (its
  packet size), RING_BUFFER_GET_MMAP_READ_OFFSET (where it starts in the
  buffer, for a consumer that maps it), RING_BUFFER_FLUSH, and
  RING_BUFFER_SNAPSHOT (overwrite mode: the produced and consumed positions,
  for reading what is there without consuming it).

The numbers are ours (kmodel has no ioctl ABI to keep): the names are the key.
"""
from kmodel.core.errno import EAGAIN, EBUSY, EINVAL, ENODATA, ENOIOCTLCMD, ENOTTY
from kmodel.fs.vfs import POLLHUP, POLLIN
from kmodel.relay.relay_alloc import ltt_relay_read
from kmodel.relay.relay_file import ltt_relay_file_operations
from kmodel.relay.packet import HDR, unpack_packet_header
from kmodel.relay.rb_config import Mode
from kmodel.relay.ring_buffer import subbuf_read_offset

RING_BUFFER_SNAPSHOT = 0xF600
RING_BUFFER_GET_NEXT_SUBBUF = 0xF601
RING_BUFFER_PUT_NEXT_SUBBUF = 0xF602
RING_BUFFER_GET_SUBBUF_SIZE = 0xF603
RING_BUFFER_GET_PADDED_SUBBUF_SIZE = 0xF604
RING_BUFFER_GET_MMAP_READ_OFFSET = 0xF605
RING_BUFFER_FLUSH = 0xF606
IOCTLS = {name: value for name, value in globals().items() if name.startswith("RING_BUFFER_")}


class ReaderState:
    """An open file's private_data: the buffer it reads (rb), the relay buffer
    its open holds (rbuf, what the relay's release gives back), and what it
    has taken: a held packet and how far it read it."""
    __slots__ = ("rb", "rbuf", "held", "content", "pos", "base")

    def __init__(self, rb, rbuf):
        self.rb = rb
        self.rbuf = rbuf
        self.held = None                # consumed position of the packet held
        self.content = 0
        self.pos = 0
        self.base = 0                   # where the held packet is in the relay buffer


def _take(st):
    """Get the next packet into st; 0, or a negative errno."""
    rb = st.rb
    c = rb.rbc.get_subbuf__straight(rb)
    if c < 0:
        return c
    hdr = bytearray(HDR)
    st.base = subbuf_read_offset(rb, c)
    ltt_relay_read(rb.rbuf, st.base, hdr, HDR)
    st.held, st.content, st.pos = c, unpack_packet_header(hdr).content_size // 8, 0
    return 0


def _give_back(st):
    st.rb.rbc.put_subbuf__straight(st.rb, st.held)
    st.held = None


class ring_buffer_file_operations:
    """The layered buffer file: the relay's open/release plus a consumer's reads.
    The layered channel is the relay channel's private_data (ring_buffer_open
    sets it), so a file made for a CPU that came online later has the same
    operations as the others."""

    @staticmethod
    def open(inode, filp):
        ret = ltt_relay_file_operations.open(inode, filp)     # private_data: the rchan_buf
        if ret == 0:
            buf = filp.private_data
            rb = buf.chan.private_data.buf_for(buf.cpu)
            filp.private_data = ReaderState(rb, buf)
        return ret

    @staticmethod
    def release(inode, filp):
        st = filp.private_data
        if st.held is not None:
            _give_back(st)              # a packet half read is consumed, as in LTTng
        filp.private_data = st.rbuf
        return ltt_relay_file_operations.release(inode, filp)

    @staticmethod
    def read_count(filp, count):
        st = filp.private_data
        out = bytearray()
        while len(out) < count:
            if st.held is None:
                ret = _take(st)
                if ret == -EAGAIN or ret == -ENODATA:
                    if out:
                        break
                    return b"" if ret == -ENODATA else ret
                if ret < 0:
                    return ret
            n = min(count - len(out), st.content - st.pos)
            chunk = bytearray(n)
            ltt_relay_read(st.rb.rbuf, st.base + st.pos, chunk, n)
            out += chunk
            st.pos += n
            if st.pos >= st.content:
                _give_back(st)
        return bytes(out)

    @staticmethod
    def poll(filp):
        st = filp.private_data
        rb = st.rb
        if st.held is not None or rb.rbc.poll_deliver(rb):
            return POLLIN
        return POLLHUP if rb.finalized else 0

    @staticmethod
    def unlocked_ioctl(filp, cmd, arg):
        st = filp.private_data
        rb = st.rb
        if cmd == RING_BUFFER_GET_NEXT_SUBBUF:
            if st.held is not None:
                return -EBUSY                # one is held already
            ret = _take(st)
            return st.held if ret == 0 else ret
        if cmd == RING_BUFFER_PUT_NEXT_SUBBUF:
            if st.held is None:
                return -EINVAL
            _give_back(st)
            return 0
        if cmd in (RING_BUFFER_GET_SUBBUF_SIZE, RING_BUFFER_GET_PADDED_SUBBUF_SIZE,
                   RING_BUFFER_GET_MMAP_READ_OFFSET):
            if st.held is None:
                return -EINVAL
            return {RING_BUFFER_GET_SUBBUF_SIZE: st.content,
                    RING_BUFFER_GET_PADDED_SUBBUF_SIZE: rb.rbc.subbuf_size,
                    RING_BUFFER_GET_MMAP_READ_OFFSET: st.base}[cmd]
        if cmd == RING_BUFFER_FLUSH:
            with rb.k.on_cpu(rb.k.boot_cpu):
                rb.rbc.layer.flush__straight(rb)
            return 0
        if cmd == RING_BUFFER_SNAPSHOT:
            if rb.rbc.mode is not Mode.OVERWRITE:
                return -EINVAL
            return (rb.offset.counter, rb.consumed.counter)
        return -ENOTTY if cmd != ENOIOCTLCMD else -ENOIOCTLCMD

