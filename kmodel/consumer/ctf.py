"""CTF 1.8: the metadata that says what kmodel's packets mean, and a small reader.

A sub-buffer of the sub-buffer layer (kmodel/relay/ring_buffer.py) is already a
CTF packet: its 84-byte header is lttng-modules' trace packet header
(``magic``, ``uuid``, ``stream_id``, ``stream_instance_id``) and stream packet
context (``timestamp_begin``, ``timestamp_end``, ``content_size`` and
``packet_size`` in bits, ``packet_seq_num``, ``events_discarded``,
``cpu_id``), and each record's header is the stream's event header: LTTng's
compact or large one (kmodel/relay/event_header.py), or kmodel's own 16 bytes
(``timestamp``, ``payload_size``, ``id``).  All of it is packed (TSDL
alignment 8 bits), as lttng-modules writes on x86.  So a consumer writes a
stream file by appending whole sub-buffers as they are (splice.py), and the
``metadata`` file below, laid out as lttng-modules' metadata statedump
writes it (src/lttng-events.c, _lttng_session_metadata_statedump, v2.13.9:
trace UUID, env with the tracer's name and version, a clock with an offset
from the Epoch), lets babeltrace2, lttng-analyses, or ``read_trace`` here,
decode them.  Discarded events show as the difference of
``events_discarded`` between packets; overwritten packets as gaps in
``packet_seq_num``.

The event classes are those of ``kmodel trace record``'s workloads: the
synthetic one's (``kmodel_*`` and ``blob``), whose payloads start with
``seq``, the event's number on its CPU, so that a reader can tell which
events are missing; and lttng-modules' kernel events with their fields
(lttng_events.py), which the scheduler workload writes.
"""
import mmap
import os
import re
import struct
import time
import uuid as uuidlib
import zlib
from dataclasses import dataclass, field

from hw.hostfile import HostFileError, check_regular_file, read_regular_file
from kmodel.consumer.ctf_index import CtfIndexError, check_trace_index, stream_files
from kmodel.consumer.metadata_channel import MetadataError, metadata_file_text
from kmodel.consumer.trace_dir import session_trace
from kmodel.relay.event_header import HeaderType, RecordError, header_of
from kmodel.relay.packet import (HDR, PACKET_MAGIC, REC, RECORD_HEADER, record_size,
                                 unpack_packet_header, unpack_record_header)


def stream_name(cpu):
    """stream_name - the stream file of a buffer: channel0_<cpu>, or
    channel0_global for a channel's one global buffer (cpu None)."""
    return f"channel0_{'global' if cpu is None else cpu}"


class TraceError(ValueError):
    """A trace directory that cannot be read; the message names the file and offset."""


VARIABLE = ("len", "payload", "string")     # field codes of a variable length (last)
COMM = "16s"                                # a task's comm: char[TASK_COMM_LEN], text


@dataclass(frozen=True)
class EventClass:
    id: int
    name: str
    fields: tuple               # (name, struct code) in order; "len": uint8[len],
                                # "payload": uint8[the whole payload], "string": a
                                # NUL-ended string; "16s": char[16] text
    # derived from fields: the fixed fields' names and their struct layout
    fixed: tuple = field(init=False, repr=False, compare=False)
    layout: struct.Struct = field(init=False, repr=False, compare=False)
    variable: bool = field(init=False, repr=False, compare=False)
    texts: tuple = field(init=False, repr=False, compare=False)     # the COMM fields
    tail: tuple | None = field(init=False, repr=False, compare=False)   # (name, code)
    len_at: int | None = field(init=False, repr=False, compare=False)   # "len" in fixed

    def __post_init__(self):
        fixed = [f for f in self.fields if f[1] not in VARIABLE]
        names = tuple(n for n, _ in fixed)
        tail = self.fields[-1] if self.fields and self.fields[-1][1] in VARIABLE else None
        object.__setattr__(self, "fixed", names)
        object.__setattr__(self, "layout", struct.Struct("<" + "".join(c for _, c in fixed)))
        object.__setattr__(self, "variable", tail is not None)
        object.__setattr__(self, "texts", tuple(n for n, c in fixed if c == COMM))
        object.__setattr__(self, "tail", tail)
        object.__setattr__(self, "len_at", names.index("len") if "len" in names else None)


EVENT_CLASSES = (
    EventClass(0, "kmodel_switch", (("seq", "Q"), ("prev_tid", "I"), ("next_tid", "I"),
                                    ("prev_state", "I"), ("cpu", "I"))),
    EventClass(1, "kmodel_irq_entry", (("seq", "Q"), ("irq", "I"), ("vector", "I"))),
    EventClass(2, "kmodel_irq_exit", (("seq", "Q"), ("irq", "I"), ("ret", "I"))),
    EventClass(3, "blob", (("seq", "Q"), ("len", "I"), ("crc", "I"), ("data", "len"))),
    EventClass(4, "shell_write", (("data", "payload"),)),     # the shell's relay write
    # lttng-modules' (include/instrumentation/events/{sched,irq}.h and
    # src/lttng-statedump-impl.c, v2.13.9), with the fields the analyses read:
    EventClass(5, "sched_switch", (("prev_comm", COMM), ("prev_tid", "i"), ("prev_prio", "i"),
                                   ("prev_state", "q"), ("next_comm", COMM),
                                   ("next_tid", "i"), ("next_prio", "i"))),
    EventClass(6, "sched_wakeup", (("comm", COMM), ("tid", "i"), ("prio", "i"),
                                   ("success", "i"), ("target_cpu", "i"))),
    EventClass(7, "irq_handler_entry", (("irq", "i"), ("name", "string"))),
    EventClass(8, "irq_handler_exit", (("irq", "i"), ("ret", "i"))),
    EventClass(9, "softirq_raise", (("vec", "I"),)),
    EventClass(10, "softirq_entry", (("vec", "I"),)),
    EventClass(11, "softirq_exit", (("vec", "I"),)),
    EventClass(12, "sched_process_fork", (("parent_comm", COMM), ("parent_tid", "i"),
                                          ("parent_pid", "i"), ("child_comm", COMM),
                                          ("child_tid", "i"), ("child_pid", "i"))),
    EventClass(13, "sched_process_exit", (("comm", COMM), ("tid", "i"), ("prio", "i"))),
    EventClass(14, "lttng_statedump_start", ()),
    EventClass(15, "lttng_statedump_process_state", (
        ("tid", "i"), ("pid", "i"), ("ppid", "i"), ("name", COMM), ("type", "i"),
        ("mode", "i"), ("submode", "i"), ("status", "i"), ("cpu", "I"),
        ("file_table_address", "Q"))),
    EventClass(16, "lttng_statedump_end", ()),
)
BY_ID = {c.id: c for c in EVENT_CLASSES}
SHELL_WRITE = 4
# The shell's write under LTTng's headers, which say no payload size: its
# bytes after their length, so that a reader (kmodel's, or babeltrace2 from
# the metadata) finds where the record ends.  kmodel's header keeps the bare
# bytes (shell_write above).
SHELL_WRITE_SIZED = EventClass(SHELL_WRITE, "shell_write", (("len", "I"), ("data", "len")))
_LEN = struct.Struct("<I")


def lttng_header(header):
    """lttng_header - whether a format (a name, a HeaderType, an EventHeader,
    or None for kmodel's) is one of LTTng's, whose records say no size."""
    return header is not None and header not in ("kmodel", HeaderType.KMODEL)


def classes_for(header):
    """classes_for - the event classes of a trace whose records use header:
    EVENT_CLASSES, the shell's write sized under LTTng's headers."""
    if not lttng_header(header):
        return EVENT_CLASSES
    return tuple(SHELL_WRITE_SIZED if c.id == SHELL_WRITE else c for c in EVENT_CLASSES)


def shell_payload(header, data):
    """shell_payload - the payload of the shell's write of data on a channel
    whose records use header (SHELL_WRITE_SIZED's under LTTng's)."""
    return _LEN.pack(len(data)) + data if lttng_header(header) else data

_TSDL_TYPE = {"Q": "uint64_t", "I": "uint32_t", "i": "int32_t", "q": "long",
              COMM: None, "string": None}


def raw_class(event_id):
    """raw_class - the class of a record whose id no kmodel event has (a crash
    region's records, written by code of its own): its payload, as bytes."""
    return EventClass(event_id, f"record_{event_id}", (("data", "payload"),))


def encode(cls, values):
    """encode - the payload bytes of an event of class cls from its field values."""
    if cls.texts:
        v = dict(values)
        for n in cls.texts:
            v[n] = v[n].encode() if isinstance(v[n], str) else v[n]
        values = v
    out = cls.layout.pack(*[values[n] for n in cls.fixed])
    if cls.variable:
        name, code = cls.tail
        out += values[name].encode() + b"\0" if code == "string" else values[name]
    return out


def payload_len(cls, buf, at, end):
    """payload_len - the bytes of the payload of class cls at buf[at:end],
    read from its own fields (a header without a payload size), or None if
    it runs past end."""
    n = cls.layout.size
    if at + n > end:
        return None
    if cls.variable:
        code = cls.tail[1]
        if code == "len":
            n += cls.layout.unpack_from(buf, at)[cls.len_at]
        elif code == "string":
            nul = bytes(buf[at + n:end]).find(b"\0")
            if nul < 0:
                return None
            n += nul + 1
        else:
            return None             # (a whole-payload field needs kmodel's header)
    return n if at + n <= end else None


def decode(cls, payload):
    """decode - {field: value} of an event's payload (TraceError if it is short)."""
    if cls.fields == (("data", "payload"),):
        return {"data": bytes(payload)}
    layout = cls.layout
    need = layout.size
    if len(payload) < need:
        raise TraceError(f"{cls.name} payload of {len(payload)} bytes, needs {need}")
    values = dict(zip(cls.fixed, layout.unpack_from(payload)))
    for name in cls.texts:
        values[name] = values[name].rstrip(b"\0").decode(errors="replace")
    if cls.variable:
        name, code = cls.tail
        if code == "string":
            values[name] = bytes(payload[need:]).rstrip(b"\0").decode(errors="replace")
        elif code == "len":
            data = bytes(payload[need:need + values["len"]])
            if len(data) != values["len"] or ("crc" in values and
                                              zlib.crc32(data) != values["crc"]):
                raise TraceError(f"{cls.name} {values.get('seq', '')}: data does not match "
                                 "its length or crc")
            values[name] = data
    return values


MODELED_CLOCK = ("kmodel modeled time: each CPU's clock in ns, the cycles the timing model "
                 "charged it at the preset's cpu_ghz plus the workload's own time (hw.clock)")
TICK_CLOCK = ("kmodel modeled time in ticks of 1 ms: each CPU's clock in ns, at least the "
              "tick's start, plus the cycles the timing model charged it at the preset's "
              "cpu_ghz (hw.clock)")
SCHED_CLOCK = ("kmodel sched model on modeled time: each event at its time on the scheduler "
               "model's time line, plus what tracing had cost its CPU since (hw.clock)")
# a trace written before the clock was the model's (issue 24) said its clock
# counted reservation attempts; kmodel trace show still reads it
COUNTER_CLOCK = "kmodel trace clock: one tick a reservation attempt"
CLOCKS = (MODELED_CLOCK, TICK_CLOCK, SCHED_CLOCK, COUNTER_CLOCK)


# The trace's identity and clock, as lttng-modules' statedump writes them.
# The boot is put at a fixed date so that a trace is the same byte for byte
# from the same options; the trace clock counts nanoseconds from it.
BOOT_EPOCH_S = 1237889820               # 2009-03-24T10:17:00Z
TRACER = ("lttng-modules", 2, 13, 9)    # the layout followed (src/lttng-events.c)


@dataclass(frozen=True)
class TraceInfo:
    """What the metadata says of a trace beyond its event classes."""
    uuid: str = "00000000-0000-0000-0000-000000000000"
    header: str = "kmodel"              # the records' header: kmodel, compact, large
    trace_name: str = "kmodel"
    hostname: str = "kmodel"
    release: str = "2.6.29-kmodel"
    offset_s: int = BOOT_EPOCH_S        # the clock's offset from the Epoch
    clock: str = MODELED_CLOCK          # what the clock's values are (CLOCKS)

    @staticmethod
    def for_seed(seed, header="kmodel", clock=MODELED_CLOCK):
        """A trace's info with a UUID drawn from seed (the same seed, the same UUID)."""
        import random
        raw = random.Random(f"kmodel-trace-uuid-{seed}").randbytes(16)
        return TraceInfo(str(uuidlib.UUID(bytes=raw, version=4)), header, clock=clock)

    @property
    def uuid_bytes(self):
        return uuidlib.UUID(self.uuid).bytes


def _fields_tsdl(c):
    out = []
    for name, code in c.fields:
        if code == "len":
            out.append(f"\t\tuint8_t {name}[len];")
        elif code == "payload":
            out.append(f"\t\tuint8_t {name}[stream.event.header.payload_size];")
        elif code == COMM:
            out.append("\t\tinteger { size = 8; align = 8; signed = 1; encoding = UTF8; "
                       f"base = 10; }} {name}[16];")
        elif code == "string":
            out.append(f"\t\tstring {{ encoding = UTF8; }} {name};")
        else:
            out.append(f"\t\t{_TSDL_TYPE[code]} {name};")
    return "\n".join(out)


def _lttng_header_tsdl(name, id_type, last, ts_type):
    """One of LTTng's event headers as _lttng_event_header_declare writes it:
    an id whose value `last` + 1 says the extended form follows."""
    return f"""struct event_header_{name} {{
\tenum : {id_type} {{ compact = 0 ... {last}, extended = {last + 1} }} id;
\tvariant <id> {{
\t\tstruct {{
\t\t\t{ts_type} timestamp;
\t\t}} compact;
\t\tstruct {{
\t\t\tuint32_t id;
\t\t\tuint64_clock_monotonic_t timestamp;
\t\t}} extended;
\t}} v;
}} align(8);

"""


_HEADERS_TSDL = (_lttng_header_tsdl("compact", "uint5_t", 30, "uint27_clock_monotonic_t") +
                 _lttng_header_tsdl("large", "uint16_t", 65534, "uint32_clock_monotonic_t") +
                 """struct event_header_kmodel {
\tuint64_clock_monotonic_t timestamp;
\tuint32_t payload_size;
\tuint32_t id;
} align(8);
""")


def metadata(info=TraceInfo(), raw_ids=()):
    """metadata - the TSDL text of a kmodel trace, laid out as lttng-modules'
    metadata statedump (v2.13.9) lays out a kernel trace's, packed as on
    x86; info says its UUID, header format and clock.  raw_ids are record
    ids no kmodel event has, each declared as its payload's bytes
    (raw_class; with kmodel's header only, which has the payload's size),
    and SHELL_WRITE if the trace holds the shell's writes: under LTTng's
    headers shell_write (SHELL_WRITE_SIZED) is declared only then, so that a
    recording's metadata is what it was before the class had a length."""
    events = []
    for c in classes_for(info.header) + tuple(raw_class(i) for i in sorted(raw_ids)
                                              if i not in BY_ID):
        if c.fields and c.fields[-1][1] == "payload" and info.header != "kmodel":
            continue                    # (its size is in kmodel's header alone)
        if c is SHELL_WRITE_SIZED and SHELL_WRITE not in raw_ids:
            continue
        events.append(f"event {{\n\tname = \"{c.name}\";\n\tid = {c.id};\n\tstream_id = 0;\n"
                      f"\tfields := struct {{\n" + _fields_tsdl(c) + "\n\t};\n};\n")
    date = time.strftime("%Y%m%dT%H%M%S+0000", time.gmtime(info.offset_s))
    name, major, minor, patch = TRACER
    return f"""/* CTF 1.8 */

typealias integer {{ size = 8; align = 8; signed = false; }} := uint8_t;
typealias integer {{ size = 16; align = 8; signed = false; }} := uint16_t;
typealias integer {{ size = 32; align = 8; signed = false; }} := uint32_t;
typealias integer {{ size = 64; align = 8; signed = false; }} := uint64_t;
typealias integer {{ size = 64; align = 8; signed = false; }} := unsigned long;
typealias integer {{ size = 5; align = 1; signed = false; }} := uint5_t;
typealias integer {{ size = 27; align = 1; signed = false; }} := uint27_t;
typealias integer {{ size = 32; align = 8; signed = true; }} := int32_t;
typealias integer {{ size = 64; align = 8; signed = true; }} := long;

trace {{
\tmajor = 1;
\tminor = 8;
\tuuid = "{info.uuid}";
\tbyte_order = le;
\tpacket.header := struct {{
\t\tuint32_t magic;
\t\tuint8_t  uuid[16];
\t\tuint32_t stream_id;
\t\tuint64_t stream_instance_id;
\t}};
}};

env {{
\thostname = "{info.hostname}";
\tdomain = "kernel";
\tsysname = "Linux";
\tkernel_release = "{info.release}";
\tkernel_version = "#1 SMP";
\ttracer_name = "{name}";
\ttracer_major = {major};
\ttracer_minor = {minor};
\ttracer_patchlevel = {patch};
\ttrace_buffering_scheme = "global";
\ttrace_name = "{info.trace_name}";
\ttrace_creation_datetime = "{date}";
\tkmodel_trace = 1;
}};

clock {{
\tname = "monotonic";
\tuuid = "{info.uuid}";
\tdescription = "{info.clock}";
\tfreq = 1000000000; /* Frequency, in Hz */
\t/* clock value offset from Epoch is: offset * (1/freq) */
\toffset = {info.offset_s * 1_000_000_000};
}};

typealias integer {{
\tsize = 27; align = 1; signed = false;
\tmap = clock.monotonic.value;
}} := uint27_clock_monotonic_t;

typealias integer {{
\tsize = 32; align = 8; signed = false;
\tmap = clock.monotonic.value;
}} := uint32_clock_monotonic_t;

typealias integer {{
\tsize = 64; align = 8; signed = false;
\tmap = clock.monotonic.value;
}} := uint64_clock_monotonic_t;

struct packet_context {{
\tuint64_clock_monotonic_t timestamp_begin;
\tuint64_clock_monotonic_t timestamp_end;
\tuint64_t content_size;
\tuint64_t packet_size;
\tuint64_t packet_seq_num;
\tunsigned long events_discarded;
\tuint32_t cpu_id;
}};

{_HEADERS_TSDL}
stream {{
\tid = 0;
\tevent.header := struct event_header_{info.header};
\tpacket.context := struct packet_context;
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
    events: list                # (timestamp, class name, {field: value}); [] if not decoded
    n_events: int = 0           # its records (decoded or only counted)
    content: int = 0            # bytes of header and records


METADATA_LIMIT = 1 << 20
STREAM_LIMIT = 1 << 40
_RAW_DECL = re.compile(r'event \{\n\tname = "record_(\d+)";\n\tid = (\d+);')


_INFO = {name: re.compile(rx) for name, rx in (
    ("uuid", r'\ttrace \{[^}]*?uuid = "([0-9a-f-]{36})";|\tuuid = "([0-9a-f-]{36})";'),
    ("header", r"event\.header := struct event_header_(kmodel|compact|large);"),
    ("trace_name", r'\ttrace_name = "([^"\n]*)";'),
    ("offset_s", r"\toffset = (\d+)000000000;"),
    ("clock", r'\tdescription = "([^"\n]*)";'))}


def check_metadata(path):
    """check_metadata - (event classes, header format) of the trace whose
    metadata file is path, or a TraceError if it is not metadata kmodel
    writes: this reader decodes kmodel's layout only, so it takes only the
    text that declares it (byte for byte, with the UUID, header format, name,
    clock offset and raw classes it declares), where babeltrace2 would refuse
    what is not CTF and read any CTF that is.  The file may be TSDL text or
    metadata packets (metadata_channel.py: their text, and their UUID the
    trace's).  The format is an EventHeader, or None for kmodel's own header."""
    try:
        raw, packets_uuid = metadata_file_text(
            read_regular_file(path, METADATA_LIMIT, "metadata file"), path)
        text = raw.decode("utf-8")
    except (HostFileError, MetadataError) as e:
        raise TraceError(str(e)) from None
    except UnicodeDecodeError:
        raise TraceError(f"{path}: not text: not CTF metadata") from None
    raw = {int(i) for name_id, i in _RAW_DECL.findall(text) if name_id == i}
    if f'\tname = "shell_write";\n\tid = {SHELL_WRITE};' in text:
        raw.add(SHELL_WRITE)            # (declared under LTTng's headers when written)
    if not text.strip():
        raise TraceError(f"{path}: empty: not CTF metadata")
    found = {}
    for name, rx in _INFO.items():
        m = rx.search(text)
        if m:
            v = next(g for g in m.groups() if g is not None)
            found[name] = int(v) if name == "offset_s" else v
    try:
        info = TraceInfo(**found)
        ok = info.clock in CLOCKS and text == metadata(info, raw_ids=raw)
    except ValueError:
        ok = False
    if not ok:
        raise TraceError(f"{path}: not the metadata kmodel writes (kmodel trace show reads "
                         "kmodel's traces; babeltrace2 reads any CTF trace)")
    if packets_uuid is not None and packets_uuid != info.uuid_bytes:
        raise TraceError(f"{path}: its packets' UUID {uuidlib.UUID(bytes=packets_uuid)} is "
                         f"not the trace's ({info.uuid})")
    return ({**{c.id: c for c in classes_for(info.header)
                if c is not SHELL_WRITE_SIZED or SHELL_WRITE in raw},
             **{i: raw_class(i) for i in raw if i not in BY_ID}}, header_of(info.header))


def read_stream(path, classes=BY_ID, header=None, decode_events=True):
    """read_stream - the packets of one stream file, decoded with classes
    ({event id: EventClass}) and the records' header format (None: kmodel's).
    The file is mapped, not read whole.  With decode_events False, each
    record's header is checked and counted (Packet.n_events) but its payload
    is not decoded: a quick count of a large trace (trace record's table)."""
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
        return _packets(data, os.path.basename(path), classes, header, decode_events)
    finally:
        if size:
            data.close()


def _packets(data, name, classes, header=None, decode_events=True):
    packets = []
    pos = 0
    sizes = class_sizes(classes) if header is not None and not decode_events else None
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
        end = pos + content // 8
        if header is None:
            events, n = _records(data, pos + HDR, end, name, classes, decode_events)
        elif sizes is not None:                 # (counted: the classes' sizes taken once)
            events, n = [], _count_lttng_records(data, pos + HDR, end, name, classes, header,
                                                 sizes)
        else:
            events, n = _lttng_records(data, pos + HDR, end, name, classes, header,
                                       h.timestamp_begin, decode_events)
        packets.append(Packet(name, pos, h.cpu_id, h.timestamp_begin, h.timestamp_end,
                              h.packet_seq_num, h.events_discarded, events, n, content // 8))
        pos += size // 8
    return packets


def _count_records(data, name, at, end, classes, unpack=RECORD_HEADER.unpack_from):
    """The records of a packet's content data[at:end], their headers checked as
    _packets checks them, counted without building a header or decoding a
    payload: (count, where it stopped).  It stops early at a header _packets
    must report (whose loop then says what is wrong)."""
    n = 0
    while end - at >= REC:
        _, size, event_id = unpack(data, at)
        if event_id not in classes or at + REC + size > end:
            break
        at += REC + size                # (records are packed: record_size)
        n += 1
    return n, at


def _records(data, at, end, name, classes, decode_events=True):
    """(events, count) of a packet's records with kmodel's header (each says
    its payload's size); with decode_events False, counted (_count_records)
    and events is []."""
    events = []
    n = 0
    if not decode_events:
        n, at = _count_records(data, name, at, end, classes)
    while at < end:
        if end - at < REC:
            raise TraceError(f"{name}: offset {at}: truncated event header")
        r = unpack_record_header(data, at)
        cls = classes.get(r.id)
        if cls is None or at + REC + r.payload_size > end:
            raise TraceError(f"{name}: offset {at}: bad event (id {r.id}, "
                             f"{r.payload_size} bytes)")
        if decode_events:
            try:
                values = decode(cls, data[at + REC:at + REC + r.payload_size])
            except TraceError as e:
                raise TraceError(f"{name}: offset {at}: {e}") from None
            events.append((r.timestamp, cls.name, values))
        n += 1
        at += record_size(r.payload_size)
    return events, n


def _lttng_records(data, at, end, name, classes, header, ts_begin, decode_events=True):
    """(events, count) of a packet's records with an LTTng header: the clock
    starts at the packet's timestamp_begin and each header updates it
    (event_header.py); a payload's size is read from its fields.  With
    decode_events False the payloads are measured, not decoded, and events
    is []."""
    if not decode_events:
        return [], _count_lttng_records(data, at, end, name, classes, header)
    events = []
    try:
        for rec_at, event_id, ts, p, n in header.walk(data, at, end, record_length(classes),
                                                       ts_begin):
            cls = classes[event_id]
            try:
                values = decode(cls, data[p:p + n])
            except TraceError as e:
                raise TraceError(f"{name}: offset {rec_at}: {e}") from None
            events.append((ts, cls.name, values))
    except RecordError as e:
        if e.event_id is None:
            raise TraceError(f"{name}: offset {e.at}: truncated event header") from None
        raise TraceError(f"{name}: offset {e.at}: bad event (id {e.event_id})") from None
    return events, len(events)


def record_length(classes):
    """record_length - the length_of of EventHeader.walk for classes ({event
    id: EventClass}): a payload's bytes from its class, fixed or read from its
    own fields (payload_len); None for an id no class has."""
    sizes = class_sizes(classes)

    def length_of(event_id, buf, at, end):
        n = sizes.get(event_id, -1)
        if n is None:                           # (a payload of variable size)
            n = payload_len(classes[event_id], buf, at, end)
            return end - at + 1 if n is None else n
        return None if n < 0 else n
    return length_of


def class_sizes(classes):
    """class_sizes - {event id: its payload's bytes, None if they vary}."""
    return {i: (None if c.variable else c.layout.size) for i, c in classes.items()}


def _count_lttng_records(data, at, end, name, classes, header, sizes=None):
    """The number of a packet's records with an LTTng header, each measured
    from its header's id and its class (what _lttng_records does with
    decode_events False, and raising as it does; unpack_from and the clock
    inlined: a stop counts every record of the trace, issue 27's second).
    sizes: class_sizes(classes), if the caller has it (one a stream)."""
    get = (class_sizes(classes) if sizes is None else sizes).get
    if header.type is HeaderType.COMPACT:
        least, size, ext_id, ext_size, id_bytes = 4, 4, 31, 13, 1
    else:
        least, size, ext_id, ext_size, id_bytes = 6, 6, 65535, 14, 2
    count = 0
    while at < end:
        if end - at < least:
            raise TraceError(f"{name}: offset {at}: truncated event header")
        event_id = data[at] & 31 if id_bytes == 1 else data[at] | data[at + 1] << 8
        p = at + size
        if event_id == ext_id:
            p = at + ext_size
            event_id = int.from_bytes(data[at + id_bytes:at + id_bytes + 4], "little")
        n = get(event_id, -1)
        if n is None:                           # (a payload of variable size)
            n = None if p > end else payload_len(classes[event_id], data, p, end)
        if n is None or n < 0 or p > end or p + n > end:
            raise TraceError(f"{name}: offset {at}: bad event (id {event_id})")
        count += 1
        at = p + n
    return count


def read_trace(path, decode_events=True, check_index=True):
    """read_trace - {stream file name: [Packet]} of a trace directory kmodel
    wrote: its metadata checked (check_metadata), every other file a stream
    (read_stream: with decode_events False, records counted, not decoded),
    and its index files, if it has an index/ directory, checked against the
    streams (ctf_index.check_trace_index; not with check_index False: the
    recorder's count of what it has just written, the index written from
    those same streams).  path may be a session directory whose trace is in
    kernel/ (trace_dir.session_trace)."""
    if not os.path.isdir(path):
        raise TraceError(f"{path}: not a directory")
    path = session_trace(path)          # SESSION/kernel (trace record --session)
    if not os.path.lexists(os.path.join(path, "metadata")):
        raise TraceError(f"{path}: no metadata file: not a CTF trace")
    classes, header = check_metadata(os.path.join(path, "metadata"))
    streams = {name: read_stream(os.path.join(path, name), classes, header, decode_events)
               for name in stream_files(path)}
    try:
        if check_index:                 # index/, if the trace has one: each entry its packet's
            check_trace_index(path)
    except (CtfIndexError, OSError) as e:
        raise TraceError(f"{path}: {e}") from None
    return streams
