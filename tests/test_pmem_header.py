"""A pmem region's records with LTTng's event header (issue 23's last gap):
the region says which header its records use (layout version 4), the crash
reader walks them by event class as babeltrace2 does after lttng-crash, the
shell's raw writes carry their length, and babeltrace2 warns of nothing on
what crash extract writes (docs/crash.md)."""
import os
import shutil
import struct
import subprocess
import zlib

import pytest
from hypothesis import given, settings, strategies as st

from kmodel.cli.main import main
from kmodel.consumer.crash import measure
from kmodel.consumer.ctf import (BY_ID, SHELL_WRITE, classes_for, encode, read_trace,
                                 record_length, shell_payload)
from kmodel.relay.event_header import RecordError, header_of
from kmodel.relay.pmem_layout import (CRC, HEADER_KINDS, OFFSETS, REGION_HEADER,
                                      REGION_HEADER_V3, PmemLayoutError, scan_region,
                                      unpack_header)
from crash_tools import warnings
from pmem_helpers import blob, record

needs_babeltrace = pytest.mark.skipif(shutil.which("babeltrace2") is None,
                                      reason="babeltrace2 is not installed (Debian: "
                                             "apt-get install babeltrace2)")


def babeltrace2(path):
    """(stdout lines, warning lines) of babeltrace2 on the trace at path."""
    r = subprocess.run(["babeltrace2", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.splitlines(), warnings(r.stderr)


def rewrite_header(data, form, values):
    """The region header as form packs values, its CRC after it."""
    body = form.pack(*values)
    data[:REGION_HEADER.size + CRC.size] = bytes(REGION_HEADER.size + CRC.size)
    data[:len(body)] = body
    struct.pack_into("<I", data, len(body), zlib.crc32(body))


# --- the region says its records' header ------------------------------------------
@pytest.mark.parametrize("header", HEADER_KINDS)
def test_the_region_says_which_header_its_records_use(tmp_path, header):
    """Each format is stamped in the region header, and the crash reader
    recovers every record written with it by that alone."""
    region = tmp_path / "r.img"
    written = record(region, events=150, flush=False, header=header)
    data = region.read_bytes()
    assert unpack_header(data)["header"] == header
    scan = scan_region(data, measure=measure)
    got = {(cpu, payload) for cpu, ps in scan.packets.items() for p in ps
           for _, _, payload in p.records}
    assert scan.dropped == {} and got and got <= written
    assert scan.records == len(got)


def test_a_version_3_region_reads_with_kmodel_header(tmp_path):
    """A region of layout version 3 (no header field: kmodel's records) gives
    the records it gave before version 4."""
    region = tmp_path / "r.img"
    record(region, events=150, flush=False)
    data = bytearray(region.read_bytes())
    want = [p.records for ps in scan_region(bytes(data), measure=measure).packets.values()
            for p in ps]
    values = list(REGION_HEADER.unpack_from(data))[:-1]
    values[1] = 3
    rewrite_header(data, REGION_HEADER_V3, values)
    h = unpack_header(bytes(data))
    assert (h["version"], h["header"]) == (3, "kmodel")
    assert [p.records for ps in scan_region(bytes(data), measure=measure).packets.values()
            for p in ps] == want and want


@pytest.mark.parametrize("field, value, words", [
    ("version", 5, ("layout version 5", "reads 2, 3 and 4")),
    ("header", 3, ("header field header", "3 is no record header format"))])
def test_an_unknown_version_or_header_is_refused(tmp_path, capsys, field, value, words):
    """A version this kmodel does not read is refused naming it and the ones
    it reads; a header format it does not know, naming the field; crash
    extract says so in one line, exit 2, nothing written."""
    region = tmp_path / "r.img"
    record(region, events=20, header="compact")
    data = bytearray(region.read_bytes())
    values = list(REGION_HEADER.unpack_from(data))
    values[[name for name in OFFSETS].index(field)] = value
    rewrite_header(data, REGION_HEADER, values)
    with pytest.raises(PmemLayoutError) as e:
        unpack_header(bytes(data))
    assert all(w in str(e.value) for w in words)
    region.write_bytes(data)
    assert main(["crash", "extract", str(region), "-o", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words[0] in err and not (tmp_path / "t").exists()


# --- the crash reader walks LTTng's records by class -------------------------------
def test_a_record_taken_one_byte_off_drops_its_sub_buffer_by_reason(tmp_path):
    """A reader that takes a payload a byte longer than its class (or finds
    no class for an id) walks past the committed end or stops: every
    sub-buffer is dropped and counted by that reason, none decoded."""
    region = tmp_path / "r.img"
    record(region, events=150, flush=False, header="compact")
    data = region.read_bytes()
    right = scan_region(data, measure=measure)
    assert right.records > 0 and right.dropped == {}
    n = sum(len(ps) for ps in right.packets.values())

    def off_by_one(header):
        length_of = measure(header)
        def longer(eid, buf, at, end):
            got = length_of(eid, buf, at, end)
            return None if got is None else got + 1
        return longer
    wrong = scan_region(data, measure=off_by_one)     # (past the end, or a byte of
    assert wrong.packets == {} and sum(wrong.dropped.values()) == n     # data as an id)
    assert set(wrong.dropped) <= {"record bounds", "unknown event id"}
    none = scan_region(data, measure=lambda header: record_length({}))
    assert none.packets == {} and none.dropped == {"unknown event id": n}


def test_the_kernel_at_boot_vouches_for_lttng_records_without_walking_them(tmp_path):
    """The boot's check knows no event class: the packets are kept by their
    checksums, and the info says the records were not walked."""
    from kmodel.relay.pmem_layout import info_text
    region = tmp_path / "r.img"
    record(region, events=150, flush=False, header="compact")
    scan = scan_region(region.read_bytes())
    assert scan.packets and scan.records is None
    assert "records not walked" in info_text(scan)


# A model: events of known classes and the shell's raw writes, as (id, payload).
@st.composite
def event(draw):
    kind = draw(st.sampled_from(["switch", "irq", "blob", "shell", "statedump"]))
    if kind == "switch":
        return 0, encode(BY_ID[0], {"seq": draw(st.integers(0, 1 << 40)), "prev_tid": 1,
                                    "next_tid": 2, "prev_state": 0, "cpu": 3})
    if kind == "irq":
        return 7, encode(BY_ID[7], {"irq": draw(st.integers(0, 255)),
                                    "name": draw(st.text("abcxyz", max_size=12))})
    if kind == "blob":
        data = draw(st.binary(max_size=300))
        return 3, encode(BY_ID[3], {"seq": 1, "len": len(data), "crc": zlib.crc32(data),
                                    "data": data})
    if kind == "statedump":
        return 14, b""
    return SHELL_WRITE, shell_payload("compact", draw(st.binary(max_size=300)))


GAPS = st.one_of(st.integers(0, 5000), st.integers((1 << 27) - 2, (1 << 27) + 2),
                 st.integers(1, 1 << 34))


@settings(max_examples=150, deadline=None)
@given(kind=st.sampled_from(["compact", "large"]), data=st.data())
def test_a_walk_by_classes_finds_the_records_written(kind, data):
    """Random events of known classes and raw shell writes, each header as
    the writer lays it out (the extended form when the id or the time since
    the last record needs it): the walk gives back every record's id, time
    and payload, and ends where the last one ends.  Cut one byte short, it
    stops with record bounds; an extended timestamp made to go back, with
    timestamp order."""
    fmt = header_of(kind)
    events = data.draw(st.lists(st.tuples(event(), GAPS).map(lambda e: (*e[0], e[1])),
                                min_size=1, max_size=30))
    buf, tsc, last, want = bytearray(), 1000, 1000, []
    begin = tsc
    for eid, payload, gap in events:
        tsc += gap
        ext = fmt.extended(eid, tsc, last)
        head = bytearray(fmt.ext_size)
        hs = fmt.pack_into(head, 0, eid, tsc, ext)
        want.append((len(buf), eid, tsc, len(buf) + hs, len(payload)))
        buf += head[:hs] + payload
        last = tsc
    length_of = record_length({c.id: c for c in classes_for(kind)})
    got = list(fmt.walk(buf, 0, len(buf), length_of, begin, ordered=True))
    assert got == want
    assert [bytes(buf[p:p + n]) for _, _, _, p, n in got] == \
        [payload for _, payload, _ in events]
    with pytest.raises(RecordError) as e:
        list(fmt.walk(buf, 0, len(buf) - 1, length_of, begin, ordered=True))
    assert e.value.why == "record bounds" and e.value.at == want[-1][0]
    extended = [w for w in want if w[3] - w[0] == fmt.ext_size and w[2] > begin]
    if extended:
        at, eid, ts, p, n = extended[-1]
        back = bytearray(buf)
        fmt.pack_into(back, at, eid, begin - 1, True)
        with pytest.raises(RecordError) as e:
            list(fmt.walk(back, 0, len(back), length_of, begin, ordered=True))
        assert e.value.why == "timestamp order" and e.value.at == at


# --- what babeltrace2 reads ---------------------------------------------------------
SHELL_SCRIPT = """#!kmodel --machine numa2 --cmdline reserve_mem=4M:4096:trace
insmod ltt_relay_alloc
relay open flight subbuf_size=4k n_subbufs=4 backend=pmem layer={layer} header={header} \
mode={mode}
relay write flight cpu=1 bytes=40 count=300
relay write flight cpu=5 data="the last event before the crash"
"""


@pytest.mark.parametrize("layer, mode", [("lockless", "overwrite"), ("locked", "discard")])
@pytest.mark.parametrize("header", ["compact", "large"])
def test_the_shells_raw_writes_carry_their_length(tmp_path, capsys, header, layer, mode):
    """The shell's writes of arbitrary bytes on a channel with LTTng's header
    are shell_write events of their length then their bytes: kmodel's reader
    gives back each write's bytes, and babeltrace2 reads every record of
    them with no warning."""
    script = tmp_path / "s.kms"
    script.write_text(SHELL_SCRIPT.format(header=header, layer=layer, mode=mode))
    region = tmp_path / "r.img"
    assert main(["run", str(script), "--pmem", str(region)]) == 0
    assert main(["crash", "extract", str(region), "-o", str(tmp_path / "t")]) == 0
    capsys.readouterr()
    evs = [e for ps in read_trace(str(tmp_path / "t")).values() for p in ps for e in p.events]
    datas = [e[2]["data"] for e in evs]
    assert evs and all(e[1] == "shell_write" and e[2]["len"] == len(e[2]["data"]) for e in evs)
    assert datas[-1] == b"the last event before the crash"
    assert all(len(d) == 40 for d in datas[:-1])
    if shutil.which("babeltrace2"):
        lines, warned = babeltrace2(tmp_path / "t")
        assert warned == [] and sum("shell_write" in line for line in lines) == len(evs)


@needs_babeltrace
@pytest.mark.parametrize("header", ["compact", "large"])
def test_a_pmem_recording_reads_with_no_warning(tmp_path, capsys, header):
    """kmodel trace record --backend pmem writes LTTng's header (compact by
    default): its trace directory reads in babeltrace2 with no warning."""
    args = ["trace", "record", str(tmp_path / "t"), "--backend", "pmem", "--cmdline",
            "reserve_mem=4M:4096:trace", "--pmem", str(tmp_path / "r.img"), "--events", "200",
            "--subbuf-size", "4k"] + ([] if header == "compact" else ["--header", header])
    assert main(args) == 0
    assert f"({header} header)" in capsys.readouterr().out
    lines, warned = babeltrace2(tmp_path / "t")
    assert warned == [] and len(lines) > 1000
    assert unpack_header((tmp_path / "r.img").read_bytes())["header"] == header


def test_header_kmodel_still_records_on_pmem(tmp_path, capsys):
    assert main(["trace", "record", str(tmp_path / "t"), "--backend", "pmem", "--cmdline",
                 "reserve_mem=4M:4096:trace", "--pmem", str(tmp_path / "r.img"), "--events",
                 "50", "--subbuf-size", "4k", "--header", "kmodel"]) == 0
    assert "(kmodel header)" in capsys.readouterr().out
    assert unpack_header((tmp_path / "r.img").read_bytes())["header"] == "kmodel"
    assert os.path.exists(tmp_path / "t" / "metadata")


def test_a_snapshot_of_a_channel_with_lttngs_header_says_that_header(tmp_path):
    """snapshot_channel with no recording's metadata (a channel the shell or
    the API opened) declares the channel's own header format, so that its
    shell_write events (length, bytes) read back."""
    from hw.machine import Machine
    from hw.topology import load_preset
    from kmodel.consumer.snapshot import snapshot_channel
    from kmodel.cpu.sched import run_now
    from kmodel.kernel import boot
    from kmodel.relay.layer_channel import ring_buffer_open
    with Machine(load_preset("numa2")) as m:
        k = boot(m)
        try:
            k.modules.insmod("ltt_relay_alloc")
            rbc, err = ring_buffer_open(k, "t", 4096, 4, "pagelist", "local", "lockless",
                                        "overwrite", "per-cpu", header="large")
            assert rbc is not None, err
            with k.on_cpu(1):
                for i in range(20):
                    run_now(k, rbc.layer.write(rbc.buf_for(1), shell_payload(rbc.header,
                                                                             bytes([i]) * i),
                                               event_id=SHELL_WRITE))
            snapshot_channel(rbc, str(tmp_path / "s"))
        finally:
            k.shutdown()
    got = [e[2]["data"] for ps in read_trace(str(tmp_path / "s")).values() for p in ps
           for e in p.events]
    assert got == [bytes([i]) * i for i in range(20)]


@pytest.mark.parametrize("header", ["compact", "large"])
def test_shell_write_is_declared_only_in_a_trace_that_holds_it(header):
    """Under LTTng's headers the sized shell_write is declared when the trace
    holds the shell's writes, and only then: a recording's metadata stays
    what it was (traces recorded before still read), and its reader takes
    the class back from the text."""
    from kmodel.consumer.ctf import TraceInfo, check_metadata, metadata
    import tempfile
    info = TraceInfo(header=header)
    plain, shell = metadata(info), metadata(info, raw_ids={SHELL_WRITE})
    assert '"shell_write"' not in plain and "uint8_t data[len];" in shell
    with tempfile.TemporaryDirectory() as d:
        for text, has in ((plain, False), (shell, True)):
            path = os.path.join(d, "metadata")
            with open(path, "w") as f:
                f.write(text)
            classes, _ = check_metadata(path)
            assert (SHELL_WRITE in classes) is has
