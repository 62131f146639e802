"""The CTF index files `kmodel trace record` writes beside its streams
(DIR/index/<stream>.idx, kmodel/consumer/ctf_index.py), as lttng-tools'
consumer writes them: each entry is its packet's (offset, sizes in bits,
times, events discarded, stream ids, sequence number), for traces with
several packets a stream, losses and overwrite mode, from every consumer;
babeltrace2 takes them and prints the same events as without them; a wrong
index is refused by kmodel's reader and warned about by babeltrace2."""
import os
import shutil
import struct
import subprocess

import pytest

from kmodel.cli.main import main
from kmodel.consumer.ctf import TraceError, read_trace
from kmodel.consumer.ctf_index import (CTF_INDEX_MAGIC, ENTRY, FILE_HDR, CtfIndexError,
                                       check_trace_index, index_path, read_index_file,
                                       stream_index, write_index_file)
from kmodel.consumer.record import Recorder, RecordOptions
from kmodel.relay.packet import unpack_packet_header
from kmodel.relay.rb_config import Mode

BT2 = shutil.which("babeltrace2")
needs_bt2 = pytest.mark.skipif(BT2 is None, reason="babeltrace2 is not installed (Debian: "
                               "apt-get install babeltrace2)")


def record(path, **kw):
    path.mkdir()
    opts = dict(events=600, rate=16, subbuf_size=4096, n_subbufs=4, consumer_rate=1, seed=5)
    opts.update(kw)
    stats = Recorder(RecordOptions(**opts), str(path)).run()
    return stats


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    """Two traces with losses: discard mode (events_discarded grows) and
    overwrite mode (packet_seq_num has gaps)."""
    base = tmp_path_factory.mktemp("idx")
    out = {}
    for mode in (Mode.DISCARD, Mode.OVERWRITE):
        stats = record(base / mode.name.lower(), mode=mode)
        assert sum(s.lost for s in stats.values()) > 0
        out[mode] = base / mode.name.lower()
    return out


def entries_of(trace, stream):
    with open(index_path(str(trace), stream), "rb") as f:
        data = f.read()
    magic, major, minor, n = FILE_HDR.unpack_from(data)
    assert (magic, major, minor, n) == (CTF_INDEX_MAGIC, 1, 1, 72)
    assert (len(data) - 16) % 72 == 0
    return [ENTRY.unpack_from(data, 16 + 72 * i) for i in range((len(data) - 16) // 72)]


@pytest.mark.parametrize("mode", [Mode.DISCARD, Mode.OVERWRITE])
def test_each_entry_is_its_packets(traces, mode):
    trace = traces[mode]
    streams = sorted(n for n in os.listdir(trace) if n.startswith("channel0_"))
    decoded = read_trace(str(trace))
    assert sorted(os.listdir(trace / "index")) == [s + ".idx" for s in streams]
    gaps = discarded = 0
    for name in streams:
        packets = decoded[name]
        entries = entries_of(trace, name)
        assert len(entries) == len(packets) > 2
        size = os.path.getsize(trace / name)
        raw = (trace / name).read_bytes()
        for i, (e, p) in enumerate(zip(entries, packets)):
            (offset, packet_size, content_size, ts_begin, ts_end, disc, stream_id,
             instance, seq) = e
            h = unpack_packet_header(raw, p.offset)
            end = entries[i + 1][0] if i + 1 < len(entries) else size
            assert offset == p.offset
            assert packet_size == (end - offset) * 8 == h.packet_size
            assert content_size == p.content * 8
            assert (ts_begin, ts_end) == (p.ts_begin, p.ts_end)
            assert disc == p.events_discarded
            assert seq == p.seq
            assert stream_id == 0 and instance == h.stream_instance_id == p.cpu
        gaps += sum(b[8] - a[8] - 1 for a, b in zip(entries, entries[1:]))
        discarded += entries[-1][5]
    if mode is Mode.OVERWRITE:
        assert gaps > 0             # overwritten packets: the sequence numbers skip
    else:
        assert discarded > 0 and gaps == 0


@pytest.mark.parametrize("consumer", ["read", "mmap"])
def test_every_consumer_gets_its_streams_index(traces, tmp_path, consumer):
    """The index is written from the streams (write_trace_index), so a consumer
    in another process (mmap) or one that copies (read) gets one too: each
    entry its packet's; the read consumer's streams are the splice one's, and
    so is its index."""
    record(tmp_path / "t", consumer=consumer, mode=Mode.DISCARD)
    counts = check_trace_index(str(tmp_path / "t"))
    packets = read_trace(str(tmp_path / "t"))
    assert counts == {name: len(ps) for name, ps in packets.items()}
    if consumer == "read":
        for name in os.listdir(traces[Mode.DISCARD] / "index"):
            assert (tmp_path / "t" / "index" / name).read_bytes() == \
                (traces[Mode.DISCARD] / "index" / name).read_bytes()


def test_a_snapshot_has_no_index_as_in_lttng(tmp_path):
    record(tmp_path / "t", snapshot_at=8, consumer_rate=None, events=400)
    assert not os.path.exists(tmp_path / "t" / "snapshot-8" / "index")
    assert os.path.isdir(tmp_path / "t" / "index")
    read_trace(str(tmp_path / "t" / "snapshot-8"))


def corrupt(trace, tmp_path, how):
    """A copy of trace whose channel0_0 index is wrong in one way."""
    bad = tmp_path / "bad"
    shutil.copytree(trace, bad)
    path = index_path(str(bad), "channel0_0")
    entries = stream_index(str(bad / "channel0_0"))
    if how == "packet_size in bytes":
        entries = [e._replace(packet_size=e.packet_size // 8) for e in entries]
    elif how == "an offset":
        entries[1] = entries[1]._replace(offset=entries[1].offset + 8)
    elif how == "a sequence number":
        entries[2] = entries[2]._replace(packet_seq_num=entries[2].packet_seq_num + 1)
    write_index_file(path, entries)
    return bad


@pytest.mark.parametrize("how, says", [
    ("packet_size in bytes", "add up to"),
    ("an offset", "entry 1: offset"),
    ("a sequence number", "entry 2: packet_seq_num"),
])
def test_a_wrong_index_is_refused_by_name(traces, tmp_path, capsys, how, says):
    bad = corrupt(traces[Mode.DISCARD], tmp_path, how)
    with pytest.raises(TraceError, match=says):
        read_trace(str(bad))
    assert main(["trace", "show", str(bad)]) != 0
    err = capsys.readouterr().err
    assert says in err and "channel0_0.idx" in err and "Traceback" not in err


def test_index_files_babeltrace2_refuses_are_refused(traces, tmp_path):
    """What build_index_from_idx_file checks: magic, major 1, an entry at least
    1.0's, whole entries, bit sizes in whole bytes, offsets going forward."""
    path = index_path(str(traces[Mode.DISCARD]), "channel0_0")
    good = open(path, "rb").read()
    cases = {
        "bad magic": b"\0" * 4 + good[4:],
        "only major 1": good[:4] + struct.pack(">I", 2) + good[8:],
        "shorter than a 1.0 entry": good[:12] + struct.pack(">I", 8) + good[16:],
        "not a whole number": good[:-1],
        "shorter than the index header": good[:10],
    }
    for says, data in cases.items():
        p = tmp_path / "x.idx"
        p.write_bytes(data)
        with pytest.raises(CtfIndexError, match=says):
            read_index_file(str(p))


def test_an_index_1_0_is_read_without_the_1_1_fields(traces, tmp_path):
    trace = traces[Mode.DISCARD]
    entries = stream_index(str(trace / "channel0_1"))
    p = tmp_path / "old.idx"
    write_index_file(str(p), entries, 1, 0)
    assert len(p.read_bytes()) == 16 + 56 * len(entries)
    major, minor, got = read_index_file(str(p), os.path.getsize(trace / "channel0_1"))
    assert (major, minor) == (1, 0)
    assert [e[:7] for e in got] == [e[:7] for e in entries]
    assert {e.packet_seq_num for e in got} == {2 ** 64 - 1}


def test_a_missing_index_file_is_named(traces, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(traces[Mode.DISCARD], bad)
    os.unlink(index_path(str(bad), "channel0_3"))
    with pytest.raises(CtfIndexError, match="channel0_3.idx: missing"):
        check_trace_index(str(bad))


def bt2(*args):
    r = subprocess.run([BT2, *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


@needs_bt2
@pytest.mark.parametrize("mode", [Mode.DISCARD, Mode.OVERWRITE])
def test_babeltrace2_uses_the_index_and_prints_the_same_events(traces, tmp_path, mode):
    trace = traces[mode]
    bare = tmp_path / "bare"
    shutil.copytree(trace, bare)
    shutil.rmtree(bare / "index")
    with_index = bt2("--log-level=INFO", trace)
    assert with_index.stderr.count("Building index from .idx file") == \
        len(os.listdir(trace / "index"))
    assert "Invalid LTTng trace index" not in with_index.stderr
    assert with_index.stdout == bt2(bare).stdout != ""


@needs_bt2
@pytest.mark.parametrize("how, warns", [
    ("packet_size in bytes", "indexed size != stream file size"),
    ("an offset", "Invalid LTTng trace index"),
])
def test_babeltrace2_warns_about_a_wrong_index(traces, tmp_path, how, warns):
    """The test above would see these: babeltrace2 says so, and reads the
    stream without the index."""
    bad = corrupt(traces[Mode.DISCARD], tmp_path, how)
    r = subprocess.run([BT2, str(bad)], capture_output=True, text=True)
    assert warns in r.stderr or r.returncode != 0
