import os
import re

import pytest

from hw.ranges import format_range_list, parse_range_list
from hw.topology import MachineError, load_preset, parse_machine, preset_names
from hw.units import parse_size
from kmodel.kernel import BootError, boot


def test_every_preset_loads_and_matches_its_brief():
    assert set(preset_names()) >= {"uma", "numa2", "xeon-2s-skylake", "epyc-rome-nps4",
                                   "nehalem-2009", "big-16n"}
    sky = load_preset("xeon-2s-skylake")
    assert sky.distance == ((10, 21), (21, 10))
    assert sky.timing.dram_ns == {10: 90.0, 21: 144.0}
    assert sky.timing.tlb == {"4K": 64, "2M": 32, "1G": 4} and sky.timing.stlb_entries == 1536
    assert sky.cpu_node[16] == 0 and sky.cpu_node[8] == 1      # hyperthread numbering
    epyc = load_preset("epyc-rome-nps4")
    assert epyc.nr_nodes == 8 and {d for r in epyc.distance for d in r} == {10, 12, 32}
    neh = load_preset("nehalem-2009")
    assert "1G" not in neh.timing.tlb and neh.timing.vmalloc_lazy_sync
    big = load_preset("big-16n")
    assert big.nr_nodes == 16 and len(big.present_cpus) == 256
    assert big.total_memory == 1 << 40
    numa2 = load_preset("numa2")
    assert numa2.present_cpus == list(range(8)) and numa2.possible_cpus == list(range(10))


GOOD = """
distance = [[10, 21], [21, 10]]
[[nodes]]
memory = "4M"
cpus = "0-1"
[[nodes]]
memory = "4M"
cpus = "2-3"
"""


@pytest.mark.parametrize("text, words", [
    ("this is = = not toml", "malformed TOML"),
    (GOOD.replace("[[10, 21], [21, 10]]", "[[10, 21]]"), "square"),
    (GOOD.replace("[[10, 21], [21, 10]]", "[[10, 21], [21, 11]]"), "diagonal"),
    (GOOD.replace('memory = "4M"\ncpus = "0-1"', 'memory = "4097"\ncpus = "0-1"'),
     "multiple of the page size"),
    (GOOD.replace('cpus = "2-3"', 'cpus = "1-3"'), "CPU 1 is listed twice"),
    (GOOD.replace('cpus = "2-3"', 'cpus = "3-2"'), "bad range"),
    ("[timing]\ncpu_ghz=1", "no [[nodes]]"),
    (GOOD + '[timing]\ndram_ns = { "10" = 80 }\n', "no latency for SLIT distance"),
    ('nmae = "x"\n' + GOOD, "unknown key(s) nmae (known: name,"),
    (GOOD.replace('cpus = "2-3"', 'cpus = "2-3"\nhotplug_cpu = "4"'),
     "node 1: unknown key(s) hotplug_cpu"),
    (GOOD + '[timing]\ndram_nss = 5\n', "timing: unknown key(s) dram_nss (known: cpu_ghz,"),
])
def test_bad_descriptions_name_the_problem(text, words):
    with pytest.raises(MachineError, match=re.escape(words)):
        parse_machine(text, source="m.toml")


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(MachineError, match="unknown machine preset 'nope'.*numa2"):
        load_preset("nope")


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_failed_boot_leaves_nothing_behind():
    before = _open_fds()
    with pytest.raises(BootError, match="maxcpus"):
        boot("numa2", maxcpus=0)
    assert _open_fds() == before


def test_range_lists_and_sizes():
    assert parse_range_list("0-3,6,8-9") == [0, 1, 2, 3, 6, 8, 9]
    assert format_range_list([9, 0, 1, 2, 3, 6, 8]) == "0-3,6,8-9"
    assert format_range_list([]) == ""
    assert parse_size("16k") == 16384 and parse_size("1m") == 1 << 20
    assert parse_size("64MiB") == 64 << 20
    with pytest.raises(ValueError):
        parse_size("12q")
