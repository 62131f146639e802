"""The emulator's side of a consumer in another process (mmap_consumer.py).

A consumer connects to a Unix socket.  It is sent the layout of every
per-CPU buffer (for each page, which host file holds its frame, and where)
and, by SCM_RIGHTS, those files: the memfd of every node, and the --pmem
file if the machine has one.  It then maps the frames of each buffer at
consecutive addresses of its own, as a process that mmaps a relay buffer file
sees them (relay_mmap_buf in kernel/relay.c of 2.6.29 maps nothing up front:
its .fault handler, relay_buf_fault, looks each page up with vmalloc_to_page
when the process first touches it), and reads packets from there while the
emulator writes.  Taking and giving back a packet go through the socket, one
JSON line a request:

    {"op": "get", "cpu": N}            -> {"ret": consumed position, or -errno,
                                           "off": where it is in the buffer
                                           (GET_MMAP_READ_OFFSET), with a packet}
    {"op": "put", "cpu": N, "pos": P}  -> {"ret": 0 or -errno}
    {"op": "layout"}                   -> {"ret": the layout, as sent at connect}

Every answer also carries ``"bufs"``, how many buffers the channel has: a
CPU that came online while tracing gets a buffer (and its layer state) as
it starts writing, and a consumer that sees the count grow asks for the
layout again and maps the new buffer (its frames are in the files it has).

The emulator is single-threaded: it answers in ``serve``, which the recorder
calls between ticks.  A consumer that goes away (killed, say) while it holds
a packet loses its hold: the packet stays unconsumed, and the next consumer
gets it again.  Nothing that was not consumed is lost.
"""
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time

from kmodel.consumer.base import Consumer
from kmodel.core.errno import EINVAL, EIO
from kmodel.relay.ring_buffer import subbuf_read_offset


def host_files(k):
    """The host files that hold physical memory, in the order a consumer gets
    them: each node's memfd, then the --pmem file if the machine has one."""
    fds = [n.fd for n in k.physmem.nodes]
    if k.physmem.backing is not None:
        fds.append(k.physmem.backing.fd)
    return fds


def buffer_layout(k, rbc):
    """The layout a consumer maps: sizes, and each CPU buffer's frames as
    (index in host_files(), offset in that file)."""
    files = {fd: i for i, fd in enumerate(host_files(k))}
    bufs = {}
    for cpu, rb in rbc.bufs.items():
        pages = []
        for d in rb.rbuf.descs:
            fd, off = k.physmem.frame_file(d.page.pfn)
            pages.append([files[fd], off])
        bufs[str(cpu)] = pages
    return {"subbuf_size": rbc.subbuf_size, "alloc_size": rbc.alloc_size,
            "nodes": len(k.physmem.nodes), "buffers": bufs}


class Client:
    def __init__(self, sock):
        self.sock = sock
        self.inbuf = b""
        self.held = {}                  # cpu -> position it got and has not put
        self.off = None                 # where the last packet it got is in its buffer


class ConsumerServer:
    def __init__(self, k, rbc, path):
        self.k = k
        self.rbc = rbc
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(4)
        self.listener.setblocking(False)
        self.clients = []
        self.served = 0
        self.detached = 0
        self.torn = 0                   # packets whose put said -EIO (era 2009)

    def wait_for_consumer(self, proc, timeout):
        """Block until a consumer has connected (tracing starts with it there)."""
        deadline = time.monotonic() + timeout
        while not self.clients:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise ValueError("the consumer process did not connect"
                                 + (f" (exit {proc.returncode})" if proc.poll() is not None
                                    else f" in {timeout} s"))
            select.select([self.listener], [], [], 0.05)
            self._accept()

    def close(self):
        for c in list(self.clients):
            self._drop(c)
        self.listener.close()
        if os.path.exists(self.path):
            os.unlink(self.path)

    # --- connections -----------------------------------------------------------------
    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(True)
            layout = json.dumps(buffer_layout(self.k, self.rbc)).encode() + b"\n"
            socket.send_fds(sock, [layout], host_files(self.k))
            sock.setblocking(False)
            self.clients.append(Client(sock))

    def _drop(self, c):
        """A consumer went away: give back what it held, unconsumed."""
        for cpu, pos in c.held.items():
            rb = self.rbc.bufs.get(cpu)
            if rb is not None:
                self.rbc.release_subbuf__straight(rb, pos)
        c.held.clear()
        try:
            c.sock.close()
        except OSError:
            pass
        self.clients.remove(c)
        self.detached += 1

    # --- requests --------------------------------------------------------------------
    def _handle(self, c, req):
        k = self.k
        if req.get("op") == "layout":
            return buffer_layout(k, self.rbc)
        cpu = req.get("cpu")
        rb = self.rbc.bufs.get(cpu) if isinstance(cpu, int) else None
        if rb is None:
            return -EINVAL
        with k.on_cpu(k.boot_cpu):
            if req.get("op") == "get":
                ret = self.rbc.get_subbuf__straight(rb)
                if ret >= 0:
                    c.held[cpu] = ret
                    c.off = subbuf_read_offset(rb, ret)     # GET_MMAP_READ_OFFSET
                return ret
            if req.get("op") == "put" and isinstance(req.get("pos"), int):
                ret = self.rbc.put_subbuf__straight(rb, req["pos"])
                if ret == 0 or ret == -EIO:         # -EIO: given back, but torn (2009)
                    c.held.pop(cpu, None)
                if ret == -EIO:
                    self.torn += 1
                return ret
        return -EINVAL

    def serve(self, max_requests=64, wait=0.002):
        """serve - accept consumers and answer their requests: up to
        max_requests, waiting at most wait seconds for each next one."""
        self._accept()
        done = 0
        while done < max_requests and self.clients:
            ready, _, _ = select.select([c.sock for c in self.clients], [], [], wait)
            if not ready:
                break
            for c in [c for c in self.clients if c.sock in ready]:
                try:
                    data = c.sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    self._drop(c)
                    continue
                c.inbuf += data
                while b"\n" in c.inbuf and c in self.clients:
                    line, c.inbuf = c.inbuf.split(b"\n", 1)
                    c.off = None
                    try:
                        ret = self._handle(c, json.loads(line))
                    except (ValueError, AttributeError):
                        ret = -EINVAL
                    answer = {"ret": ret, "bufs": len(self.rbc.bufs)}
                    if c.off is not None:
                        answer["off"] = c.off
                    try:
                        c.sock.sendall(json.dumps(answer).encode() + b"\n")
                    except OSError:
                        self._drop(c)
                    done += 1
                    self.served += 1
        return done


class MmapConsumer(Consumer):
    """The consumer in a second process (python -m kmodel.consumer.mmap_consumer):
    it maps the buffers' frames and asks for packets over this server's socket
    (LTTng's mmap output).  It writes the streams itself; this side serves it
    between ticks."""
    name = "mmap"
    help = "a second process maps the frames and takes packets over a socket"
    reads_pages = False                 # (its process writes the mapped frames out)

    def __init__(self, k, rbc, outdir):
        super().__init__(k, rbc, outdir)
        self.server = self.proc = self.sockdir = None

    def start(self):
        self.sockdir = tempfile.mkdtemp(prefix="kmodel-consumer-")
        self.server = ConsumerServer(self.k, self.rbc, os.path.join(self.sockdir, "sock"))
        # its own session: a terminal's Ctrl-C goes to the recorder, which
        # stops between ticks and drains through this process before it ends it
        self.proc = subprocess.Popen([sys.executable, "-m", "kmodel.consumer.mmap_consumer",
                                      self.server.path, self.outdir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self.server.wait_for_consumer(self.proc, timeout=60)

    def consume(self, limit):
        n = len(self.rbc.bufs)
        # A get and a put a packet: with no limit, enough to drain every buffer
        # once, plus a get each that finds none (a consumer polls; an unbounded
        # tick would serve its polling for ever and the workload never resume).
        per_cpu = limit if limit is not None else self.rbc.n_subbufs + 1
        self.server.serve(max_requests=2 * n * per_cpu, wait=0.02 if limit is None else 0.005)

    def drain(self):
        """Serve the consumer process until nothing delivered is left for it
        (no sub-buffer ready, none held)."""
        deadline = time.monotonic() + 120
        rbc = self.rbc
        while any(rbc.poll_deliver(rb) for rb in rbc.bufs.values()) or \
                any(c.held for c in self.server.clients):
            if self.proc.poll() is not None:
                raise ValueError(f"the consumer process ended early (exit "
                                 f"{self.proc.returncode})")
            if time.monotonic() > deadline:
                raise ValueError("the consumer process did not catch up in 120 s")
            self.server.serve(max_requests=64, wait=0.02)

    def finish(self):
        """Serve the consumer process until it has drained every buffer."""
        deadline = time.monotonic() + 120
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise ValueError("the consumer process did not finish in 120 s")
            self.server.serve(max_requests=10**6, wait=0.05)
        err = self.proc.stderr.read().decode(errors="replace").strip()
        if self.proc.returncode != 0:
            raise ValueError(f"the consumer process failed: {err}")
        self.calls = self.server.served
        self.moved = sum(os.path.getsize(self.stream_path(cpu)) for cpu in self.rbc.bufs
                         if os.path.exists(self.stream_path(cpu)))

    def close(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stderr.close()
            self.proc = None
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.sockdir is not None:
            os.rmdir(self.sockdir)
            self.sockdir = None
        super().close()

    def summary(self):
        return (f"{self.moved:,} bytes written by the consumer process, "
                f"{self.calls:,} requests served")
