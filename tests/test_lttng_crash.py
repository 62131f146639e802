"""LTTng's own lttng-crash recovers a trace from a pmem region that `kmodel
crash export` lays out in its crash ABI (kmodel/consumer/crash_abi.py), and
babeltrace2 reads the same events there as in `kmodel crash extract`'s
trace: on both layers and scopes, both modes, and from a region a SIGKILLed
`kmodel trace record --backend pmem` left."""
import os
import signal
import subprocess
import sys

import pytest

from kmodel.cli.main import main
from crash_tools import both, events, needs_tools
from pmem_helpers import record



@needs_tools
@pytest.mark.parametrize("era", ["2.x", "2009"])
@pytest.mark.parametrize("layer", ["lockless", "locked"])
@pytest.mark.parametrize("scope", ["per-cpu", "global"])
@pytest.mark.parametrize("mode", ["overwrite", "discard"])
def test_lttng_crash_reads_what_crash_extract_reads(tmp_path, capsys, layer, scope, mode, era):
    """Written past the buffer's size (overwritten or dropped), one packet
    consumed, the last ones left open, with LTTng's compact header: the same
    events, in the same order, in both eras (2.x's swaps:
    tests/test_pmem_table.py), and no warning from babeltrace2 on either."""
    region = tmp_path / "r.img"
    record(region, events=600, mode=mode, scope=scope, layer=layer, flush=False, consume=1,
           era=era, header="compact")
    theirs, ours = both(region, tmp_path, mode, capsys)
    assert theirs == ours and len(ours) > 100


@needs_tools
@pytest.mark.parametrize("header", ["large", "kmodel"])
def test_lttng_crash_with_the_other_headers(tmp_path, capsys, header):
    """LTTng's large header reads as the compact one does; kmodel's own
    (--header kmodel) still reads, with babeltrace2's one warning on its
    payload_size."""
    region = tmp_path / "r.img"
    record(region, events=600, flush=False, consume=1, header=header)
    theirs, ours = both(region, tmp_path, "overwrite", capsys, quiet=header != "kmodel")
    assert theirs == ours and len(ours) > 100


@needs_tools
@pytest.mark.parametrize("era, header", [("2.x", None), ("2009", None), ("2.x", "large")])
def test_a_sigkilled_trace_record_on_pmem(tmp_path, capsys, era, header):
    """kmodel trace record --backend pmem, killed with SIGKILL while it writes:
    lttng-crash recovers from the region what kmodel crash extract does, with
    LTTng's compact header (the default) or its large one, and babeltrace2
    warns of nothing."""
    img = tmp_path / "pmem.img"
    p = subprocess.Popen([sys.executable, "-m", "kmodel", "trace", "record", str(tmp_path / "t"),
                          "--backend", "pmem", "--cmdline", "reserve_mem=4M:4096:trace",
                          "--pmem", str(img), "--duration", "20000", "--subbuf-size", "4k",
                          "--mode", "overwrite", "--era", era] +
                         (["--header", header] if header else []),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        seen = ""
        while "[tick 64]" not in seen:          # until it has traced a while
            chunk = p.stderr.read(64)
            if not chunk:
                break
            seen += chunk
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == -signal.SIGKILL
    theirs, ours = both(img, tmp_path, "overwrite", capsys)
    assert theirs == ours and len(ours) > 100


def test_a_file_that_is_no_region_is_refused_and_nothing_written(tmp_path, capsys):
    bad = tmp_path / "notes.txt"
    bad.write_text("not a region\n" * 400)
    rc = main(["crash", "export", str(bad), "-o", str(tmp_path / "shm")])
    assert rc == 2 and "not a kmodel pmem region" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_a_slot_no_buffer_could_have_is_left_out_of_the_export(tmp_path, capsys):
    """A packet header whose sequence number no buffer reaches (damage, or a
    forged region) makes its slot's commit count overflow the ABI's 64 bits:
    that slot is left out and named, the other slots are exported (it was an
    internal error, struct.error)."""
    from kmodel.relay.pmem_layout import HEADER_SIZE, unpack_header
    region = tmp_path / "r.img"
    record(region, events=600, flush=False)
    data = bytearray(region.read_bytes())
    h = unpack_header(data)
    at = HEADER_SIZE + 0 * h["slot_size"] + h["meta_size"] + 64     # slot 0's first packet
    data[at:at + 8] = ((1 << 63) + 0).to_bytes(8, "little")         # packet_seq_num
    region.write_bytes(data)
    assert main(["crash", "export", str(region), "-o", str(tmp_path / "shm")]) == 0
    out = capsys.readouterr().out
    assert "slot 0: " in out and "left out (damaged" in out
    assert sorted(os.listdir(tmp_path / "shm")) == ["channel0_5", "metadata"]
