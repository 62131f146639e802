"""The pmem backend runs era 2.x: the sub-buffer table is in the region
(kmodel/relay/pmem_table.py), correct at any instant a crash can hit, and
both crash readers go through it.

The buffers here are left as a crashed kernel leaves them: the channel is
never closed, and the region file is read afterwards.  A crash between two
stores of the table is made deterministic by copying the region file after
each store of a swap (what a SIGKILL at that instant leaves), not by timing
a kill."""

import pytest

from hw.machine import Machine
from hw.topology import load_preset
from kmodel.consumer.ctf import BY_ID, decode
from kmodel.cpu.sched import run_now
from kmodel.kernel import boot
from kmodel.relay import pmem_table
from kmodel.relay.layer_channel import ring_buffer_open
from kmodel.relay.pmem_layout import HEADER_SIZE, scan_region, table_at, unpack_header
from kmodel.relay.pmem_table import read_table
from kmodel.relay.rb_backend import SB_ID_INDEX_MASK, SB_ID_NOREF_MASK
from crash_tools import both, needs_tools
from pmem_helpers import CMDLINE, blob

S, N = 4096, 4


class Flight:
    """A pmem channel on CPU 0 of a booted machine, and what was written."""

    def __init__(self, k, era, mode, layer):
        k.modules.insmod("ltt_relay_alloc")
        self.k = k
        self.rbc, err = ring_buffer_open(k, "t", S, N, "pmem", "local", layer, mode,
                                         "per-cpu", era=era)
        assert self.rbc is not None, (err, k.log.text())
        self.rb = self.rbc.buf_for(0)
        self.i = 0
        self.written = []

    def write(self, count):
        with self.k.on_cpu(0):
            for _ in range(count):
                if run_now(self.k, self.rbc.layer.write(self.rb, blob(self.i), event_id=3)) >= 0:
                    self.written.append(self.i)
                self.i += 1

    def get(self):
        pos = run_now(self.k, self.rbc.get_subbuf(self.rb))
        assert pos >= 0, pos
        return pos

    def put(self, pos):
        return run_now(self.k, self.rbc.put_subbuf(self.rb, pos))

    def region_table(self, path):
        data = path.read_bytes()
        h = unpack_header(data)
        return read_table(memoryview(data)[HEADER_SIZE:HEADER_SIZE + h["meta_size"]],
                          table_at(N), N)

    def memory_table(self):
        bufb = self.rb.bufb
        return [w.counter for w in bufb.wsb], bufb.rsb


def run(path, era="2.x", mode="overwrite", layer="lockless", script=None):
    """Boot on region file path, open a channel, run script(flight), leave the
    channel open (a crash); returns script's result."""
    with Machine(load_preset("numa2"), pmem_path=str(path)) as m:
        k = boot(m, cmdline=CMDLINE)
        try:
            return script(Flight(k, era, mode, layer))
        finally:
            k.shutdown()


def swapped(f, path, hold=False, pushed=False):
    """Writers lap a held sub-buffer, so its put finds the place taken and the
    reader keeps it as its spare: the table is no longer the identity.  Then
    more is written, and if hold, a reader takes the next sub-buffer and
    keeps it at the crash (if pushed, the writers lap it again)."""
    f.write(100)
    pos = f.get()
    f.write(250)                                # 4 KiB x 4: laps it
    assert f.put(pos) == 0
    f.write(150)
    held = None
    if hold:
        held = f.get()
        if pushed:
            f.write(250)
    assert f.region_table(path) == f.memory_table()
    return held, list(f.written), f.rb.bufb.ids()


def seqs(scan):
    """{seq: packet seq} of the records a scan recovered (each whole)."""
    out = {}
    for packets in scan.packets.values():
        for p in packets:
            for _ts, _eid, payload in p.records:
                out[decode(BY_ID[3], payload)["seq"]] = p.seq
    return out


@pytest.mark.parametrize("layer", ["lockless", "locked"])
def test_the_region_keeps_a_spare_and_the_table_through_every_swap(tmp_path, layer):
    """2.x overwrite: n + 1 sub-buffers a slot, and after every get and put
    the region's copy of the table is the ring buffer's, noref flags and
    offset tags included; the table is a permutation of 0..n."""
    path = tmp_path / "r.img"

    def script(f):
        h = unpack_header(path.read_bytes())
        assert (h["version"], h["n_alloc"]) == (4, N + 1)
        assert f.region_table(path) == f.memory_table()
        for _ in range(6):
            f.write(90)
            pos = f.get()
            assert f.region_table(path) == f.memory_table()
            assert not f.memory_table()[1] & SB_ID_NOREF_MASK         # held
            f.write(200)
            f.put(pos)
            assert f.region_table(path) == f.memory_table()
        assert sorted(f.rb.bufb.ids()) == list(range(N + 1))
        return f.rb.bufb.ids()
    ids = run(path, layer=layer, script=script)
    assert ids != list(range(N + 1))            # the writers pushed the reader: swapped


@pytest.mark.parametrize("hold, pushed", [(False, False), (True, False), (True, True)])
def test_crash_extract_reads_through_the_table(tmp_path, hold, pushed):
    """After a swap the table is no identity; extract finds every packet where
    the table says: the newest records, unbroken, each once.  A sub-buffer
    the reader held at the crash and nobody pushed is read from the
    reader's own sub-buffer; one the writers pushed past is behind consumed
    and not read (as lttng-crash reads from consumed)."""
    path = tmp_path / "r.img"
    held, written, ids = run(path, script=lambda f: swapped(f, path, hold, pushed))
    assert ids != list(range(N + 1))
    scan = scan_region(path.read_bytes())
    assert scan.dropped == {} and scan.slots_bad == {} and scan.damaged == {}
    got = seqs(scan)
    assert set(got) <= set(written)
    assert sorted(got) == list(range(min(got), max(got) + 1)) and max(got) == written[-1]
    pkts = {p.seq for ps in scan.packets.values() for p in ps}
    if hold and not pushed:
        assert held // S in pkts                # the reader's copy, unconsumed
        assert min(pkts) == held // S
    elif hold:
        assert held // S not in pkts and min(pkts) > held // S


@needs_tools
@pytest.mark.parametrize("layer", ["lockless", "locked"])
@pytest.mark.parametrize("hold, pushed", [(False, False), (True, False), (True, True)])
def test_lttng_crash_reads_what_crash_extract_reads_after_a_swap(tmp_path, capsys, layer, hold,
                                                                 pushed):
    """The export writes the region's table (and, for a packet the reader
    held, the reader's sub-buffer) into the ABI's buf_wsb: the real
    lttng-crash extracts the events kmodel crash extract does."""
    path = tmp_path / "r.img"
    run(path, layer=layer, script=lambda f: swapped(f, path, hold, pushed))
    theirs, ours = both(path, tmp_path, "overwrite", capsys, quiet=False)   # (kmodel header)
    assert theirs == ours and len(ours) > 100


@pytest.mark.parametrize("op", ["get", "put"])
def test_a_crash_between_the_two_stores_of_a_swap_loses_nothing(tmp_path, monkeypatch, op):
    """The region as a SIGKILL leaves it after each single store of a get's
    (and a put's) swap: the packet being exchanged is unconsumed until the
    put moves consumed, and every copy still yields it, whole, with the same
    records as the region before the swap."""
    path = tmp_path / "r.img"
    copies = []
    real = pmem_table.store_id

    def store_and_copy(meta, at, id_):
        real(meta, at, id_)
        copies.append(path.read_bytes())

    def script(f):
        swapped(f, path)
        before = path.read_bytes()
        if op == "put":
            pos = f.get()
            before = path.read_bytes()
        monkeypatch.setattr(pmem_table, "store_id", store_and_copy)
        if op == "get":
            pos = f.get()
        else:
            f.put(pos)
        monkeypatch.setattr(pmem_table, "store_id", real)
        return pos, before
    pos, before = run(path, script=script)
    assert len(copies) == 2                     # rsb and wsb[idx], one store each
    want = seqs(scan_region(before))
    assert any(p == pos // S for p in want.values())
    for i, copy in enumerate(copies):
        scan = scan_region(copy)
        assert scan.dropped == {} and scan.slots_bad == {}, (i, scan.dropped, scan.slots_bad)
        assert seqs(scan) == want, f"after store {i + 1} of the {op}"


def test_era_2009_on_pmem_still_runs_without_a_spare(tmp_path):
    """--era 2009: n sub-buffers, the identity table, the reader in place."""
    path = tmp_path / "r.img"

    def script(f):
        f.write(400)
        pos = f.get()
        f.put(pos)
        return f.rb.bufb.ids(), f.region_table(path)
    ids, (wsb, _rsb) = run(path, era="2009", script=script)
    h = unpack_header(path.read_bytes())
    assert h["n_alloc"] == N and ids == list(range(N))
    assert [w & SB_ID_INDEX_MASK for w in wsb] == list(range(N))
    got = seqs(scan_region(path.read_bytes()))
    assert got and max(got) == 399


def test_a_version_2_region_is_still_read(tmp_path):
    """A region of layout version 2 (no table, no n_alloc) reads as the
    identity: its header rewritten as version 2 wrote it gives the same
    records."""
    import struct
    import zlib
    from kmodel.relay.pmem_layout import CRC, REGION_HEADER, REGION_HEADER_V2
    path = tmp_path / "r.img"
    run(path, era="2009", script=lambda f: f.write(400))
    data = bytearray(path.read_bytes())
    want = seqs(scan_region(bytes(data)))
    values = list(REGION_HEADER.unpack_from(data))[:-2]
    values[1] = 2
    body = REGION_HEADER_V2.pack(*values)
    data[:REGION_HEADER.size + CRC.size] = bytes(REGION_HEADER.size + CRC.size)
    data[:len(body)] = body
    struct.pack_into("<I", data, len(body), zlib.crc32(body))
    h = unpack_header(bytes(data))
    assert h["version"] == 2 and h["n_alloc"] == N
    assert seqs(scan_region(bytes(data))) == want and want
