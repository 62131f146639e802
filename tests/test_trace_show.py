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
