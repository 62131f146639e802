"""Helpers for the memory-management tests: what /proc says, and the model's zonelist."""


def zonelist(spec, nid):
    """The nodes an allocation for node nid may come from, in order: nearest
    first by the machine's SLIT, ties by node id (build_zonelists())."""
    return sorted(range(spec.nr_nodes), key=lambda m: (spec.distance[nid][m], m))


def buddyinfo(k):
    """/proc/buddyinfo as [[free blocks of each order] for each node]."""
    return [[int(x) for x in line.split()[4:]] for line in k.fs.read("/proc/buddyinfo").splitlines()]


def vmstat(k):
    """/proc/vmstat as {name: value}."""
    return {n: int(v) for n, v in (line.split() for line in k.fs.read("/proc/vmstat").splitlines())}


def meminfo_kb(k, name):
    """A /proc/meminfo line's value in kB."""
    for line in k.fs.read("/proc/meminfo").splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)


def run_script(model, script):
    """Drive a model of an allocator through script, ("alloc", args...) and
    ("free", pick) steps, with model.check() after each; then free what is
    live, checking after each free.  model has alloc(*args), free(pick),
    check() and live (what it has allocated)."""
    model.check()
    for op in script:
        if op[0] == "alloc":
            model.alloc(*op[1:])
        elif model.live:
            model.free(op[1])
        model.check()
    while model.live:
        model.free(0)
        model.check()


def free_pages(k, page, order):
    """__free_pages, callable from a class body (where the name would be mangled)."""
    k.__free_pages(page, order)
