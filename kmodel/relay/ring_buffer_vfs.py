"""The consumer's file interface of a layered buffer (LTTng's ring_buffer_vfs.c).

A channel opened with a locking layer gives its per-CPU buffer files
(/sys/kernel/debug/ltt/NAME/cpuN) these operations, on top of the relay's
open and release (which hold the buffer):

- ``read(2)``: consumes delivered packets, content only (padding skipped):
  it takes the next packet, returns its bytes as far as count allows, and
  gives the packet back once all of it is read.  Nothing delivered: -EAGAIN,
  as for a file opened O_NONBLOCK; finalized and drained: end of file (b"").
- ``open``: one reader a buffer; a second open gets -EBUSY
  (lib_ring_buffer_open_read's active_readers).
- ``poll``: POLLIN when a packet is delivered (or one is being read), with
  POLLPRI when the buffer is full; POLLHUP once finalized and drained
  (lib_ring_buffer_poll).
- ``ioctl``, LTTng's consumer commands (lib_ring_buffer_ioctl), with their
  names; what LTTng writes to ``*arg`` is the return value here:
  RING_BUFFER_GET_NEXT_SUBBUF (0; -EAGAIN, -ENODATA; -EBUSY if one is held
  already), RING_BUFFER_PUT_NEXT_SUBBUF (0), RING_BUFFER_GET_SUBBUF_SIZE (the
  held packet's content size), RING_BUFFER_GET_PADDED_SUBBUF_SIZE (that,
  PAGE_ALIGNed), RING_BUFFER_GET_MAX_SUBBUF_SIZE, RING_BUFFER_GET_MMAP_LEN
  (the buffer with its spare), RING_BUFFER_GET_MMAP_READ_OFFSET (where the
  reader's sub-buffer is, through the sub-buffer table), RING_BUFFER_FLUSH,
  RING_BUFFER_FLUSH_EMPTY (an empty packet if need be), RING_BUFFER_CLEAR
  (flush, then consumed to the writer's sub-buffer), and the flight
  recorder's: RING_BUFFER_SNAPSHOT (sample consumed and produced),
  RING_BUFFER_SNAPSHOT_GET_CONSUMED / _PRODUCED, RING_BUFFER_GET_SUBBUF
  (arg: a position between them) and RING_BUFFER_PUT_SUBBUF (give it back
  without consuming).

The numbers are ours (kmodel has no ioctl ABI to keep): the names are the key.
"""
from kmodel.core.errno import EAGAIN, EBUSY, EINVAL, EIO, ENODATA, ENOIOCTLCMD, ENOTTY
from kmodel.fs.vfs import POLLHUP, POLLIN, POLLPRI
from hw import PAGE_SIZE
from kmodel.relay.relay_alloc import ltt_relay_read
from kmodel.relay.relay_file import ltt_relay_file_operations
from kmodel.relay.packet import HDR, unpack_packet_header
from kmodel.relay.rb_config import SwitchMode
from kmodel.relay.ring_buffer import (lib_ring_buffer_clear_reader, lib_ring_buffer_snapshot,
                                      subbuf_read_offset)

RING_BUFFER_SNAPSHOT = 0xF600
RING_BUFFER_GET_NEXT_SUBBUF = 0xF601
RING_BUFFER_PUT_NEXT_SUBBUF = 0xF602
RING_BUFFER_GET_SUBBUF_SIZE = 0xF603
RING_BUFFER_GET_PADDED_SUBBUF_SIZE = 0xF604
RING_BUFFER_GET_MMAP_READ_OFFSET = 0xF605
RING_BUFFER_FLUSH = 0xF606
RING_BUFFER_SNAPSHOT_GET_CONSUMED = 0xF607
RING_BUFFER_SNAPSHOT_GET_PRODUCED = 0xF608
RING_BUFFER_GET_SUBBUF = 0xF609
RING_BUFFER_PUT_SUBBUF = 0xF60A
RING_BUFFER_GET_MAX_SUBBUF_SIZE = 0xF60B
RING_BUFFER_GET_MMAP_LEN = 0xF60C
RING_BUFFER_FLUSH_EMPTY = 0xF60D
RING_BUFFER_CLEAR = 0xF60E
IOCTLS = {name: value for name, value in globals().items() if name.startswith("RING_BUFFER_")}


def PAGE_ALIGN(n):
    return (n + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1)


class ReaderState:
    """An open file's private_data: the buffer it reads (rb), the relay buffer
    its open holds (rbuf, what the relay's release gives back), and what it
    has taken: a held packet and how far it read it."""
    __slots__ = ("rb", "rbuf", "held", "content", "pos", "base", "torn")

    def __init__(self, rb, rbuf):
        self.rb = rb
        self.rbuf = rbuf
        self.held = None                # consumed position of the packet held
        self.content = 0
        self.pos = 0
        self.base = 0                   # where the held packet is in the relay buffer
        self.torn = 0                   # packets whose put said -EIO (era 2009): read
                                        # in full, but written over meanwhile


def _take(st, pos=None):
    """Get the next packet (or the one at pos) into st; 0, or a negative errno."""
    rb = st.rb
    c = rb.rbc.layer.get_subbuf__straight(rb, pos)
    if c < 0:
        return c
    hdr = bytearray(HDR)
    st.base = subbuf_read_offset(rb, c)
    ltt_relay_read(rb.rbuf, st.base, hdr, HDR)
    st.held, st.content, st.pos = c, unpack_packet_header(hdr).content_size // 8, 0
    return 0


def _give_back(st, consume=True):
    """Give the held packet back, consumed (put_next) or not (put); its errno."""
    rbc = st.rb.rbc
    ret = (rbc.put_subbuf__straight if consume else rbc.release_subbuf__straight)(st.rb, st.held)
    st.held = None
    return ret


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
            if rb is not None and rb.active_readers:    # lib_ring_buffer_open_read
                filp.private_data = buf
                ltt_relay_file_operations.release(inode, filp)
                return -EBUSY
            if rb is not None:
                rb.active_readers += 1
            filp.private_data = ReaderState(rb, buf)
        return ret

    @staticmethod
    def release(inode, filp):
        st = filp.private_data
        if st.held is not None:
            _give_back(st)              # a packet half read is consumed, as in LTTng
        if st.rb is not None:
            st.rb.active_readers -= 1
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
            if st.pos >= st.content and _give_back(st) == -EIO:
                st.torn += 1
        return bytes(out)

    @staticmethod
    def poll(filp):
        """lib_ring_buffer_poll: POLLIN when a packet is delivered (or one is
        being read), POLLPRI as well when the buffer is full (the writer is a
        whole buffer ahead of consumed), POLLHUP once finalized and drained."""
        st = filp.private_data
        rb = st.rb
        if st.held is not None or rb.rbc.poll_deliver(rb):
            S = rb.rbc.subbuf_size
            full = (rb.offset.counter & ~(S - 1)) - (rb.consumed.counter & ~(S - 1)) >= \
                rb.rbc.alloc_size
            return POLLIN | POLLPRI if full else POLLIN
        return POLLHUP if rb.finalized else 0

    @staticmethod
    def unlocked_ioctl(filp, cmd, arg):
        """LTTng's consumer commands (lib_ring_buffer_ioctl): 0 or a value, or
        -errno.  A value LTTng writes to *arg is the return value here."""
        st = filp.private_data
        rb = st.rb
        k = rb.k
        if cmd in (RING_BUFFER_GET_NEXT_SUBBUF, RING_BUFFER_GET_SUBBUF):
            if st.held is not None:
                return -EBUSY                # one is held already
            if cmd == RING_BUFFER_GET_SUBBUF and (not isinstance(arg, int) or arg < 0):
                return -EINVAL
            return _take(st, arg if cmd == RING_BUFFER_GET_SUBBUF else None)
        if cmd in (RING_BUFFER_PUT_NEXT_SUBBUF, RING_BUFFER_PUT_SUBBUF):
            if st.held is None:
                return -EINVAL
            ret = _give_back(st, consume=cmd == RING_BUFFER_PUT_NEXT_SUBBUF)
            return 0 if ret == -EIO else ret     # (LTTng's ioctl says 0; 2009's -EIO
                                                 # is the consumers' to see, not read(2)'s)
        if cmd in (RING_BUFFER_GET_SUBBUF_SIZE, RING_BUFFER_GET_PADDED_SUBBUF_SIZE,
                   RING_BUFFER_GET_MMAP_READ_OFFSET):
            if st.held is None:
                return -EINVAL
            return {RING_BUFFER_GET_SUBBUF_SIZE: st.content,
                    RING_BUFFER_GET_PADDED_SUBBUF_SIZE: PAGE_ALIGN(st.content),
                    RING_BUFFER_GET_MMAP_READ_OFFSET: st.base}[cmd]
        if cmd == RING_BUFFER_GET_MAX_SUBBUF_SIZE:
            return rb.rbc.subbuf_size
        if cmd == RING_BUFFER_GET_MMAP_LEN:         # the spare too (extra_reader_sb)
            return rb.rbuf.alloc_size
        if cmd in (RING_BUFFER_FLUSH, RING_BUFFER_FLUSH_EMPTY, RING_BUFFER_CLEAR):
            mode = SwitchMode.EMPTY if cmd == RING_BUFFER_FLUSH_EMPTY else SwitchMode.ACTIVE
            with k.on_cpu(k.boot_cpu):
                rb.rbc.layer.flush__straight(rb, mode)
                if cmd == RING_BUFFER_CLEAR:
                    lib_ring_buffer_clear_reader.straight(rb)
            return 0
        if cmd == RING_BUFFER_SNAPSHOT:
            return lib_ring_buffer_snapshot(rb)
        if cmd == RING_BUFFER_SNAPSHOT_GET_CONSUMED:
            return rb.cons_snapshot
        if cmd == RING_BUFFER_SNAPSHOT_GET_PRODUCED:
            return rb.prod_snapshot
        return -ENOTTY if cmd != ENOIOCTLCMD else -ENOIOCTLCMD
