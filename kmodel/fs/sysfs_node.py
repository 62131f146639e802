"""/sys/devices/system/node (drivers/base/node.c)."""
from hw import PAGE_SHIFT
from hw.ranges import format_range_list

NODE_ROOT = "/sys/devices/system/node"


def register_node_sysfs(k):
    fs = k.fs
    pa = k.page_alloc
    spec = k.spec
    nodes = list(range(spec.nr_nodes))
    for name in ("online", "possible", "has_normal_memory", "has_cpu"):
        fs.create_file(f"{NODE_ROOT}/{name}", lambda: format_range_list(nodes) + "\n")

    for nid in nodes:
        def meminfo(nid=nid):
            z = pa.zones[nid]
            rows = [("MemTotal", z.present_pages), ("MemFree", z.free_pages),
                    ("MemUsed", z.present_pages - z.free_pages),
                    ("Slab", k.slab.slab_pages[nid])]
            return "".join(f"Node {nid} {(n + ':'):<16}{v << (PAGE_SHIFT - 10):8d} kB\n"
                           for n, v in rows)

        def distance(nid=nid):
            return " ".join(str(d) for d in spec.distance[nid]) + "\n"

        def cpulist(nid=nid):
            return format_range_list(c for c in k.cpu_online_mask
                                     if spec.cpu_node[c] == nid) + "\n"

        fs.create_file(f"{NODE_ROOT}/node{nid}/meminfo", meminfo)
        fs.create_file(f"{NODE_ROOT}/node{nid}/distance", distance)
        fs.create_file(f"{NODE_ROOT}/node{nid}/cpulist", cpulist)
