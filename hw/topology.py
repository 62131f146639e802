"""Machine descriptions: nodes, CPUs, SLIT distances and a timing table.

A machine is described in TOML (the presets ship in ``hw/presets/``) and checked
here completely before anything is built from it, so a bad description is one
clear :class:`MachineError` and nothing else.

TOML shape::

    name = "numa2"
    description = "..."
    distance = [[10, 21], [21, 10]]      # SLIT, one row per node
    [[nodes]]                            # node 0, then node 1, ...
    memory = "64M"                       # a multiple of the page size
    cpus = "0-3"                         # present CPUs (Linux range list)
    hotplug_cpus = "8"                   # possible, not present: empty slots
    [timing]                             # see hw.timing.TimingTable
"""
import tomllib
from dataclasses import dataclass, field
from importlib import resources

from hw import PAGE_SIZE
from hw.hostfile import HostFileError, read_regular_file
from hw.ranges import parse_range_list
from hw.units import format_size, parse_size
from hw.timing import TimingTable


DEFAULT_PRESET = "numa2"       # the machine every command boots unless told otherwise

# A machine file is a few hundred bytes; the largest machine kmodel takes
# (MAX_NUMNODES nodes, a SLIT row each) is about one MiB of TOML.
MACHINE_FILE_LIMIT = 4 << 20

# What Linux 2.6.29 takes on x86-64: MAX_PHYSMEM_BITS is 44
# (arch/x86/include/asm/sparsemem.h), 16 TiB of RAM; NODES_SHIFT is at most 9
# (arch/x86/Kconfig), MAX_NUMNODES 512 nodes.
MAX_PHYSMEM_BITS = 44
MAX_NUMNODES = 1 << 9


class MachineError(ValueError):
    """A machine description that cannot be built; the message names why."""


@dataclass(frozen=True)
class NodeSpec:
    nid: int
    memory: int                 # bytes
    cpus: tuple                 # present CPUs on this node
    hotplug_cpus: tuple         # possible but not present CPUs on this node


@dataclass(frozen=True)
class MachineSpec:
    name: str
    description: str
    nodes: tuple
    distance: tuple             # tuple of tuples, SLIT
    timing: TimingTable
    cpu_node: dict = field(hash=False)    # cpu -> nid, for every possible CPU

    @property
    def nr_nodes(self):
        return len(self.nodes)

    @property
    def possible_cpus(self):
        return sorted(self.cpu_node)

    @property
    def present_cpus(self):
        return sorted(c for n in self.nodes for c in n.cpus)

    @property
    def total_memory(self):
        return sum(n.memory for n in self.nodes)


def preset_names():
    """preset_names - the names of the machine presets shipped with hw."""
    files = resources.files("hw").joinpath("presets")
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".toml"))


def load_preset(name):
    """load_preset - build the MachineSpec of a shipped preset by name, or of a
    machine file of one's own (a path ending in .toml, or with a '/')."""
    if str(name).endswith(".toml") or "/" in str(name):
        return load_machine_file(name)
    if name not in preset_names():
        raise MachineError(
            f"unknown machine preset {name!r}; known: {', '.join(preset_names())}")
    text = resources.files("hw").joinpath("presets", name + ".toml").read_text()
    return parse_machine(text, source=f"preset {name}")


def load_machine_file(path):
    """load_machine_file - build a MachineSpec from a TOML file of one's own (a
    regular file of at most MACHINE_FILE_LIMIT bytes: a FIFO or a device is
    refused before it is read)."""
    try:
        text = read_regular_file(path, MACHINE_FILE_LIMIT, "machine file").decode("utf-8-sig")
    except HostFileError as e:
        raise MachineError(str(e)) from None
    except UnicodeDecodeError as e:
        raise MachineError(f"{path}: not a TOML text file (byte {e.start} is not UTF-8)") \
            from None
    return parse_machine(text, source=str(path))


def parse_machine(text, source="<machine>"):
    """parse_machine - check a TOML machine description and return its MachineSpec."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise MachineError(f"{source}: malformed TOML: {e}") from None
    except RecursionError:              # tomllib recurses once an array or table deep
        raise MachineError(f"{source}: malformed TOML: arrays or tables nested too deeply "
                           "for a machine description") from None

    def fail(msg):
        raise MachineError(f"{source}: {msg}")

    def no_unknown(table, known, where):      # a typo must not fall back to a default
        unknown = sorted(set(table) - set(known))
        if unknown:
            fail(f"{where}unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")

    no_unknown(doc, ("name", "description", "nodes", "distance", "timing"), "")
    name = doc.get("name", source)
    nodes_doc = doc.get("nodes")
    if not isinstance(nodes_doc, list) or not nodes_doc:
        fail("no [[nodes]]: a machine needs at least one node")
    if len(nodes_doc) > MAX_NUMNODES:
        fail(f"{len(nodes_doc)} nodes: Linux 2.6.29 takes at most {MAX_NUMNODES} "
             "(MAX_NUMNODES, NODES_SHIFT 9 on x86-64)")
    nodes = []
    cpu_node = {}
    for nid, nd in enumerate(nodes_doc):
        if not isinstance(nd, dict):
            fail(f"node {nid}: not a table")
        no_unknown(nd, ("memory", "cpus", "hotplug_cpus"), f"node {nid}: ")
        try:
            mem = parse_size(nd.get("memory", ""))
        except ValueError as e:
            fail(f"node {nid}: memory: {e}")
        if mem <= 0 or mem % PAGE_SIZE:
            fail(f"node {nid}: memory {nd.get('memory')!r} is not a positive "
                 f"multiple of the page size ({PAGE_SIZE})")
        lists = {}
        for key in ("cpus", "hotplug_cpus"):
            try:
                lists[key] = tuple(parse_range_list(nd.get(key, "")))
            except ValueError as e:
                fail(f"node {nid}: {key}: {e}")
            for cpu in lists[key]:
                if cpu in cpu_node:
                    fail(f"CPU {cpu} is listed twice (node {cpu_node[cpu]} and node {nid})")
                cpu_node[cpu] = nid
        nodes.append(NodeSpec(nid, mem, lists["cpus"], lists["hotplug_cpus"]))
    if not any(n.cpus for n in nodes):
        fail("no present CPU: the machine could not boot")
    total = sum(n.memory for n in nodes)
    if total > 1 << MAX_PHYSMEM_BITS:
        fail(f"{format_size(total)} of memory: Linux 2.6.29 maps at most "
             f"{format_size(1 << MAX_PHYSMEM_BITS)} on x86-64 (MAX_PHYSMEM_BITS "
             f"{MAX_PHYSMEM_BITS})")

    n = len(nodes)
    dist = doc.get("distance", [[10]] if n == 1 else None)
    if (not isinstance(dist, list) or len(dist) != n
            or any(not isinstance(r, list) or len(r) != n for r in dist)):
        fail(f"distance matrix must be square, {n}x{n} (one row and column per node)")
    for i, row in enumerate(dist):
        for j, d in enumerate(row):
            if not isinstance(d, int) or isinstance(d, bool):
                fail(f"distance[{i}][{j}] = {d!r} is not an integer")
            if i == j and d != 10:
                fail(f"distance[{i}][{i}] = {d}: the diagonal of a SLIT must be 10")
            if i != j and d <= 10:
                fail(f"distance[{i}][{j}] = {d}: a remote distance must be above 10")
    try:
        timing = TimingTable.from_doc(doc.get("timing", {}), distances={d for r in dist for d in r})
    except ValueError as e:
        fail(f"timing: {e}")
    return MachineSpec(name=name, description=doc.get("description", ""),
                       nodes=tuple(nodes), distance=tuple(tuple(r) for r in dist),
                       timing=timing, cpu_node=cpu_node)
