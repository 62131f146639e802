"""memhog (an extension): hold, then release, a node's memory.

    memhog node=N size=SIZE      allocate up to SIZE on node N, as a user program
                                 bound there would (numactl --membind=N memhog)
    memhog free                  give it all back

memhog takes the memory in the largest blocks the node's buddy allocator has
(as a user program's memory comes in huge pages when it can), falling back to
smaller orders as they run out, so that holding 64 GiB is 16k allocations, not
16M.  The pages held and the free pages left are the same as page by page.
"""
from dataclasses import dataclass, field

from kmodel.cli.args import arg_int, arg_size, parse_kv
from kmodel.cli.command import Command, ShellState, register
from kmodel.cli.errors import ScriptError
from kmodel.cli.machine_cmd import node_meminfo
from kmodel.mm.gfp import GFP_USER, GFPF_NOWARN, GFPF_THISNODE


@dataclass
class MemhogState(ShellState):
    hogged: list = field(default_factory=list)      # (page, order) held


def cmd_memhog(sh, args):
    k = sh.k
    st = sh.state(MemhogState)
    if args == ["free"]:
        n = done = 0
        for i in sh.steps(len(st.hogged)):            # Ctrl-C: the rest stays held
            page, order = st.hogged[i]
            k.__free_pages(page, order)
            n += 1 << order
            done = i + 1
        held = len(st.hogged) - done
        st.hogged = st.hogged[done:]
        return f"memhog: released {n} pages" + \
            (f" (interrupted; {held} blocks still held)" if held else "") + "\n"
    kv = parse_kv(args, ("node", "size"), ("node", "size"))
    nid, size = arg_int(kv, "node"), arg_size(kv, "size")
    if not 0 <= nid < k.spec.nr_nodes:
        raise ScriptError(f"memhog: node {nid} does not exist (0-{k.spec.nr_nodes - 1})")
    got, want, order = 0, size >> 12, k.MAX_ORDER - 1
    while got < want and order >= 0 and not sh.interrupted:    # Ctrl-C: keep what it got
        if want - got < 1 << order:
            order -= 1
            continue
        page = k.alloc_pages_node(nid, GFP_USER | GFPF_THISNODE | GFPF_NOWARN, order)
        if page is None:
            order -= 1                  # no block this big is left: try smaller ones
            continue
        st.hogged.append((page, order))
        got += 1 << order
    free = node_meminfo(k, nid)["MemFree"] >> 2           # kB -> pages
    return f"memhog: holding {got} pages of node {nid}; {free} pages left free there" + \
        (" (interrupted)" if sh.interrupted and got < want else "") + "\n"


COMMANDS = [
    Command("memhog", cmd_memhog, (("memhog node=N size=SIZE | memhog free",
                                    "hold a node's memory (like numactl memhog)"),)),
]
register(*COMMANDS, group=80)
