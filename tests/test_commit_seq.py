"""Erratum 7915e163 on pmem: the commit sequence the region keeps is the ring
buffer's commit_hot[idx].seq, so with CONFIG_KMODEL_RB_ERRATUM_COMMIT_SEQ (the
commit path's pre-7915e163 arguments) a partial packet's records are gone
from a crash dump, by kmodel crash extract and by LTTng's lttng-crash alike;
fixed, both give every record back."""
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kmodel.cli.main import main
from kmodel.cli.relay_state import relay_state
from kmodel.cli.shell import Shell
from kmodel.consumer.ctf import read_trace
from kmodel.cpu.explore import explore
from kmodel.kernel import boot
from kmodel.relay.pmem_boot import pmem_state
from kmodel.relay.pmem_layout import entries, scan_region
from kmodel.scenarios.layer_races import CommitSeq
from crash_tools import both, needs_tools
from pmem_helpers import CMDLINE, record

BUG = ("CONFIG_KMODEL_RB_ERRATUM_COMMIT_SEQ=y",)


def extract(region, out, capsys):
    assert main(["crash", "extract", str(region), "-o", str(out)]) == 0
    capsys.readouterr()
    return sum(len(p.events) for ps in read_trace(str(out)).values() for p in ps)


@pytest.mark.parametrize("config, kept", [((), True), (BUG, False)])
def test_a_partial_packet_survives_a_crash_only_when_fixed(tmp_path, capsys, config, kept):
    """40 records in one CPU's open packet (less than a sub-buffer), no flush,
    then the kernel is gone: fixed, kmodel crash extract gives all 40 back;
    with the erratum the sequence stayed at the header's commit, and the dump
    has no record."""
    region = tmp_path / "r.img"
    written = record(region, cpus=(0,), events=40, flush=False, config=config)
    assert len(written) == 40
    assert extract(region, tmp_path / "t", capsys) == (40 if kept else 0)


@pytest.mark.parametrize("config", [(), BUG])
def test_a_full_packet_survives_either_way(tmp_path, capsys, config):
    """The switch paths passed the right end before 7915e163 too: a packet
    closed by a flush (its padding committed in order) is in the dump with or
    without the erratum; only the open one after it differs."""
    region = tmp_path / "r.img"
    record(region, cpus=(0,), events=40, flush=True, config=config)
    assert extract(region, tmp_path / "t", capsys) == 40


@needs_tools
@pytest.mark.parametrize("config, kept", [((), True), (BUG, False)])
def test_lttng_crash_loses_the_partial_packet_with_the_erratum(tmp_path, capsys, config, kept):
    """LTTng's own lttng-crash, on the region's crash ABI export (its
    commit_hot seq is the region's), reads what kmodel crash extract does:
    the open packet's records fixed, none with the erratum."""
    region = tmp_path / "r.img"
    record(region, cpus=(0,), events=40, flush=False, header="compact", config=config)
    theirs, ours = both(region, tmp_path, "overwrite", capsys)
    assert theirs == ours
    assert len(ours) == (40 if kept else 0)


def test_the_scenario_reaches_commits_out_of_order():
    """rb-commit-seq's invariant allows LTTng's lag, and the scenario reaches
    it: fixed, in some of exhaustive search's schedules (bound 2) every
    reservation is committed and seq is still behind the commit count (the
    task committed after the irq's records), and none breaks the invariant."""
    lagged = set()

    class Watched(CommitSeq):
        def check_seq(self, rb):
            S = self.rbc.subbuf_size
            off = rb.offset.counter
            if off and not rb.book.inflight:
                hot = rb.commit_hot[((off - 1) // S) % self.rbc.n_subbufs]
                if hot.seq.counter != hot.cc.counter:
                    lagged.add(self.runs)
            return super().check_seq(rb)

    k = boot()
    k.modules.insmod("ltt_relay_alloc")
    try:
        sc = Watched()
        res = explore(sc.setup, sc.check, strategy="exhaustive", bound=2, runs=10**5, kernel=k)
        sc.close()
        assert res.ok and res.complete, res.failure and res.failure.message
        assert 0 < len(lagged) < res.runs
    finally:
        k.shutdown()


# one step of a writer on CPU 0: a record of n bytes written straight, or a
# record of n bytes reserved, irq records written over it, then committed
STEP = st.one_of(st.tuples(st.just("write"), st.integers(1, 700)),
                 st.tuples(st.just("nest"), st.integers(1, 700),
                           st.lists(st.integers(1, 700), min_size=1, max_size=3)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=1, max_size=12))
def test_the_region_keeps_the_ring_buffers_commit_sequence(steps):
    """After every record, nested or not, across sub-buffer boundaries, each
    sub-buffer's newest metadata entry in the region holds commit_hot[idx].seq
    (what lttng-crash would read), and kmodel's reader decodes exactly the
    records that sequence vouches for, none of them an open reservation."""
    sh = Shell("numa2", [], 0, CMDLINE)
    try:
        sh.execute("insmod ltt_relay_alloc")
        sh.execute("relay open t subbuf_size=4k n_subbufs=4 backend=pmem layer=lockless")
        rb = relay_state(sh).layers["t"].buf_for(0)
        meta = rb.rbuf.priv.meta
        for step in steps:
            if step[0] == "write":
                sh.execute(f"relay write t cpu=0 bytes={step[1]}")
            else:
                sh.execute(f"relay reserve t cpu=0 bytes={step[1]}")
                for n in step[2]:
                    sh.execute(f"irq 0 relay write t bytes={n}")
                sh.execute("relay commit t cpu=0")
            for idx, hot in enumerate(rb.commit_hot):
                (_, newest), _ = entries(meta, idx)
                assert newest[0] == hot.seq.counter, (idx, newest, hot.seq.counter)
            scan = scan_region(bytes(pmem_state(sh.k).view))
            assert scan.dropped == {}
            for p in scan.packets.get(0, []):
                hot = rb.commit_hot[p.seq % 4]
                lap = p.seq // 4
                assert p.complete or len(p.data) == hot.seq.counter - lap * 4096
    finally:
        sh.close()
