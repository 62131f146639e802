"""A consumer in its own process: python -m kmodel.consumer.mmap_consumer SOCKET DIR.

It connects to the emulator's socket (mmap_server.py), receives the node
memfds by SCM_RIGHTS and each buffer's layout, and maps each CPU buffer's
frames at consecutive addresses of its own address space (a PROT_NONE area,
then one MAP_FIXED|MAP_SHARED mapping a page): the scattered pages of the
page list become one contiguous buffer here, as relay's mmap makes them in a
process.  Then it asks for packets, writes each from its mapping to
DIR/channel0_<cpu>, and gives it back, until every buffer answers -ENODATA.

It can be killed at any moment.  A new consumer on the same DIR first cuts
each stream file back to its last whole packet, and skips a packet it
already has (by sequence number), so the trace holds each packet once.
SIGTERM or SIGINT stops it between two packets (the one it holds is given
back, its files closed), within a second, with exit 143 or 130.
"""
import json
import os
import signal
import socket
import sys
import time

from hw import libc
from kmodel.relay.packet import HDR, unpack_packet_header

EAGAIN, EIO, ENODATA = 11, 5, 61
PAGE = 4096


class Connection:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        msg, fds, _, _ = socket.recv_fds(self.sock, 1 << 22, 64)
        self.fds = fds
        self.inbuf = msg
        if not msg:
            raise ConnectionError("the emulator closed the socket during the handshake")
        self.sock.settimeout(0.2)       # so that a stop is seen while an answer waits
        self.layout = json.loads(self._line())

    def _line(self):
        """The next line the emulator sent; ConnectionError if it went away
        (a closed socket reads empty: never wait on it again)."""
        while b"\n" not in self.inbuf:
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                if Stop.signum is not None:
                    raise Stopped() from None
                continue
            if not data:
                raise ConnectionError("the emulator went away")
            self.inbuf += data
        line, self.inbuf = self.inbuf.split(b"\n", 1)
        return line

    def call(self, **req):
        """call - send a request; the answer ({"ret": ..., "bufs": N})."""
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        return json.loads(self._line())


def map_buffer(fds, pages):
    """The buffer's frames at consecutive addresses: a read-only memoryview."""
    size = len(pages) * PAGE
    base = libc.mmap(None, size, libc.PROT_NONE, libc.MAP_PRIVATE | libc.MAP_ANONYMOUS)
    for i, (f, offset) in enumerate(pages):          # f: which of the files sent
        libc.mmap(base + i * PAGE, PAGE, 1, libc.MAP_SHARED | libc.MAP_FIXED, fds[f],
                  offset)                               # PROT_READ
    return libc.memview(base, size)


def resume_stream(path, subbuf_size):
    """Cut a stream file back to whole packets (each as long as its header's
    packet_size says: padded to a page in 2.x, a sub-buffer in 2009); the last
    packet's sequence number."""
    if not os.path.exists(path):
        return -1
    size = os.path.getsize(path)
    pos, last, seq = 0, None, -1
    with open(path, "rb") as f:
        while pos + HDR <= size:
            f.seek(pos)
            h = unpack_packet_header(f.read(HDR))
            n = h.packet_size // 8
            if not HDR <= n <= subbuf_size or pos + n > size:
                break
            pos, seq = pos + n, h.packet_seq_num
    if pos != size:
        os.truncate(path, pos)
    return seq


class Stop:
    """SIGTERM or SIGINT noted: the loop stops between two packets."""
    signum = None

    @classmethod
    def handler(cls, signum, frame):
        cls.signum = signum


class Stopped(Exception):
    """A stop came while an answer was awaited: the socket closes, and the
    emulator gives back whatever this consumer held."""


def run(sock_path, outdir):
    conn = Connection(sock_path)
    S = conn.layout["subbuf_size"]
    A = conn.layout["alloc_size"]
    views, files, last_seq = {}, {}, {}

    def add_buffers(layout):
        """Map the buffers of layout not mapped yet, and open their streams."""
        for cpu, pages in layout["buffers"].items():
            cpu = int(cpu)
            if cpu in views:
                continue
            views[cpu] = map_buffer(conn.fds, pages)
            path = os.path.join(outdir, f"channel0_{cpu}")
            last_seq[cpu] = resume_stream(path, S)
            files[cpu] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    add_buffers(conn.layout)
    finished = set()
    packets = 0
    try:
        while len(finished) < len(views) and Stop.signum is None:
            progress = False
            for cpu in sorted(views):
                if cpu in finished or Stop.signum is not None:
                    continue
                reply = conn.call(op="get", cpu=cpu)
                if reply["bufs"] > len(views):      # a CPU came online: map its buffer
                    add_buffers(conn.call(op="layout")["ret"])
                pos = reply["ret"]
                if pos == -ENODATA:
                    finished.add(cpu)
                    continue
                if pos < 0:
                    continue
                off = reply.get("off", pos % A)     # GET_MMAP_READ_OFFSET
                seq = unpack_packet_header(views[cpu][off:off + HDR]).packet_seq_num
                wrote = None
                if seq > last_seq[cpu]:             # else the last consumer wrote it already
                    wrote = os.fstat(files[cpu]).st_size
                    size = unpack_packet_header(views[cpu][off:off + HDR]).packet_size // 8
                    os.write(files[cpu], views[cpu][off:off + min(size, S)])
                if conn.call(op="put", cpu=cpu, pos=pos)["ret"] == -EIO:
                    if wrote is not None:           # torn (era 2009): not kept
                        os.ftruncate(files[cpu], wrote)
                elif wrote is not None:
                    last_seq[cpu] = seq
                    packets += 1
                progress = True
            if not progress:
                time.sleep(0.001)                   # nothing delivered: let the emulator run
    except Stopped:
        pass
    finally:
        for fd in files.values():
            os.close(fd)
    return packets


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m kmodel.consumer.mmap_consumer SOCKET DIR", file=sys.stderr)
        return 2
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, Stop.handler)
    try:
        n = run(argv[0], argv[1])
    except (OSError, ConnectionError, ValueError) as e:
        print(f"mmap_consumer: {e}", file=sys.stderr)
        return 1
    if Stop.signum is not None:
        print(f"mmap_consumer: stopped by {signal.Signals(Stop.signum).name} after {n} "
              "packets", file=sys.stderr)
        return 128 + Stop.signum
    print(f"mmap_consumer: {n} packets", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
