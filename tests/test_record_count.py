"""Counting a packet's records (what `trace record`'s table does at a stop,
kmodel/consumer/ctf.py `_count_lttng_records`) against decoding them, the
model: the same count, and the same refusal at the same offset, on records
with LTTng's compact and large headers in both forms, followed by garbage and
cut anywhere."""
import zlib

import pytest
from hypothesis import given, settings, strategies as st

from kmodel.consumer.ctf import EVENT_CLASSES, TraceError, _lttng_records
from kmodel.relay.event_header import FULL_TSC, header_of

CLASSES = {c.id: c for c in EVENT_CLASSES if c.tail is None or c.tail[1] != "payload"}
UNKNOWN = 20                                    # no class has it
STRUCTURAL = ("truncated event header", "bad event")


def payload(cls, draw):
    """A payload of class cls that decodes (a blob's crc matches its data)."""
    fixed = draw(st.binary(min_size=cls.layout.size, max_size=cls.layout.size))
    if cls.tail is None:
        return fixed
    if cls.tail[1] == "string":
        return fixed + draw(st.binary(max_size=12)).replace(b"\0", b"a") + b"\0"
    data = draw(st.binary(max_size=300))
    values = dict(zip(cls.fixed, cls.layout.unpack(fixed)))
    values.update(len=len(data), crc=zlib.crc32(data))
    return cls.layout.pack(*[values[n] for n in cls.fixed]) + data


@st.composite
def packets(draw):
    header = header_of(draw(st.sampled_from(["compact", "large"])))
    data = bytearray()
    for _ in range(draw(st.integers(0, 25))):
        event_id = draw(st.sampled_from(sorted(CLASSES) + [UNKNOWN, 40, 70000]))
        cls = CLASSES.get(event_id)
        body = payload(cls, draw) if cls else draw(st.binary(max_size=8))
        tsc = draw(st.integers(0, 1 << 40))
        extended = event_id > header.max_id or draw(st.booleans())
        if event_id > 65534 and header.max_id < 65534:
            extended = True
        if event_id > 0xFFFFFFFF:
            continue
        data += header.record(event_id, tsc | (FULL_TSC if extended else 0), body)
    data += draw(st.binary(max_size=20))        # garbage after the records
    end = draw(st.integers(0, len(data)))
    return header, bytes(data), end


def outcome(data, end, header, decode):
    try:
        events, n = _lttng_records(data, 0, end, "s", CLASSES, header, 0, decode)
    except TraceError as e:
        return "error", str(e)
    return "count", len(events) if decode else n


@settings(max_examples=400, deadline=None)
@given(packets())
def test_counting_agrees_with_decoding(packet):
    header, data, end = packet
    decoded = outcome(data, end, header, True)
    counted = outcome(data, end, header, False)
    if decoded[0] == "error" and not any(s in decoded[1] for s in STRUCTURAL):
        # a payload the decoder refuses for its content (garbage that reads
        # as a blob with a wrong crc): the count measures, it does not decode
        return
    assert counted == decoded


def test_an_extended_header_is_measured_at_its_size():
    """One compact record in the extended form, then one in the compact: two,
    however the first's 13-byte header is read."""
    header = header_of("compact")
    cls = CLASSES[9]                            # softirq_raise: 4 bytes
    data = (header.record(9, 5 | FULL_TSC, bytes(4)) + header.record(9, 6, bytes(4)))
    assert outcome(data, len(data), header, False) == ("count", 2)
    assert len(data) == 13 + 4 + 4 + cls.layout.size
