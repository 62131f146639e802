"""The read(2) consumer: packets through the buffer files, a copy each.

Each CPU's buffer file (/sys/kernel/debug/ltt/NAME/cpuN, ring_buffer_vfs.py)
gives a delivered packet's content to read(2), the header and records with
no padding, and gives the packet back once all of it is read.  This consumer
reads the packet context first (the header up to its last field, which every
packet has, CONTEXT_END bytes), learns the content size from it, reads the
rest, and writes the packet to its stream with zeroes up to its packet size,
so that the stream is the same CTF as the splice consumer's.  The bytes pass
through Python: this is the output to compare zero copy with.
"""
import os

from kmodel.consumer.base import Consumer
from kmodel.core.errno import EAGAIN
from kmodel.fs.vfs import FsError
from kmodel.relay.packet import CONTEXT_END, PACKET_MAGIC, unpack_packet_header


class ReadConsumer(Consumer):
    name = "read"
    help = "read(2) on the buffer files: each packet copied through the reader"

    def __init__(self, k, rbc, outdir):
        super().__init__(k, rbc, outdir)
        self.handles = {}               # cpu -> an open buffer file

    def _file(self, cpu, rb):
        h = self.handles.get(cpu)
        if h is None:
            h = self.handles[cpu] = self.k.fs.open(rb.rbuf.dentry.path())
        return h

    def _read(self, h, n):
        """n bytes of the packet being read (the file gives at most what is left
        of it); None if no packet is delivered yet, b"" at the end."""
        try:
            data = h.read(n)
        except FsError as e:
            if e.errno == EAGAIN:
                return None
            raise
        self.calls += 1
        return data

    def consume(self, limit):
        for cpu, rb in self.rbc.buffers():
            h = self._file(cpu, rb)
            taken = 0
            while limit is None or taken < limit:
                torn = h.private_data.torn
                head = self._read(h, CONTEXT_END)
                if not head:
                    break
                hdr = unpack_packet_header(head + bytes(4))
                if hdr.magic != PACKET_MAGIC:
                    raise ValueError(f"{h.path}: read gave no packet header (magic "
                                     f"{hdr.magic:#x}): not a layered buffer's file")
                content = hdr.content_size // 8
                rest = self._read(h, content - CONTEXT_END) if content > CONTEXT_END else b""
                taken += 1
                if h.private_data.torn != torn:     # its put said -EIO (era 2009): dropped
                    self.torn += 1
                    continue
                packet = head + rest
                packet += bytes(hdr.packet_size // 8 - len(packet))
                os.write(self.stream_fd(cpu), packet)
                self.moved += len(packet)

    def close(self):
        for h in self.handles.values():
            h.close()
        self.handles = {}
        super().close()

    def summary(self):
        return f"{self.moved:,} bytes read in {self.calls:,} read calls"
