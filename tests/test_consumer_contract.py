"""The consumer contract (kmodel/consumer/base.py), shown by a fourth consumer that
lives in this file alone: defining it registers it, `trace record --consumer
NAME` runs it and its help lists it, and its trace is the same, byte for byte,
as the built-in consumers'."""
import os

import pytest

from kmodel.cli.main import build_parser, main
from kmodel.consumer.base import Consumer, consumer_names, get_consumer, unregister_consumer
from kmodel.consumer.ctf import read_trace
from kmodel.cpu.sched import run_now
from kmodel.relay.packet import unpack_packet_header
from kmodel.relay.relay_alloc import ltt_relay_read
from kmodel.relay.ring_buffer import subbuf_packet_size, subbuf_read_offset


class CopyConsumer(Consumer):
    """Takes each delivered sub-buffer, copies it out through ltt_relay_read, and
    writes the copy: the simplest consumer there is."""
    name = "copy"
    help = "ltt_relay_read into a bytearray, then write(2)"

    def consume(self, limit):
        for cpu, rb, pos in self.delivered(limit):
            n = subbuf_packet_size(rb, pos)
            copy = bytearray(n)
            ltt_relay_read(rb.rbuf, subbuf_read_offset(rb, pos), copy, n)
            self.moved += os.write(self.stream_fd(cpu), copy)
            self.calls += 1


@pytest.fixture(scope="module", autouse=True)
def copy_registered():
    yield
    unregister_consumer("copy")


def record(tmp_path, consumer, *extra):
    d = tmp_path / consumer
    rc = main(["trace", "record", str(d), "--consumer", consumer, "--machine", "numa2",
               "--events", "120", "--rate", "24", "--subbuf-size", "4k", "--n-subbufs", "8",
               *extra])
    return rc, d


def streams(d):
    return {name: (d / name).read_bytes() for name in sorted(os.listdir(d))
            if (d / name).is_file()}


def index_files(d):
    return {name: (d / "index" / name).read_bytes()
            for name in sorted(os.listdir(d / "index"))}


def test_defining_a_consumer_registers_it_and_help_offers_it(capsys):
    assert get_consumer("copy") is CopyConsumer
    assert {"splice", "mmap", "read", "copy"} <= set(consumer_names())
    with pytest.raises(SystemExit):
        build_parser().parse_args(["trace", "record", "--help"])
    out = capsys.readouterr().out
    assert "copy" in out and "ltt_relay_read into a bytearray" in out


def contents(stream):
    """Each packet of a stream as (its header and records, its size): what a
    reader sees, without the padding."""
    out, pos = [], 0
    while pos < len(stream):
        h = unpack_packet_header(stream, pos)
        out.append((stream[pos:pos + h.content_size // 8], h.packet_size))
        pos += h.packet_size // 8
    return out


def test_every_consumer_writes_the_same_trace(tmp_path, capsys):
    """With room enough that nothing is lost, how the packets leave the buffer
    changes nothing in the trace: splice, the mmap process and the toy copy
    whole sub-buffers and give the same stream files, byte for byte; read(2)
    gives the same packets, padded with zeroes where the others carry what an
    earlier lap left in the padding."""
    got = {}
    indexes = []
    for consumer in ("splice", "mmap", "read", "copy"):
        rc, d = record(tmp_path, consumer)
        assert rc == 0, capsys.readouterr()
        got[consumer] = streams(d)
        indexes.append(index_files(d))
        trace = read_trace(str(d))
        assert sum(len(p.events) for ps in trace.values() for p in ps) > 0
    out = capsys.readouterr().out
    assert "sendfile calls" in out and "read calls" in out and "write calls" in out
    assert got["splice"] == got["mmap"] == got["copy"]
    assert indexes[0] and all(i == indexes[0] for i in indexes)    # the same packets
    assert got["read"].keys() == got["splice"].keys()
    for name, stream in got["read"].items():
        assert contents(stream) == contents(got["splice"][name])
        assert len(stream) == len(got["splice"][name])


def test_an_unknown_consumer_is_refused_before_anything_runs(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["trace", "record", str(tmp_path / "t"), "--consumer", "nope", "--events", "5"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def test_a_consumer_that_misses_an_operation_is_refused_when_defined():
    with pytest.raises(TypeError, match="consume"):
        class Half(Consumer):               # noqa: F841
            name = "half"
    assert "half" not in consumer_names()
    with pytest.raises(ValueError, match="already registered"):
        class Again(CopyConsumer):          # noqa: F841
            name = "splice"
    with pytest.raises(ValueError, match="kmodel.consumer.splice.SpliceConsumer"):
        class SpliceConsumer(CopyConsumer):     # the built-in's own class name, elsewhere
            name = "splice"
    assert get_consumer("splice").__module__ == "kmodel.consumer.splice"


@pytest.mark.parametrize("consumer", ["splice", "mmap", "read", "copy"])
def test_every_consumer_reads_a_cpu_that_comes_online_while_tracing(tmp_path, consumer):
    """CPU 5 comes online at tick 2, and CPU 8 is made present (probe) then
    online: their buffers are made at CPU_UP_PREPARE, their files have the
    layered file operations, and the mmap process maps them when it hears
    of them.  Every event is read or counted lost, on every CPU."""
    hp = tmp_path / "hp"
    hp.write_text("2 echo 1 > /sys/devices/system/cpu/cpu5/online\n"
                  "3 echo 8 > /sys/devices/system/cpu/probe\n"
                  "4 echo 1 > /sys/devices/system/cpu/cpu8/online\n")
    d = tmp_path / "t"
    assert main(["trace", "record", str(d), "--consumer", consumer, "--events", "120",
                 "--cmdline", "maxcpus=4", "--hotplug", str(hp)]) == 0
    trace = read_trace(str(d))
    assert {"channel0_5", "channel0_8"} <= set(trace)
    assert all(sum(len(p.events) for p in trace[f"channel0_{c}"]) > 0 for c in (5, 8))


def test_a_loop_over_delivered_that_stops_early_leaves_the_packet_unconsumed(tmp_path):
    """A consumer that breaks out of delivered() (or raises in its body) gives
    the sub-buffer it held back unconsumed: the next get takes it again, and
    the buffer is not left held for ever."""
    from kmodel.kernel import boot
    from kmodel.relay.layer_channel import ring_buffer_close, ring_buffer_open
    from kmodel.relay.rb_config import SwitchMode
    with boot("numa2") as k:
        k.modules.insmod("ltt_relay_alloc")
        rbc, _ = ring_buffer_open(k, "t", 4096, 4, "pagelist", "local", "lockless",
                                  "discard", "per-cpu")
        rb = rbc.buf_for(0)
        with k.on_cpu(0):
            for _ in range(200):
                run_now(k, rbc.layer.write(rb, b"x" * 40))
            run_now(k, rbc.layer.flush(rb, SwitchMode.FLUSH))
        c = CopyConsumer(k, rbc, str(tmp_path))
        for cpu, _, pos in c.delivered(None):
            first = pos
            break
        with pytest.raises(RuntimeError):
            for cpu, _, pos in c.delivered(None):
                raise RuntimeError("the disk is full")
        again = [pos for _, _, pos in c.delivered(None)]
        assert again[0] == first == 0 and len(again) == 3
        c.close()
        ring_buffer_close(rbc, "t")
