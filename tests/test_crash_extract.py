"""kmodel crash extract writes only what a CTF reader reads, recovers every
scope, reports damage instead of hiding it, resumes where the consumer was,
and leaves nothing half-written (docs/crash.md, docs/guarantees.md)."""
import os
import shutil
import struct
import subprocess
import zlib

import pytest

from kmodel.cli.main import main
from kmodel.consumer import crash
from kmodel.consumer.ctf import read_trace
from kmodel.relay.packet import HDR, REC, record_size, unpack_packet_header
from kmodel.relay.pmem_layout import (FIELDS, HEADER_SIZE, OFFSETS, REGION_HEADER,
                                      scan_region, unpack_header)
from pmem_helpers import blob, record

needs_babeltrace = pytest.mark.skipif(shutil.which("babeltrace2") is None,
                                      reason="babeltrace2 is not installed (Debian: "
                                             "apt-get install babeltrace2)")


def extract(region, out, capsys):
    rc = main(["crash", "extract", str(region), "-o", str(out)])
    return rc, capsys.readouterr()


def packets(path):
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
        h = unpack_packet_header(data, pos)
        yield data, pos, h
        pos += h.packet_size // 8


def test_a_cut_packet_ends_its_content_at_its_last_record(tmp_path, capsys):
    """Records of odd sizes (padding after each): the last packet of each
    stream, cut at its last commit, says its content ends where its last
    record's bytes end, never in the padding a reader would take for an event
    header."""
    region = tmp_path / "r.img"
    record(region, events=150, flush=False)
    rc, _ = extract(region, tmp_path / "t", capsys)
    assert rc == 0
    cut = 0
    for name in ("channel0_0", "channel0_5"):
        for data, pos, h in packets(tmp_path / "t" / name):
            at, last = pos + HDR, pos + HDR
            while at < pos + h.content_size // 8:
                size = struct.unpack_from("<I", data, at + 8)[0]
                last = at + REC + size
                at += record_size(size)
            assert h.content_size // 8 == last - pos
            cut += h.packet_size // 8 < 4096
    assert cut == 2


@needs_babeltrace
@pytest.mark.parametrize("mode", ["overwrite", "discard"])
@pytest.mark.parametrize("scope", ["per-cpu", "global"])
def test_babeltrace2_reads_every_extracted_trace(tmp_path, capsys, mode, scope):
    region = tmp_path / "r.img"
    written = record(region, events=150, mode=mode, scope=scope, flush=False)
    rc, _ = extract(region, tmp_path / "t", capsys)
    assert rc == 0
    r = subprocess.run(["babeltrace2", str(tmp_path / "t")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    got = sum(1 for line in r.stdout.splitlines() if " blob: " in line)
    assert got == sum(len(p.events) for ps in read_trace(str(tmp_path / "t")).values()
                      for p in ps) > 0
    assert got <= len(written)


def test_the_docs_example_with_the_shells_records_opens_in_babeltrace2(tmp_path, capsys):
    """The shell writes its own event class (shell_write: its length, then its
    bytes, under the example's compact header), which the metadata declares;
    babeltrace2 reads every record of docs/crash.md's example, and warns of
    nothing."""
    from crash_tools import warnings
    region = tmp_path / "r.img"
    assert main(["run", "docs/examples/crash-record.kms", "--pmem", str(region)]) == 0
    capsys.readouterr()
    rc, out = extract(region, tmp_path / "t", capsys)
    assert rc == 0 and "compact event header" in out.out
    trace = read_trace(str(tmp_path / "t"))
    n = sum(len(p.events) for ps in trace.values() for p in ps)
    assert n > 200
    if shutil.which("babeltrace2"):
        r = subprocess.run(["babeltrace2", str(tmp_path / "t")], capture_output=True,
                           text=True)
        assert r.returncode == 0 and r.stdout.count("shell_write") == n
        assert warnings(r.stderr) == []


def test_a_global_buffer_is_recovered(tmp_path, capsys):
    region = tmp_path / "r.img"
    written = record(region, cpus=(0, 1, 5), events=60, scope="global", flush=False)
    rc, out = extract(region, tmp_path / "t", capsys)
    assert rc == 0 and "global: " in out.out
    trace = read_trace(str(tmp_path / "t"))
    assert list(trace) == ["channel0_global"]
    got = [ev[2]["seq"] for p in trace["channel0_global"] for ev in p.events]
    assert len(got) > 0 and len(got) <= len(written)


def corrupt_end_fields(region, field_offset, value):
    """Write value over a field (by its offset in the header) of the first
    complete, delivered packet of slot 0."""
    data = bytearray(region.read_bytes())
    h = unpack_header(data)
    base = HEADER_SIZE + h["meta_size"]
    for idx in range(h["n_subbufs"]):
        at = base + idx * h["subbuf_size"]
        ph = unpack_packet_header(data, at)
        if ph.content_size and ph.packet_size:
            struct.pack_into("<Q", data, at + field_offset, value)
            region.write_bytes(data)
            return ph
    raise AssertionError("no delivered packet in slot 0")


@pytest.mark.parametrize("field, offset", [("timestamp_end", 40), ("events_discarded", 72)])
def test_damaged_end_fields_are_reported_and_rebuilt(tmp_path, capsys, field, offset):
    region = tmp_path / "r.img"
    record(region, cpus=(0,), events=300, mode="discard", n_subbufs=4)
    ph = corrupt_end_fields(region, offset, 999_999)
    rc, out = extract(region, tmp_path / "t", capsys)
    assert rc == 0
    assert "damaged: packet end fields (timestamp_end, events_discarded): rebuilt" in out.out
    got = [p for p in read_trace(str(tmp_path / "t"))["channel0_0"]
           if p.seq == ph.packet_seq_num][0]
    assert got.ts_end == got.events[-1][0] and got.events_discarded != 999_999


def test_a_zeroed_metadata_page_is_reported_not_silent(tmp_path, capsys):
    region = tmp_path / "r.img"
    record(region, cpus=(0, 5), events=100)
    data = bytearray(region.read_bytes())
    h = unpack_header(data)
    slot5 = HEADER_SIZE + 5 * h["slot_size"]
    data[slot5:slot5 + h["meta_size"]] = bytes(h["meta_size"])
    region.write_bytes(data)
    rc, out = extract(region, tmp_path / "t", capsys)
    assert rc == 0
    assert "slot 5 metadata at offset" in out.out and "is zeroed, but its buffer holds " \
        "packets" in out.out


def test_a_header_forged_with_a_valid_crc_hides_no_slot_silently(tmp_path, capsys):
    """nr_cpus lowered, the CRC made to match: slot 5 is past the header's
    count, and the extraction says so."""
    region = tmp_path / "r.img"
    record(region, cpus=(0, 5), events=100)
    data = bytearray(region.read_bytes())
    values = list(REGION_HEADER.unpack_from(data))
    values[FIELDS.index("nr_cpus")] = 3
    body = REGION_HEADER.pack(*values)
    data[:len(body)] = body
    struct.pack_into("<I", data, OFFSETS["crc"], zlib.crc32(body))
    region.write_bytes(data)
    rc, out = extract(region, tmp_path / "t", capsys)
    assert rc == 0 and "past the header's 3 slots (cpu 5)" in out.out


def test_what_a_consumer_read_after_the_last_commit_is_not_extracted_again(tmp_path):
    """The reader consumed packets after the writer's last commit: the consumed
    position is saved when it moves, so the extraction skips exactly those."""
    region = tmp_path / "r.img"
    record(region, cpus=(0,), events=400, mode="discard", n_subbufs=8, consume=2)
    scan = scan_region(region.read_bytes())
    assert scan.consumed == 2
    assert [p.seq for p in scan.packets[0]][0] == 2


def test_an_extraction_that_fails_halfway_leaves_nothing(tmp_path, monkeypatch, capsys):
    region = tmp_path / "r.img"
    record(region, cpus=(0,), events=50)
    real = crash._write

    def dies(scan, d, *release):
        real(scan, d, *release)
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(crash, "_write", dies)
    rc, out = extract(region, tmp_path / "t", capsys)
    assert rc == 2 and "No space left on device" in out.err
    assert not (tmp_path / "t").exists()
    assert [n for n in os.listdir(tmp_path) if ".kmodel-" in n] == []


@pytest.mark.parametrize("what", ["fifo", "/dev/zero", "sparse"])
def test_a_region_that_is_no_regular_file_or_too_big_is_refused_at_once(tmp_path, capsys, what):
    if what == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    elif what == "sparse":
        path = tmp_path / "big.img"
        with open(path, "wb") as f:
            f.truncate(2 << 30)             # 2 GiB of zeroes, sparse: a bad magic
    else:
        path = what
    rc, out = extract(path, tmp_path / "t", capsys)
    assert rc == 2 and "Traceback" not in out.err
    assert {"fifo": "a FIFO", "/dev/zero": "a character device",
            "sparse": "magic"}[what] in out.err
    assert not (tmp_path / "t").exists()


def test_the_blob_helper_is_what_the_tests_write():
    assert blob(3)[:8] == struct.pack("<Q", 3)


def test_an_extracted_packets_context_carries_the_losses(tmp_path, capsys):
    """Discard mode with the buffer filled: a delivered packet keeps the count
    its header carried, and the packet cut at its last commit carries the
    slot's loss counters at the crash (full + wrap + big), so a CTF reader
    sees every loss of the stream in its last packet."""
    region = tmp_path / "r.img"
    record(region, cpus=(0,), events=3000, mode="discard", n_subbufs=4, flush=False)
    scan = scan_region(region.read_bytes())
    full, wrap, big, _ = scan.lost[0]
    assert full > 0
    packets = scan.packets[0]
    assert packets[-1].complete is False and packets[-1].discarded == full + wrap + big
    for p in packets[:-1]:
        assert p.discarded == unpack_packet_header(p.data).events_discarded <= full + wrap + big
    rc, _ = extract(region, tmp_path / "t", capsys)
    last = read_trace(str(tmp_path / "t"))["channel0_0"][-1]
    assert rc == 0 and last.events_discarded == full + wrap + big


@pytest.mark.parametrize("forged", ["header", "file"])
def test_a_forged_139_gb_region_is_refused_or_read_at_once(tmp_path, capsys, deadline, forged):
    """A header (its CRC made to match) that declares 512 slots of 65536
    sub-buffers, on a sparse 139 GB file: refused from the header alone (it
    was scanned for 30 to 90 s, 20 GB of pages touched).  A true small header
    on a 139 GB file is read, the size reported, and what lies past the slots
    is looked at only where a CPU's slot could be."""
    from kmodel.relay.pmem_layout import geometry, pack_header
    deadline(20, "a forged region was scanned, not refused")
    S, n, cpus = (4096, 65536, 512) if forged == "header" else (4096, 4, 8)
    need = geometry(S, n, cpus)[2]
    path = tmp_path / "forged.img"
    with open(path, "wb") as f:
        f.write(pack_header(need, S, n, cpus, 1, "trace"))
        f.truncate(139_051_667_456)
    rc, out = extract(path, tmp_path / "t", capsys)
    if forged == "header":
        assert rc == 2 and out.err == (
            f"kmodel: error: {path}: header field nr_cpus at offset 0x20: 512 slots of 65536 "
            "x 4096 bytes: more than the 1024 MiB of buffers kmodel writes in a region\n")
        assert not (tmp_path / "t").exists()
    else:
        assert rc == 0 and "damaged: region is 139,051,667,456 bytes, the header says " \
            f"{need:,}" in out.out


def test_the_pmem_backend_formats_no_region_a_reader_would_refuse(tmp_path):
    """The cap is the writer's too: a channel of more than 1 GiB of buffers is
    not put in a region (the open fails, -ENOMEM, said in dmesg)."""
    from hw.machine import Machine
    from hw.topology import load_preset
    from kmodel.kernel import boot
    from kmodel.relay.layer_channel import ring_buffer_open
    from kmodel.relay.pmem_layout import MAX_BUFFER_BYTES
    with Machine(load_preset("nehalem-2009"), pmem_path=str(tmp_path / "r.img")) as m:
        k = boot(m, cmdline="reserve_mem=1100M:4096:trace")
        try:
            k.modules.insmod("ltt_relay_alloc")
            ncpus = max(k.cpu_possible_mask) + 1
            rbc, err = ring_buffer_open(k, "t", MAX_BUFFER_BYTES // ncpus, 2, "pmem", "local",
                                        "lockless", "discard", "per-cpu")
            assert rbc is None and err == -12
            assert "more than the 1024 MiB of buffers a region holds" in k.log.text()
            rbc, err = ring_buffer_open(k, "t", MAX_BUFFER_BYTES // ncpus // 2, 2, "pmem",
                                        "local", "lockless", "discard", "per-cpu")
            assert rbc is not None, k.log.text()
        finally:
            k.shutdown()


def test_a_region_is_held_a_slot_and_a_packet_at_a_time(tmp_path, monkeypatch, capsys):
    """crash extract writes each packet from the region's mapping (no copy of
    it kept) and lets the host drop each slot's pages once scanned and each
    packet's once written: the releases tile every slot and every packet
    written (a 512 MiB region of 16 MiB packets: 89 MB of RSS, was 1.8 GB)."""
    region = tmp_path / "r.img"
    record(region, cpus=(0, 5), events=400)
    released = []
    real = crash._releaser

    def spy(mapped):
        release = real(mapped)

        def logged(offset, length):
            released.append((offset, length))
            release(offset, length)
        return logged
    monkeypatch.setattr(crash, "_releaser", spy)
    rc, out = extract(region, tmp_path / "t", capsys)
    assert rc == 0, out.err
    h = unpack_header(region.read_bytes())
    slots = [(HEADER_SIZE + c * h["slot_size"], h["slot_size"]) for c in range(h["nr_cpus"])]
    assert released[:len(slots)] == slots
    scan = scan_region(region.read_bytes())
    written = [(p.offset, HDR + len(p.body)) for _, ps in sorted(scan.packets.items())
               for p in ps]
    assert released[len(slots):] == written and len(written) >= 4
    assert sum(os.path.getsize(tmp_path / "t" / f) for f in os.listdir(tmp_path / "t")
               if f != "metadata") == sum(n for _, n in written)
    for ps in scan.packets.values():
        for p in ps:
            assert isinstance(p.body, memoryview)       # a view of the region, not a copy
