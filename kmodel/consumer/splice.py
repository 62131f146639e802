"""Zero-copy out of the buffer: a sub-buffer's frames go from their node's
memfd to a file or a socket with ``os.sendfile``, no byte passing through a
Python buffer (the patch keeps its page list outside the frames for this).
``SpliceConsumer`` is the consumer that does so (consumer/base.py).

A page-list sub-buffer is scattered frames; each run of frames that are
consecutive in one node's memfd is one sendfile call, so a contiguous backend
(the static block) is a single call and the page list one per page unless its
pages happen to be adjacent.
"""
import os

from hw import PAGE_SHIFT, PAGE_SIZE
from kmodel.consumer.base import Consumer
from kmodel.relay.ring_buffer import subbuf_packet_size, subbuf_read_offset


def subbuf_runs(k, rbuf, offset, size):
    """subbuf_runs - [(fd, file offset, length)] of the frames holding
    [offset, offset + size) of the allocation-layer buffer rbuf, coalesced."""
    runs = []
    offset &= rbuf.alloc_mask
    for i in range(offset >> PAGE_SHIFT, (offset + size - 1 >> PAGE_SHIFT) + 1):
        page = rbuf.descs[i].page
        fd, foff = k.physmem.frame_file(page.pfn)
        if runs and runs[-1][0] == fd and runs[-1][1] + runs[-1][2] == foff:
            fd0, off0, n0 = runs[-1]
            runs[-1] = (fd0, off0, n0 + PAGE_SIZE)
        else:
            runs.append((fd, foff, PAGE_SIZE))
    return runs


def splice_subbuf(k, rbuf, offset, size, out_fd):
    """splice_subbuf - send size bytes at offset of rbuf to out_fd (a file or a
    socket) by sendfile from the memfds; returns (bytes, calls)."""
    moved = calls = 0
    for fd, foff, n in subbuf_runs(k, rbuf, offset, size):
        while n:
            sent = os.sendfile(out_fd, fd, foff, n)
            if sent <= 0:
                raise OSError(f"sendfile moved {sent} bytes")
            foff += sent
            n -= sent
            moved += sent
            calls += 1
    return moved, calls


class SpliceConsumer(Consumer):
    """The consumer in the emulator's own process: each delivered sub-buffer
    is taken, sent whole from the frames to its CPU's stream by sendfile, and
    given back (LTTng's splice output): its padded size, the pages up to the
    end of its content, in 2.x; the whole sub-buffer in 2009."""
    name = "splice"
    help = "in this process, zero copy (sendfile from the frames)"
    reads_pages = False                 # (the frames go to the file as they are)

    def consume(self, limit):
        for cpu, rb, pos in self.delivered(limit):
            self.write_subbuf(cpu, rb, pos)

    def write_subbuf(self, cpu, rb, pos):
        # the padded size (GET_PADDED_SUBBUF_SIZE), as lttng-consumerd splices it
        moved, calls = splice_subbuf(self.k, rb.rbuf, subbuf_read_offset(rb, pos),
                                     subbuf_packet_size(rb, pos), self.stream_fd(cpu))
        self.moved += moved
        self.calls += calls

    def summary(self):
        return f"{self.moved:,} bytes spliced in {self.calls:,} sendfile calls"
