"""The packet module (kmodel/relay/packet.py): the layouts with named fields, and
readers that load the layout and not the kernel."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmodel.relay.packet import (HDR, PACKET_HEADER, REC, PacketHeader, RecordHeader,
                                 pack_packet_header, record_size, unpack_packet_header,
                                 unpack_record_header, RECORD_HEADER)

ROOT = Path(__file__).resolve().parent.parent
u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)


@given(st.builds(PacketHeader, u32, u64, u64, u64, u64, u64, u64, u32, st.binary(min_size=16, max_size=16),
                 u32, u64))
def test_a_header_packs_and_unpacks_field_by_field(h):
    raw = pack_packet_header(h)
    assert len(raw) == HDR == 84
    assert unpack_packet_header(raw) == h
    assert unpack_packet_header(b"\0" * 8 + raw, 8) == h


def test_the_fields_sit_where_a_ctf_reader_looks():
    """Each named field at the offset the metadata's alignment gives it."""
    h = PacketHeader(magic=1, timestamp_begin=2, timestamp_end=3, content_size=4,
                     packet_size=5, packet_seq_num=6, events_discarded=7, cpu_id=8,
                     uuid=bytes(range(16)), stream_id=9, stream_instance_id=10)
    raw = pack_packet_header(h)
    assert raw[4:20] == bytes(range(16))
    at = {"magic": (0, 4), "stream_id": (20, 4), "stream_instance_id": (24, 8),
          "timestamp_begin": (32, 8), "timestamp_end": (40, 8),
          "content_size": (48, 8), "packet_size": (56, 8), "packet_seq_num": (64, 8),
          "events_discarded": (72, 8), "cpu_id": (80, 4)}
    for name, (off, size) in at.items():
        assert int.from_bytes(raw[off:off + size], "little") == getattr(h, name), name
    assert PACKET_HEADER.size == HDR


@given(u64, u32, u32)
def test_a_record_header_by_name(ts, size, eid):
    raw = RECORD_HEADER.pack(ts, size, eid)
    assert unpack_record_header(raw) == RecordHeader(timestamp=ts, payload_size=size, id=eid)
    assert REC == len(raw) == 16


@given(st.integers(0, 1 << 20))
def test_record_size_is_header_and_payload_packed(n):
    assert record_size(n) == REC + n


def kmodel_modules_loaded_by(module):
    code = (f"import sys, {module}\n"
            "print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('kmodel', 'hw'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    return out.split()


@pytest.mark.parametrize("reader", ["kmodel.consumer.mmap_consumer", "kmodel.consumer.crash"])
def test_readers_of_packets_load_the_layout_not_the_kernel(reader):
    """The out-of-process consumer and the crash extractor import the packet
    layout and what they need to read it, and no part of the kernel: 10-15
    modules of ours each (the crash reader: the region's layout, its sub-buffer
    table and ids, the CTF writer with its index and metadata packets), where
    each used to load 46 and 48."""
    loaded = kmodel_modules_loaded_by(reader)
    assert "kmodel.relay.packet" in loaded
    kernel = [m for m in loaded if m.startswith(("kmodel.kernel", "kmodel.mm", "kmodel.cpu",
                                                 "kmodel.fs", "kmodel.cli", "hw.timing",
                                                 "hw.topology", "kmodel.relay.ring_buffer",
                                                 "kmodel.relay.relay_alloc"))]
    assert kernel == [] and len(loaded) <= 15, loaded


UNPACKERS = ("unpack_packet_header", "unpack_record_header")


def headers_read_by_position(tree):
    """Lines where a header is read by position: unpack_...(...)[i], or the
    tuple it returns unpacked into names, directly or through a name it was
    bound to (h = unpack_...(...); a, b, ... = h)."""
    bound = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
             and isinstance(node.value, ast.Call)
             and getattr(node.value.func, "id", None) in UNPACKERS
             for t in node.targets if isinstance(t, ast.Name)}
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call) and \
                getattr(node.value.func, "id", None) in UNPACKERS:
            bad.append(node.lineno)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Tuple)
                                                  for t in node.targets):
            v = node.value
            if (isinstance(v, ast.Call) and getattr(v.func, "id", None) in UNPACKERS) or \
                    (isinstance(v, ast.Name) and v.id in bound):
                bad.append(node.lineno)
    return sorted(bad)


def test_no_packet_header_field_is_read_by_position():
    """A packet header is read by field name, never by position."""
    bad = [f"{p.relative_to(ROOT)}:{line}" for p in (ROOT / "kmodel").rglob("*.py")
           for line in headers_read_by_position(ast.parse(p.read_text()))]
    assert bad == []


def test_the_position_check_sees_each_form():
    code = ("a = unpack_packet_header(b)[6]\n"
            "m, t, *rest = unpack_packet_header(b)\n"
            "h = unpack_record_header(b)\n"
            "ts, size, eid = h\n"
            "ok = unpack_packet_header(b).packet_seq_num\n")
    assert headers_read_by_position(ast.parse(code)) == [1, 2, 4]
