"""A consumer in a second process (kmodel/consumer/mmap_consumer.py): it maps the
buffers' frames from the node memfds, takes packets over a socket, survives
being killed, and a new one carries on from the consumed position."""
import random
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest

from kmodel.consumer.ctf import EVENT_CLASSES, encode, metadata, read_trace
from kmodel.consumer.mmap_server import ConsumerServer
from kmodel.cpu.sched import run_now
from kmodel.kernel import boot
from kmodel.relay.layer_channel import ring_buffer_close, ring_buffer_open
from kmodel.relay.packet import HDR
from kmodel.relay.rb_config import SwitchMode

SWITCH = EVENT_CLASSES[0]


@contextmanager
def serving(tmp_path, metadata_file=True):
    """A kernel with a lockless per-CPU channel, an empty trace directory (with
    its metadata, unless told not) and the consumer server: (k, rbc, out, server)."""
    k = boot()
    k.modules.insmod("ltt_relay_alloc")
    rbc, err = ring_buffer_open(k, "t", 4096, 4, "pagelist", "local", "lockless", "discard",
                                "per-cpu")
    assert rbc is not None, err
    out = tmp_path / "trace"
    out.mkdir()
    if metadata_file:
        (out / "metadata").write_text(metadata())
    server = ConsumerServer(k, rbc, str(tmp_path / "sock"))
    try:
        yield k, rbc, out, server
    finally:
        ring_buffer_close(rbc, "t")
        server.close()
        k.shutdown()


def consumer(server, outdir):
    p = subprocess.Popen([sys.executable, "-m", "kmodel.consumer.mmap_consumer",
                          server.path, str(outdir)], stderr=subprocess.PIPE)
    server.wait_for_consumer(p, timeout=60)
    return p


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_killed_consumer_loses_nothing_and_a_new_one_carries_on(tmp_path, seed):
    rng = random.Random(seed)
    cpus = [0, 5]
    seq = {c: 0 for c in cpus}
    written = {}
    with serving(tmp_path, metadata_file=True) as (k, rbc, out, server):
        first = consumer(server, out)
        kill_after = rng.randrange(4, 40)       # served requests before the kill

        def write(n, serve=4):
            for _ in range(n):
                for cpu in cpus:
                    values = {"seq": seq[cpu], "prev_tid": rng.randrange(4096),
                              "next_tid": 7, "prev_state": 0, "cpu": cpu}
                    written[(cpu, seq[cpu])] = values
                    seq[cpu] += 1
                    with k.on_cpu(cpu):
                        run_now(k, rbc.layer.write(rbc.buf_for(cpu), encode(SWITCH, values)))
                server.serve(max_requests=serve, wait=0.01)

        while server.served < kill_after:
            write(5)
        def sizes():
            return {c: (out / f"channel0_{c}").stat().st_size
                    if (out / f"channel0_{c}").exists() else 0 for c in cpus}

        # one request at a time, until the consumer holds a packet: kill it then
        while True:
            before = sizes()
            write(1, serve=1)
            if any(c.held for c in server.clients):
                break
        assert sum(len(c.held) for c in server.clients) == 1
        if seed % 2:        # let it write the packet first: the next one must not again
            cpu = next(cpu for c in server.clients for cpu in c.held)
            deadline = time.monotonic() + 30
            while sizes()[cpu] < before[cpu] + 4096:
                assert time.monotonic() < deadline, "the consumer did not write"
                time.sleep(0.001)
        first.send_signal(signal.SIGKILL)
        first.wait()
        write(200)                              # the emulator goes on without a consumer
        assert server.detached == 1 and all(not rb.consumed.counter & 1
                                            for rb in rbc.bufs.values())   # holds released
        second = consumer(server, out)
        write(100)
        for _ in range(2):
            for rb in rbc.bufs.values():        # every buffer, so the consumer ends
                run_now(k, rbc.layer.flush(rb, SwitchMode.FLUSH))
            server.serve(max_requests=10**6, wait=0.05)
        deadline = time.monotonic() + 60
        while second.poll() is None:
            assert time.monotonic() < deadline, "the second consumer did not finish"
            server.serve(max_requests=10**6, wait=0.05)
        assert second.returncode == 0, second.stderr.read()
        trace = read_trace(str(out))
        for cpu in cpus:
            rb = rbc.buf_for(cpu)
            events = [e for p in trace[f"channel0_{cpu}"] for e in p.events]
            seqs = [v["seq"] for _, _, v in events]
            assert len(seqs) == len(set(seqs)), "an event is in the trace twice"
            for _, _, v in events:
                assert v == written[(cpu, v["seq"])]
            lost = rb.records_lost_full.counter
            assert rb.book.produced == len(seqs) + lost == seq[cpu]


def test_a_new_consumer_cuts_a_half_written_packet(tmp_path):
    from kmodel.consumer.mmap_consumer import resume_stream
    from kmodel.relay.packet import PACKET_MAGIC, PacketHeader, pack_packet_header
    path = tmp_path / "channel0_0"
    packets = b"".join(pack_packet_header(PacketHeader(PACKET_MAGIC, i, i + 1, 60 * 8, 4096 * 8, i, 0, 0))
                       + bytes(4096 - HDR) for i in (7, 8))
    path.write_bytes(packets + b"half a packet")
    assert resume_stream(str(path), 4096) == 8
    assert path.read_bytes() == packets
    assert resume_stream(str(tmp_path / "none"), 4096) == -1


def test_a_new_consumer_skips_the_packet_its_predecessor_wrote_but_did_not_give_back(tmp_path):
    """The predecessor wrote packet 0 to the stream and died before its put:
    the packet is still unconsumed, the new consumer gets it again, and must
    not write it a second time (its resume_stream read the last packet's
    sequence number off the stream file)."""
    from kmodel.relay.relay_alloc import ltt_relay_read
    with serving(tmp_path, metadata_file=True) as (k, rbc, out, server):
        rb = rbc.buf_for(0)
        with k.on_cpu(0):
            for i in range(300):
                values = {"seq": i, "prev_tid": 1, "next_tid": 2, "prev_state": 0, "cpu": 0}
                run_now(k, rbc.layer.write(rb, encode(SWITCH, values)))
        pos = run_now(k, rbc.get_subbuf(rb))            # the predecessor's get ...
        first = bytearray(4096)
        ltt_relay_read(rb.rbuf, pos, first, 4096)
        (out / "channel0_0").write_bytes(first)         # ... and its write; then it died
        assert run_now(k, rbc.release_subbuf(rb, pos)) == 0
        p = consumer(server, out)
        for _ in range(2):
            for b in rbc.bufs.values():
                run_now(k, rbc.layer.flush(b, SwitchMode.FLUSH))
            server.serve(max_requests=10**6, wait=0.05)
        deadline = time.monotonic() + 60
        while p.poll() is None:
            assert time.monotonic() < deadline
            server.serve(max_requests=10**6, wait=0.05)
        assert p.returncode == 0, p.stderr.read()
        packets = read_trace(str(out))["channel0_0"]
        assert [pk.seq for pk in packets] == list(range(len(packets)))
        seqs = [v["seq"] for pk in packets for _, _, v in pk.events]
        assert seqs == list(range(300))


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_the_consumer_process_stops_on_a_signal_within_a_second(tmp_path, sig, code):
    """Waiting for an answer the emulator does not give (it is busy), or
    between packets: a signal stops it within a second, its streams whole."""
    with serving(tmp_path, metadata_file=False) as (k, rbc, out, server):
        with k.on_cpu(0):
            for i in range(200):
                values = {"seq": i, "prev_tid": 1, "next_tid": 2, "prev_state": 0, "cpu": 0}
                run_now(k, rbc.layer.write(rbc.buf_for(0), encode(SWITCH, values)))
        p = consumer(server, out)
        server.serve(max_requests=6, wait=0.05)         # a packet or two, then silence
        p.send_signal(sig)
        t0 = time.monotonic()
        p.wait(timeout=5)
        assert time.monotonic() - t0 < 1.0 and p.returncode == code
        assert f"stopped by {signal.Signals(sig).name}" in p.stderr.read().decode()
        size = (out / "channel0_0").stat().st_size
        assert size % 4096 == 0


def test_a_socket_closed_during_the_handshake_is_an_error_not_a_spin(tmp_path):
    import socket
    path = str(tmp_path / "sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(1)
    p = subprocess.Popen([sys.executable, "-m", "kmodel.consumer.mmap_consumer", path,
                          str(tmp_path)], stderr=subprocess.PIPE)
    conn, _ = lsock.accept()
    conn.close()                                        # before sending the layout
    try:
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
    lsock.close()
    assert p.returncode == 1
    assert "closed the socket during the handshake" in p.stderr.read().decode()
