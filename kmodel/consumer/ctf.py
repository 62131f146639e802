"""CTF 1.8: the metadata that says what kmodel's packets mean, and a small reader.

A sub-buffer of the sub-buffer layer (kmodel/relay/ring_buffer.py) is already a
CTF packet: its 64-byte header is the trace's packet header (``magic``) followed,
at the next 8-byte boundary, by the stream's packet context
(``timestamp_begin``, ``timestamp_end``, ``content_size`` and ``packet_size`` in
bits, ``packet_seq_num``, ``events_discarded``, ``cpu_id``), and each record's 16-byte header is
the stream's event header (``timestamp``, ``payload_size``, ``id``, aligned to
64 bits: TSDL counts alignment in bits).  So a consumer writes a stream file by appending whole sub-buffers as they
are (splice.py), and the ``metadata`` file below lets babeltrace2, or
``read_trace`` here, decode them.  Discarded events show as the difference of
``events_discarded`` between packets; overwritten packets as gaps in
``packet_seq_num``.

The event classes are the synthetic ones of ``kmodel trace record``.  Every
payload starts with ``seq``, the event's number on its CPU, so that a reader
can tell which events are missing.
"""
import mmap
import os
import re
import struct
import zlib
from dataclasses import dataclass, field

from hw.hostfile import HostFileError, check_regular_file, read_regular_file
from kmodel.relay.packet import (HDR, PACKET_MAGIC, REC, record_size, unpack_packet_header,
                                 unpack_record_header)


def stream_name(cpu):
    """stream_name - the stream file of a buffer: channel0_<cpu>, or
    channel0_global for a channel's one global buffer (cpu None)."""
    return f"channel0_{'global' if cpu is None else cpu}"


class TraceError(ValueError):
    """A trace directory that cannot be read; the message names the file and offset."""


VARIABLE = ("len", "payload")           # field codes of a variable length


@dataclass(frozen=True)
class EventClass:
    id: int
    name: str
    fields: tuple               # (name, struct code) in order; "len": uint8[len],
                                # "payload": uint8[the whole payload]
    # derived from fields: the fixed fields' names and their struct layout
    fixed: tuple = field(init=False, repr=False, compare=False)
    layout: struct.Struct = field(init=False, repr=False, compare=False)
    variable: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        fixed = [f for f in self.fields if f[1] not in VARIABLE]
        object.__setattr__(self, "fixed", tuple(n for n, _ in fixed))
        object.__setattr__(self, "layout", struct.Struct("<" + "".join(c for _, c in fixed)))
        object.__setattr__(self, "variable", any(c in VARIABLE for _, c in self.fields))


EVENT_CLASSES = (
    EventClass(0, "sched_switch", (("seq", "Q"), ("prev_tid", "I"), ("next_tid", "I"),
                                   ("prev_state", "I"), ("cpu", "I"))),
    EventClass(1, "irq_handler_entry", (("seq", "Q"), ("irq", "I"), ("vector", "I"))),
    EventClass(2, "irq_handler_exit", (("seq", "Q"), ("irq", "I"), ("ret", "I"))),
    EventClass(3, "blob", (("seq", "Q"), ("len", "I"), ("crc", "I"), ("data", "len"))),
    EventClass(4, "shell_write", (("data", "payload"),)),     # the shell's relay write
)
BY_ID = {c.id: c for c in EVENT_CLASSES}
SHELL_WRITE = 4
_TSDL_TYPE = {"Q": "uint64_t", "I": "uint32_t"}


def raw_class(event_id):
    """raw_class - the class of a record whose id no kmodel event has (a crash
    region's records, written by code of its own): its payload, as bytes."""
    return EventClass(event_id, f"record_{event_id}", (("data", "payload"),))


def encode(cls, values):
    """encode - the payload bytes of an event of class cls from its field values."""
    out = cls.layout.pack(*[values[n] for n in cls.fixed])
    if cls.variable:
        out += values["data"]
    return out


def decode(cls, payload):
    """decode - {field: value} of an event's payload (TraceError if it is short)."""
    if cls.fields == (("data", "payload"),):
        return {"data": bytes(payload)}
    layout = cls.layout
    need = layout.size
    if len(payload) < need:
        raise TraceError(f"{cls.name} payload of {len(payload)} bytes, needs {need}")
    values = dict(zip(cls.fixed, layout.unpack_from(payload)))
    if cls.name == "blob":
        data = payload[need:need + values["len"]]
        if len(data) != values["len"] or zlib.crc32(data) != values["crc"]:
            raise TraceError(f"blob {values['seq']}: data does not match its length or crc")
        values["data"] = data
    return values


def metadata(hostname="kmodel", release="2.6.29-kmodel", raw_ids=()):
    """metadata - the TSDL text of a kmodel trace; raw_ids are record ids no
    kmodel event has, each declared as its payload's bytes (raw_class)."""
    events = []
    for c in EVENT_CLASSES + tuple(raw_class(i) for i in sorted(raw_ids) if i not in BY_ID):
        fields = []
        for name, code in c.fields:
            if code == "len":
                fields.append(f"\t\tuint8_t {name}[len];")
            elif code == "payload":
                fields.append(f"\t\tuint8_t {name}[stream.event.header.payload_size];")
            else:
                fields.append(f"\t\t{_TSDL_TYPE[code]} {name};")
        events.append(f"event {{\n\tname = \"{c.name}\";\n\tid = {c.id};\n"
                      f"\tfields := struct {{\n" + "\n".join(fields) + "\n\t};\n};\n")
    return f"""/* CTF 1.8 */

typealias integer {{ size = 8; align = 8; signed = false; }} := uint8_t;
typealias integer {{ size = 32; align = 32; signed = false; }} := uint32_t;
typealias integer {{ size = 64; align = 64; signed = false; }} := uint64_t;

trace {{
\tmajor = 1;
\tminor = 8;
\tbyte_order = le;
\tpacket.header := struct {{
\t\tuint32_t magic;
\t}};
}};

env {{
\thostname = "{hostname}";
\tdomain = "kernel";
\tsysname = "Linux";
\tkernel_release = "{release}";
\ttracer_name = "kmodel";
\tkmodel_trace = 1;
}};

clock {{
\tname = "monotonic";
\tdescription = "kmodel trace clock: one tick a reservation attempt";
\tfreq = 1000000000;
\toffset = 0;
}};

typealias integer {{ size = 64; align = 64; signed = false; map = clock.monotonic.value; }} := uint64_clock_t;

stream {{
\tpacket.context := struct {{
\t\tuint64_clock_t timestamp_begin;
\t\tuint64_clock_t timestamp_end;
\t\tuint64_t content_size;
\t\tuint64_t packet_size;
\t\tuint64_t packet_seq_num;
\t\tuint64_t events_discarded;
\t\tuint32_t cpu_id;
\t}};
\tevent.header := struct {{
\t\tuint64_clock_t timestamp;
\t\tuint32_t payload_size;
\t\tuint32_t id;
\t}} align(64);
}};

""" + "\n".join(events)


@dataclass
class Packet:
    file: str
    offset: int                 # in the stream file
    cpu: int
    ts_begin: int
    ts_end: int
    seq: int
    events_discarded: int
    events: list                # (timestamp, class name, {field: value})


METADATA_LIMIT = 1 << 20
STREAM_LIMIT = 1 << 40
_RAW_DECL = re.compile(r'event \{\n\tname = "record_(\d+)";\n\tid = (\d+);')


def check_metadata(path):
    """check_metadata - the event classes of the trace whose metadata file is
    path, or a TraceError if it is not metadata kmodel writes: this reader
    decodes kmodel's layout only, so it takes only the text that declares it
    (byte for byte, with the raw classes it declares), where babeltrace2
    would refuse what is not CTF and read any CTF that is."""
    try:
        text = read_regular_file(path, METADATA_LIMIT, "metadata file").decode("utf-8")
    except HostFileError as e:
        raise TraceError(str(e)) from None
    except UnicodeDecodeError:
        raise TraceError(f"{path}: not text: not CTF metadata") from None
    raw = {int(i) for name_id, i in _RAW_DECL.findall(text) if name_id == i}
    if not text.strip():
        raise TraceError(f"{path}: empty: not CTF metadata")
    if text != metadata(raw_ids=raw):
        raise TraceError(f"{path}: not the metadata kmodel writes (kmodel trace show reads "
                         "kmodel's traces; babeltrace2 reads any CTF trace)")
    return {**BY_ID, **{i: raw_class(i) for i in raw if i not in BY_ID}}


def read_stream(path, classes=BY_ID):
    """read_stream - the packets of one stream file, decoded with classes
    ({event id: EventClass}).  The file is mapped, not read whole."""
    try:
        check_regular_file(path, STREAM_LIMIT, "stream file")
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    except HostFileError as e:
        raise TraceError(str(e)) from None
    except OSError as e:
        raise TraceError(f"{path}: {e.strerror}") from None
    try:
        return _packets(data, os.path.basename(path), classes)
    finally:
        if size:
            data.close()


def _packets(data, name, classes):
    packets = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < HDR:
            raise TraceError(f"{name}: offset {pos}: truncated packet header "
                             f"({len(data) - pos} of {HDR} bytes)")
        h = unpack_packet_header(data, pos)
        content, size = h.content_size, h.packet_size
        if h.magic != PACKET_MAGIC:
            raise TraceError(f"{name}: offset {pos}: bad packet magic {h.magic:#x}")
        if size % 8 or content % 8 or content > size or size // 8 < HDR:
            raise TraceError(f"{name}: offset {pos}: bad sizes (content {content} bits, "
                             f"packet {size} bits)")
        if pos + size // 8 > len(data):
            raise TraceError(f"{name}: offset {pos}: truncated packet "
                             f"({len(data) - pos} of {size // 8} bytes)")
        events = []
        at = pos + HDR
        end = pos + content // 8
        while at < end:
            if end - at < REC:
                raise TraceError(f"{name}: offset {at}: truncated event header")
            r = unpack_record_header(data, at)
            cls = classes.get(r.id)
            if cls is None or at + REC + r.payload_size > end:
                raise TraceError(f"{name}: offset {at}: bad event (id {r.id}, "
                                 f"{r.payload_size} bytes)")
            try:
                values = decode(cls, data[at + REC:at + REC + r.payload_size])
            except TraceError as e:
                raise TraceError(f"{name}: offset {at}: {e}") from None
            events.append((r.timestamp, cls.name, values))
            at += record_size(r.payload_size)
        packets.append(Packet(name, pos, h.cpu_id, h.timestamp_begin, h.timestamp_end,
                              h.packet_seq_num, h.events_discarded, events))
        pos += size // 8
    return packets


def read_trace(path):
    """read_trace - {stream file name: [Packet]} of a trace directory kmodel
    wrote: its metadata checked (check_metadata), every other file a stream."""
    if not os.path.isdir(path):
        raise TraceError(f"{path}: not a directory")
    if not os.path.lexists(os.path.join(path, "metadata")):
        raise TraceError(f"{path}: no metadata file: not a CTF trace")
    classes = check_metadata(os.path.join(path, "metadata"))
    return {name: read_stream(os.path.join(path, name), classes)
            for name in sorted(os.listdir(path))
            if name != "metadata" and not name.startswith(".") and
            not os.path.isdir(os.path.join(path, name))}      # (a snapshot-TICK trace)
