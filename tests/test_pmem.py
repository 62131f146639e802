"""The pmem backend: reserve_mem, the hot reboot, the region's validation,
crash extract on damaged files (hypothesis), and the backend contract."""
import io
from pathlib import Path
import zlib

import backend_suite
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from hw.machine import Machine
from hw.topology import load_preset
from kmodel.cli.main import main
from kmodel.cli.shell import Shell
from kmodel.consumer.ctf import BY_ID, encode
from kmodel.cpu.sched import run_now
from kmodel.kernel import BootError, boot
from kmodel.relay.layer_channel import ring_buffer_open
from kmodel.relay.pmem_layout import (HEADER_SIZE, OFFSETS, PmemLayoutError, free_header,
                                      scan_region)
from relay_helpers import RelayEnv

from pmem_helpers import CMDLINE, blob, record


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("pmem") / "region.img"
    written = record(path)
    return path.read_bytes(), written


def test_reserve_mem_keeps_the_region_from_the_allocator():
    with boot("numa2", cmdline=CMDLINE) as k:
        start, size = k.reserve_mem_find_by_name("trace")
        assert size == 4 << 20 and start == (128 << 20) - size       # top of node 1
        assert "  07c00000-07ffffff : reserve_mem:trace" in k.fs.read("/proc/iomem")
        pfns = range(start >> 12, (start + size) >> 12)
        z = k.page_alloc.zones[1]
        assert not any(p in z.free_order for p in pfns)
        taken = []
        while (p := k.alloc_pages_node(1, 0x10000 | 0x200, 0)) is not None:   # THISNODE|NOWARN
            taken.append(p.pfn)
        assert taken and not set(taken) & set(pfns)
        assert any("reserve_mem: trace: 4096k at" in line for line in k.log.lines())
    for bad in ("reserve_mem=4M", "reserve_mem=5000:4096:trace", "reserve_mem=4M:3000:trace",
                "reserve_mem=100M:4096:trace"):
        with pytest.raises(BootError, match="reserve_mem"):
            boot("numa2", cmdline=bad)


def test_a_pmem_file_needs_the_region_and_keeps_its_size(tmp_path):
    m = Machine(load_preset("numa2"), pmem_path=str(tmp_path / "r.img"))
    with pytest.raises(BootError, match="needs reserve_mem"):
        boot(m)
    m.close()
    (tmp_path / "small.img").write_bytes(free_header())     # a region of another size
    m = Machine(load_preset("numa2"), pmem_path=str(tmp_path / "small.img"))
    with pytest.raises(BootError, match="small.img is 4096 bytes; the region is 4194304"):
        boot(m, cmdline=CMDLINE)
    m.close()


@pytest.fixture
def pmem_sh():
    """A shell with a reserved region, the relay loaded, and channel t on pmem."""
    sh = Shell("numa2", [], 0, CMDLINE)
    sh.execute("insmod ltt_relay_alloc")
    sh.execute("relay open t subbuf_size=4k n_subbufs=4 backend=pmem layer=lockless")
    yield sh
    sh.close()


def test_hot_reboot_keeps_the_region_and_loses_the_rest(pmem_sh):
    sh = pmem_sh
    sh.execute("relay open plain subbuf_size=4k n_subbufs=2")
    sh.execute("relay write t cpu=3 data=before-the-reboot count=5")
    sh.execute("relay write plain cpu=0 data=ordinary-memory")
    out = sh.execute("reboot")
    assert "boot 2" in out and "reserve_mem region trace kept" in out
    with pytest.raises(Exception):
        sh.execute("relay show plain")               # the old kernel's channels are gone
    assert sh.execute("leaks") == "no leaks\n"
    assert "ltt" not in sh.k.fs.listdir("/sys/kernel/debug")
    sh.execute("insmod ltt_relay_alloc")
    trace = sh.execute("cat /sys/kernel/debug/ltt/previous_boot/trace")
    assert trace.count("cpu 3 packet 0 id") == 5 and "before-the-reboot" in trace
    info = sh.execute("cat /sys/kernel/debug/ltt/previous_boot/info")
    assert "channel 't'" in info and "cpu 3: 1 packet (0 complete, 1 cut" in info
    # kept read-only: no pmem channel until it is cleared
    assert "Device or resource busy" in str(_fails(sh, "relay open u subbuf_size=4k "
                                                      "n_subbufs=4 backend=pmem"))
    assert any("keeps the previous boot's trace" in line for line in sh.k.log.lines())
    sh.execute("echo 1 > /sys/kernel/debug/ltt/previous_boot/clear")
    sh.execute("relay open u subbuf_size=4k n_subbufs=4 backend=pmem")


def _fails(sh, line):
    try:
        sh.execute(line)
    except Exception as e:
        return e
    raise AssertionError(f"{line!r} did not fail")


def test_a_damaged_region_is_wiped_at_boot_with_the_reason(tmp_path):
    path = tmp_path / "r.img"
    record(path, events=20)
    data = bytearray(path.read_bytes())
    data[OFFSETS["version"]] = 9
    path.write_bytes(data)
    sh = Shell("numa2", [], 0, CMDLINE, str(path))
    try:
        sh.execute("insmod ltt_relay_alloc")
        line = [x for x in sh.k.log.lines() if "pmem" in x][-1]
        assert "header field version at offset 0x8" in line and "wiped" in line
        assert path.read_bytes()[:HEADER_SIZE] == free_header()   # still kmodel's, and free
    finally:
        sh.close()


def test_crash_extract_writes_ctf_and_reports(tmp_path, image):
    data, written = image
    (tmp_path / "r.img").write_bytes(data)
    out = io.StringIO()
    assert main(["crash", "extract", str(tmp_path / "r.img"), "-o", str(tmp_path / "t")],
                out=out) == 0
    text = out.getvalue()
    assert "cpu 0: 4 packets (4 complete, 0 cut" in text     # flushed, wrapped
    assert "cut at their last commit" in text and "records to" in text
    from kmodel.consumer.ctf import read_trace
    streams = read_trace(str(tmp_path / "t"))
    assert sorted(streams) == ["channel0_0", "channel0_5"]
    # again into the same directory: refused, nothing overwritten
    assert main(["crash", "extract", str(tmp_path / "r.img"), "-o", str(tmp_path / "t")],
                out=io.StringIO()) == 2


def extracted(data):
    """{(cpu, payload)} of every record a scan of data gives."""
    scan = scan_region(data)
    return scan, {(p.cpu, payload) for ps in scan.packets.values() for p in ps
                  for _ts, _eid, payload in p.records}


def test_a_clean_image_gives_back_what_the_overwrite_kept(image):
    data, written = image
    scan, got = extracted(data)
    assert got <= written and scan.dropped == {}
    assert len(got) > 100


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flips=st.lists(st.tuples(st.integers(0, (4 << 20) * 8 - 1)), min_size=1, max_size=8),
       focus=st.booleans())
def test_bit_flips_give_an_error_or_drop_never_invent(image, flips, focus):
    data, written = image
    bad = bytearray(data)
    used = HEADER_SIZE + 2 * (4096 + 4 * 4096) * 6   # the header and the first slots
    for (bit,) in flips:
        at = (bit // 8) % used if focus else bit // 8
        bad[at] ^= 1 << (bit % 8)
    try:
        scan, got = extracted(bytes(bad))
    except PmemLayoutError as e:
        assert "offset" in str(e) or "bytes" in str(e)
        return
    assert got <= written                            # nothing invented, nothing torn


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(0, 4 << 20))
def test_truncations_are_named(image, cut):
    data, written = image
    try:
        scan, got = extracted(data[:cut])
    except PmemLayoutError as e:
        assert "truncated" in str(e) or "shorter than its header" in str(e)
        return
    assert got <= written and cut == len(data)


def test_a_torn_metadata_store_falls_back_to_the_other_entry(tmp_path):
    """A crash inside the store of a commit's metadata entry leaves the other
    entry, one commit older, whole: the reader takes it (one record fewer),
    and drops nothing."""
    from kmodel.relay.pmem_layout import META_HEAD, SB_META, entries
    path = tmp_path / "r.img"
    record(path, cpus=(0,), events=10, flush=False)
    data = bytearray(path.read_bytes())
    _, before = extracted(bytes(data))
    h = scan_region(bytes(data)).header
    meta = memoryview(data)[HEADER_SIZE:HEADER_SIZE + h["meta_size"]]
    (newest, _), (older, (old_seq, *_)) = entries(meta, 0)
    data[HEADER_SIZE + newest + 17] ^= 0xFF          # a torn store: its checksum half-written
    scan, after = extracted(bytes(data))
    assert scan.dropped == {} and len(after) == len(before) - 1 and after <= before
    assert newest != older and META_HEAD.size <= older and SB_META.size == 24


# --- the backend conformance suite (tests/backend_suite.py), on pmem --------------------
@pytest.fixture
def pmem_env(kernel_factory):
    return RelayEnv(kernel_factory("numa2", cmdline=CMDLINE))


@pytest.mark.parametrize("check", backend_suite.CHECKS, ids=lambda c: c.__name__)
def test_backend_conformance_on_pmem(pmem_env, check):
    check(pmem_env, "pmem")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=backend_suite.OPS)
def test_round_trips_match_a_bytearray_model_on_pmem(kernel_factory, script):
    backend_suite.round_trips(kernel_factory("numa2", cmdline=CMDLINE), ["pmem"], script)


# --- modeled cost: the region's memory type ---------------------------------------------
def _pmem_kernel(memtype):
    from hw.topology import parse_machine
    text = (Path(__file__).parent.parent / "hw/presets/numa2.toml").read_text()
    assert 'pmem_memtype = "wc"' in text
    text = text.replace('pmem_memtype = "wc"', f'pmem_memtype = "{memtype}"')
    return boot(parse_machine(text, source="numa2-" + memtype), cmdline=CMDLINE)


@pytest.mark.parametrize("memtype", ["wb", "wc", "uc"])
def test_the_region_costs_what_its_memory_type_says(memtype):
    """A 4 KiB relay write from CPU 4 (node 1, where the region is): 64 lines.
    wb: cached like RAM, and the 16 KiB buffer fits the L1 (32 bytes a cycle):
    4096 / 32 = 128 cycles; wc: bypasses the caches, 6.4 ns a line, 64 x 12.8
    = 819 cycles; uc: 8 accesses a line, each to DRAM, 8 x 180 cycles a line."""
    from kmodel.relay.relay_alloc import ltt_relay_write
    k = _pmem_kernel(memtype)
    try:
        chan = RelayEnv(k).open(8192, 2, backend="pmem")
        buf = chan.buf[4]
        k.timing.reset()
        ltt_relay_write(buf, 0, bytes(4096), 4096)
        t = k.timing.totals()
        data = t["cycles"] - t["tlb_misses_1G"] * k.timing.table.page_walk_cycles
        assert t["bytes_local"] == 4096 and t["bytes_remote"] == 0
        assert data == {"wb": 128, "wc": 819, "uc": 64 * 8 * 180}[memtype]
    finally:
        k.shutdown()


def test_a_commit_behind_a_hole_waits_for_the_next_commit_in_order(pmem_sh):
    """A task reserves, an irq on its CPU writes a record after it, and the
    kernel dies before the task commits: the irq's record sits behind the
    task's uncommitted slot, so the commit sequence has not moved past the
    header, and a reader finds nothing to decode there (not the task's empty
    slot taken for a record).  The task's commit fills the hole but ends
    before the commit count: as LTTng's commit_hot.seq, the region's sequence
    waits (it is the ring buffer's own), and the next commit in order brings
    all three back."""
    from kmodel.relay.pmem_boot import pmem_state
    sh = pmem_sh
    sh.execute("relay reserve t cpu=0 data=from-the-task")
    sh.execute("irq 0 relay write t data=from-the-irq")
    crashed = bytes(pmem_state(sh.k).view)
    scan, got = extracted(crashed)
    assert got == set() and scan.dropped == {}
    sh.execute("relay commit t cpu=0")
    scan, got = extracted(bytes(pmem_state(sh.k).view))
    assert got == set() and scan.dropped == {}
    sh.execute("relay write t cpu=0 data=in-order")
    scan, got = extracted(bytes(pmem_state(sh.k).view))
    assert {p for _, p in got} == {b"from-the-task", b"from-the-irq", b"in-order"}


def test_a_new_channel_does_not_inherit_an_offline_cpus_old_slot(pmem_sh):
    """Channel t wrote on CPU 3; CPU 3 goes offline and t closes; u is opened
    with the same geometry.  CPU 3 gets no buffer in u, and its slot must not
    show t's records as u's."""
    from kmodel.relay.pmem_boot import pmem_state
    sh = pmem_sh
    sh.execute("relay write t cpu=3 data=from-channel-t count=4")
    sh.execute("echo 0 > /sys/devices/system/cpu/cpu3/online")
    sh.execute("relay close t")
    sh.execute("relay open u subbuf_size=4k n_subbufs=4 backend=pmem layer=lockless")
    sh.execute("relay write u cpu=1 data=from-channel-u count=2")
    scan, got = extracted(bytes(pmem_state(sh.k).view))
    assert {p for _, p in got} == {b"from-channel-u"} and set(scan.packets) == {1}


@pytest.mark.parametrize("consumer", ["splice", "mmap"])
def test_the_consumers_drain_a_pmem_channel(tmp_path, consumer):
    """The consumers run on pmem unchanged: splice sends the region's frames
    from the --pmem file with sendfile, and a consumer in another process maps
    them from that file (sent by SCM_RIGHTS with the nodes' memfds)."""
    from kmodel.consumer.ctf import read_trace
    from kmodel.consumer.record import Recorder, RecordOptions
    opts = RecordOptions(events=100, subbuf_size=4096, n_subbufs=8, backend="pmem",
                         cmdline=CMDLINE, pmem=str(tmp_path / "r.img"), consumer=consumer)
    (tmp_path / "t").mkdir()
    stats = Recorder(opts, str(tmp_path / "t")).run()
    trace = read_trace(str(tmp_path / "t"))
    events = sum(len(p.events) for packets in trace.values() for p in packets)
    assert events == sum(s.read for s in stats.values()) > 0
    assert sum(s.lost for s in stats.values()) == 0
