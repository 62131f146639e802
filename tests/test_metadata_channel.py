"""The metadata file as LTTng writes it: metadata packets
(kmodel/consumer/metadata_channel.py), each with lttng-modules'
metadata_packet_header (magic 0x75D11D57, the trace's UUID, sizes in bits,
version 1.8), 4096 bytes each, carrying the TSDL text in order.  kmodel's
reader takes packets and plain text alike, and refuses bad packets by name;
babeltrace2 reads the packets as it reads the text."""
import os
import shutil
import struct
import subprocess
import uuid as uuidlib

import pytest

from kmodel.cli.main import main
from kmodel.consumer.ctf import TraceError, metadata, read_trace
from kmodel.consumer.metadata_channel import (METADATA_HDR, MetadataError,
                                              lttng_metadata_packets, metadata_file_text,
                                              metadata_packets)
from kmodel.consumer.record import Recorder, RecordOptions

BT2 = shutil.which("babeltrace2")
needs_bt2 = pytest.mark.skipif(BT2 is None, reason="babeltrace2 is not installed (Debian: "
                               "apt-get install babeltrace2)")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    out = tmp_path_factory.mktemp("meta") / "t"
    out.mkdir()
    rec = Recorder(RecordOptions(events=200, seed=11, snapshot_at=4), str(out))
    rec.run()
    return out, rec


def test_the_metadata_file_is_packets_of_the_trace(recorded):
    out, rec = recorded
    data = (out / "metadata").read_bytes()
    text = rec.metadata_text.encode()
    trace_uuid = uuidlib.UUID(rec.metadata_text.split('uuid = "')[1][:36]).bytes
    assert len(data) % 4096 == 0 and len(data) // 4096 == -(-len(text) // (4096 - 37)) > 1
    got = b""
    for i in range(len(data) // 4096):
        p = data[i * 4096:(i + 1) * 4096]
        # struct metadata_packet_header, field by field at its offset (little-endian)
        assert p[0:4] == bytes.fromhex("571dd175")                  # 0x75D11D57
        assert p[4:20] == trace_uuid == rec.rbc.uuid
        checksum, content, size = struct.unpack_from("<III", p, 20)
        assert checksum == 0 and size == 4096 * 8
        assert p[32:37] == bytes([0, 0, 0, 1, 8])                  # schemes; CTF 1.8
        last = i == len(data) // 4096 - 1
        assert content == (37 + len(text) - len(got) if last else 4096) * 8
        got += p[37:content // 8]
        assert p[content // 8:] == bytes(4096 - content // 8)      # zero padding
    assert got == text


def test_packets_are_cut_where_the_client_cuts_them():
    """lttng_packet_avail_size: a packet holds 4096 - 37 bytes of text."""
    u = bytes(range(16))
    one = lttng_metadata_packets(b"x" * (4096 - METADATA_HDR), u)
    two = lttng_metadata_packets(b"x" * (4096 - METADATA_HDR + 1), u)
    assert len(one) == 4096 and len(two) == 8192
    assert [p.content_size // 8 for p in metadata_packets(two)] == [4096, METADATA_HDR + 1]
    assert lttng_metadata_packets(b"", u) == b""
    text = metadata().encode()
    assert metadata_file_text(lttng_metadata_packets(text, u)) == (text, u)
    assert metadata_file_text(text) == (text, None)


def test_a_snapshot_writes_packets_too(recorded):
    out, rec = recorded
    data = (out / "snapshot-4" / "metadata").read_bytes()
    assert metadata_file_text(data) == (rec.metadata_text.encode(), rec.rbc.uuid)
    read_trace(str(out / "snapshot-4"))


def test_kmodel_reads_packets_and_plain_text_alike(recorded, tmp_path):
    out, rec = recorded
    plain = tmp_path / "plain"
    shutil.copytree(out, plain)
    (plain / "metadata").write_text(rec.metadata_text)
    a, b = read_trace(str(out)), read_trace(str(plain))
    assert [p.events for ps in a.values() for p in ps] == \
        [p.events for ps in b.values() for p in ps] != []


def spoil(data, how):
    d = bytearray(data)
    if how == "bad metadata packet magic":
        d[4096:4100] = b"\0\0\0\0"
    elif how == "UUID differs from the first packet's":
        d[4096 + 4] ^= 1
    elif how == "is not the trace's":
        for at in range(0, len(d), 4096):
            d[at + 4] ^= 1
    elif how == "version 1.7":
        d[36] = 7
    elif how == "bad sizes":
        d[24:28] = struct.pack("<I", 8 * 10)
    elif how == "truncated metadata packet":
        del d[-100:]
    elif how == "compression":
        d[32] = 1
    return bytes(d)


@pytest.mark.parametrize("how", ["bad metadata packet magic",
                                 "UUID differs from the first packet's",
                                 "is not the trace's", "version 1.7", "bad sizes",
                                 "truncated metadata packet", "compression"])
def test_bad_packets_are_refused_by_name(recorded, tmp_path, capsys, how):
    out, _ = recorded
    bad = tmp_path / "bad"
    shutil.copytree(out, bad, ignore=shutil.ignore_patterns("snapshot-*"))
    (bad / "metadata").write_bytes(spoil((out / "metadata").read_bytes(), how))
    with pytest.raises(TraceError, match=how):
        read_trace(str(bad))
    assert main(["trace", "show", str(bad)]) != 0
    err = capsys.readouterr().err
    assert how in err and "Traceback" not in err


def test_a_bad_uuid_argument_is_refused():
    with pytest.raises(ValueError, match="16 bytes"):
        lttng_metadata_packets("x", b"short")
    with pytest.raises(MetadataError, match="offset 0: truncated"):
        metadata_packets(b"\x57\x1d\xd1\x75" + bytes(10))


@needs_bt2
def test_babeltrace2_reads_the_packets_as_the_text(recorded, tmp_path):
    out, rec = recorded
    plain = tmp_path / "plain"
    shutil.copytree(out, plain, ignore=shutil.ignore_patterns("snapshot-*"))
    (plain / "metadata").write_text(rec.metadata_text)
    runs = [subprocess.run([BT2, str(d)], capture_output=True, text=True)
            for d in (out, plain)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr[-2000:]
    assert runs[0].stdout == runs[1].stdout != ""
    meta = subprocess.run([BT2, "--output-format=ctf-metadata", str(out)],
                          capture_output=True, text=True)
    assert meta.returncode == 0, meta.stderr[-2000:]
    assert meta.stdout == rec.metadata_text + "\n"     # the text it decoded (and a newline)
    assert os.path.getsize(out / "metadata") % 4096 == 0
