"""Fuzzing what a user can hand kmodel: machine files with random values, and
scripts of random bytes or random valid-looking lines.  Each ends in a spec or
a MachineError, and a script in exit status 0, 1 or 2: never a traceback."""
import io
import time

from hypothesis import HealthCheck, given, settings, strategies as st

from hw.topology import MachineError, parse_machine
from kmodel.cli.errors import USER_ERRORS
from kmodel.cli.run import run_text

VALUES = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                   st.text(max_size=8), st.booleans(), st.just([1, "x"]),
                   st.just({"10": "abc"}), st.just({"10": -1}), st.just("1P"),
                   st.just("16M"), st.just("0-3"))
KEYS = st.sampled_from(["memory", "cpus", "hotplug_cpus", "cpu_ghz", "dram_ns", "tlb",
                        "stlb_entries", "stlb_sizes", "page_walk_cycles",
                        "vmalloc_lazy_sync", "line_transfer_ns", "atomic_cycles",
                        "distance", "timing"])


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == float("inf") else
                                     "-inf" if v == float("-inf") else repr(v))
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f'"{k}" = {toml_value(x)}' for k, x in v.items()) + " }"
    return str(v)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["top", "node", "timing"]), KEYS, VALUES),
                max_size=6))
def test_machine_files_with_random_values(edits):
    top = {"name": '"m"', "description": '"d"'}
    node = {"memory": '"16M"', "cpus": '"0-1"'}
    timing = {}
    for where, key, value in edits:
        {"top": top, "node": node, "timing": timing}[where][key] = toml_value(value)
    text = "".join(f"{k} = {v}\n" for k, v in top.items())
    text += "[[nodes]]\n" + "".join(f"{k} = {v}\n" for k, v in node.items())
    if timing:
        text += "[timing]\n" + "".join(f"{k} = {v}\n" for k, v in timing.items())
    try:
        spec = parse_machine(text, source="fuzz")
    except MachineError:
        return
    assert spec.nr_nodes == 1 and spec.timing.cpu_ghz > 0


LINES = st.sampled_from([
    "cat /proc/meminfo", "echo 0 > /sys/devices/system/cpu/cpu3/online",
    "echo 1 > /sys/devices/system/cpu/cpu3/online", "insmod ltt_relay_alloc",
    "relay open t subbuf_size=4k n_subbufs=2", "relay write t cpu=1 bytes=100 count=3",
    "relay open l subbuf_size=4k n_subbufs=2 layer=lockless mode=discard",
    "relay write l cpu=2 bytes=900 count=9", "relay consume l cpu=2",
    "relay reserve l cpu=1 bytes=50", "relay commit l cpu=1", "irq 1 relay write l bytes=8",
    "relay show t cpu=0-1", "relay close t", "relay close l", "storm cpus=1-3 steps=5",
    "expect leaks == 0", "expect dmesg ~ (", "relay read t cpu=1 offset=0 len=16",
    "taskset -c 2 relay write t bytes=4", "nmi 2 contexts", "dmesg -c", "stat",
    "memhog node=1 size=1m", "memhog free", "rmmod ltt_relay_alloc", "exit"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(LINES, st.text(max_size=30)), max_size=12))
def test_scripts_of_random_valid_looking_lines(lines):
    t = time.monotonic()
    rc = run_text("\n".join(lines) + "\n", io.StringIO(), name="fuzz")
    assert rc in (0, 1, 2) and time.monotonic() - t < 20


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_scripts_of_random_bytes(data):
    text = data.decode("utf-8", errors="replace")
    try:
        rc = run_text(text, io.StringIO(), name="fuzz")
    except USER_ERRORS:
        return                      # a header the script got wrong: exit 2 in the CLI
    assert rc in (0, 1, 2)
