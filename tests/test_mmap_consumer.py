"""A consumer in a second process (kmodel/consumer/mmap_consumer.py): it maps the
buffers' frames from the node memfds, takes packets over a socket, survives
being killed, and a new one carries on from the consumed position."""
import random
import signal
import subprocess
import sys
import time

import pytest

from kmodel.consumer.ctf import EVENT_CLASSES, encode, metadata, read_trace
from kmodel.consumer.mmap_server import ConsumerServer
from kmodel.cpu.sched import run_now
from kmodel.kernel import boot
from kmodel.relay.layer_channel import ring_buffer_close, ring_buffer_open
from kmodel.relay.rb_config import SwitchMode

SWITCH = EVENT_CLASSES[0]


def consumer(server, outdir):
    p = subprocess.Popen([sys.executable, "-m", "kmodel.consumer.mmap_consumer",
                          server.path, str(outdir)], stderr=subprocess.PIPE)
    server.wait_for_consumer(p, timeout=60)
    return p


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_killed_consumer_loses_nothing_and_a_new_one_carries_on(tmp_path, seed):
    rng = random.Random(seed)
    k = boot()
    k.modules.insmod("ltt_relay_alloc")
    rbc, err = ring_buffer_open(k, "t", 4096, 4, "pagelist", "local", "lockless", "discard",
                                "per-cpu")
    out = tmp_path / "trace"
    out.mkdir()
    (out / "metadata").write_text(metadata())
    server = ConsumerServer(k, rbc, str(tmp_path / "sock"))
    cpus = [0, 5]
    seq = {c: 0 for c in cpus}
    written = {}
    try:
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
    finally:
        ring_buffer_close(rbc, "t")
        server.close()
        k.shutdown()


def test_a_new_consumer_cuts_a_half_written_packet(tmp_path):
    from kmodel.consumer.mmap_consumer import resume_stream
    from kmodel.relay.packet import PACKET_MAGIC, PacketHeader, pack_packet_header
    path = tmp_path / "channel0_0"
    packets = b"".join(pack_packet_header(PacketHeader(PACKET_MAGIC, i, i + 1, 60 * 8, 4096 * 8, i, 0, 0))
                       + bytes(4096 - 64) for i in (7, 8))
    path.write_bytes(packets + b"half a packet")
    assert resume_stream(str(path), 4096) == 8
    assert path.read_bytes() == packets
    assert resume_stream(str(tmp_path / "none"), 4096) == -1
