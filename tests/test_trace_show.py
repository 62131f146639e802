"""kmodel trace show refuses what babeltrace2 refuses, and reads its inputs
bounded: metadata that is empty, garbage or not kmodel's, a packet whose
content is larger than the packet, a FIFO or a device where a file should be."""
import os
import shutil
import struct
import subprocess

import pytest

from kmodel.cli.main import main

BASE = ["--events", "30", "--rate", "10", "--subbuf-size", "4k", "--machine", "numa2"]


@pytest.fixture
def trace(tmp_path):
    d = tmp_path / "t"
    assert main(["trace", "record", str(d), *BASE]) == 0
    return d


def show(d, capsys):
    rc = main(["trace", "show", str(d)])
    return rc, capsys.readouterr().err


def babeltrace_refuses(d):
    if shutil.which("babeltrace2") is None:
        return True                     # (nothing to compare with here)
    r = subprocess.run(["babeltrace2", str(d)], capture_output=True, text=True)
    return r.returncode != 0


@pytest.mark.parametrize("metadata, why", [
    (b"", "empty"),
    (b"\x00\xff garbage \xfe", "not text"),
    (b"/* CTF 1.8 */\ntrace { major = 1; };\n", "not the metadata kmodel writes"),
])
def test_metadata_babeltrace2_refuses_is_refused(trace, capsys, metadata, why):
    (trace / "metadata").write_bytes(metadata)
    rc, err = show(trace, capsys)
    assert rc == 2 and why in err and "Traceback" not in err
    assert babeltrace_refuses(trace)


def test_a_packet_whose_content_exceeds_its_size_is_refused(trace, capsys):
    stream = trace / "channel0_0"
    data = bytearray(stream.read_bytes())
    size = struct.unpack_from("<Q", data, 56)[0]
    struct.pack_into("<Q", data, 48, size + 64)     # content_size past packet_size
    stream.write_bytes(data)
    rc, err = show(trace, capsys)
    assert rc == 2 and "bad sizes" in err
    assert babeltrace_refuses(trace)


@pytest.mark.parametrize("where", ["metadata", "channel0_0"])
def test_a_fifo_in_a_trace_is_refused_without_blocking(trace, capsys, where):
    os.unlink(trace / where)
    os.mkfifo(trace / where)
    rc, err = show(trace, capsys)
    assert rc == 2 and "a FIFO" in err


def test_the_trace_itself_is_read(trace, capsys):
    assert main(["trace", "show", str(trace)]) == 0
    assert "channel0_0:" in capsys.readouterr().out


def test_counting_a_trace_agrees_with_decoding_it(trace):
    """trace record's table counts records without decoding them (a stop
    within a second): the same count as the decoder, and the same refusals."""
    from kmodel.consumer.ctf import TraceError, read_trace
    from kmodel.relay.packet import HDR
    decoded, counted = read_trace(str(trace)), read_trace(str(trace), decode_events=False)
    assert decoded.keys() == counted.keys()
    for name in decoded:
        assert [len(p.events) for p in decoded[name]] == [p.n_events for p in counted[name]]
        assert [p.n_events for p in decoded[name]] == [p.n_events for p in counted[name]]
    assert sum(p.n_events for ps in counted.values() for p in ps) > 100
    stream = trace / "channel0_0"
    data = bytearray(stream.read_bytes())
    # the first record's event id, in its compact header (the default): the
    # low 5 bits of the word after the packet header; 29 is no event's
    data[HDR] = (data[HDR] & ~0x1F) | 29
    stream.write_bytes(data)
    refusals = []
    for decode in (True, False):
        with pytest.raises(TraceError) as e:
            read_trace(str(trace), decode_events=decode)
        refusals.append(str(e.value))
    assert refusals[0] == refusals[1] and "bad event (id 29" in refusals[0]


def test_show_without_events_counts_records_and_keeps_none(trace, capsys, monkeypatch):
    """Without --events, trace show counts each packet's records and decodes
    no payload (a 769 MB trace took 24 s and 1.4 GB; now 3.5 s, 112 MB): the
    same lines as when every event is decoded."""
    import kmodel.consumer.ctf as ctf
    assert main(["trace", "show", str(trace), "--events"]) == 0
    full = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("    ")]
    monkeypatch.setattr(ctf, "decode", lambda *a: pytest.fail("a payload was decoded"))
    assert main(["trace", "show", str(trace)]) == 0
    assert capsys.readouterr().out.splitlines() == full and len(full) > 3
