"""memhog (an extension): hold, then release, a node's memory.

    memhog node=N size=SIZE      allocate up to SIZE on node N, as a user program
                                 bound there would (numactl --membind=N memhog)
    memhog free                  give it all back
"""
from kmodel.cli.args import arg_int, arg_size, parse_kv
from kmodel.cli.command import Command
from kmodel.cli.errors import ScriptError
from kmodel.cli.machines import node_meminfo
from kmodel.mm.gfp import GFP_USER, GFPF_NOWARN, GFPF_THISNODE


def cmd_memhog(sh, args):
    k = sh.k
    if args == ["free"]:
        n = len(sh.hogged)
        for page in sh.hogged:
            k.__free_page(page)
        sh.hogged = []
        return f"memhog: released {n} pages\n"
    kv = parse_kv(args, ("node", "size"), ("node", "size"))
    nid, size = arg_int(kv, "node"), arg_size(kv, "size")
    if not 0 <= nid < k.spec.nr_nodes:
        raise ScriptError(f"memhog: node {nid} does not exist (0-{k.spec.nr_nodes - 1})")
    got = 0
    for _ in range(size >> 12):
        page = k.alloc_pages_node(nid, GFP_USER | GFPF_THISNODE | GFPF_NOWARN, 0)
        if page is None:
            break
        sh.hogged.append(page)
        got += 1
    free = node_meminfo(k, nid)["MemFree"] >> 2           # kB -> pages
    return f"memhog: holding {got} pages of node {nid}; {free} pages left free there\n"


COMMANDS = [
    Command("memhog", cmd_memhog, (("memhog node=N size=SIZE | memhog free",
                                    "hold a node's memory (like numactl memhog)"),)),
]
