"""The debugfs knobs of fail_page_alloc and failslab (lib/fault-inject.c).

Paths and names are Linux's: /sys/kernel/debug/fail_page_alloc/probability,
interval, times, space, verbose, task-filter, ignore-gfp-wait,
ignore-gfp-highmem, min-order; failslab has the same but the last two.
``node`` is a kmodel extension: only allocations from that node may fail
(-1, the default, means any node).
"""
from kmodel.fs.debugfs import debugfs_create_dir
from kmodel.fs.vfs import attr_file

_COMMON = [("probability", "probability", "int", 0), ("interval", "interval", "int", 1),
           ("times", "times", "int", -1), ("space", "space", "int", 0),
           ("verbose", "verbose", "int", 0), ("task-filter", "task_filter", "bool", None),
           ("ignore-gfp-wait", "ignore_gfp_wait", "bool", None),
           ("node", "node", "int", -1)]


def _create(fs, name, attr, extra=()):
    d = debugfs_create_dir(fs, name)
    for fname, field, kind, lo in _COMMON + list(extra):
        attr_file(fs, fname, attr, field, kind, lo, parent=d)
    return d


def register_fault_inject(k):
    """The debugfs knobs, for the injectors the .config built (each needs
    CONFIG_FAULT_INJECTION too); without a knob an injector never fires."""
    cfg = k.config
    if cfg["CONFIG_FAULT_INJECTION"] != "y":
        return
    if cfg["CONFIG_FAIL_PAGE_ALLOC"] == "y":
        _create(k.fs, "fail_page_alloc", k.page_alloc.fail_page_alloc,
                [("ignore-gfp-highmem", "ignore_gfp_highmem", "bool", None),
                 ("min-order", "min_order", "int", 0)])
    if cfg["CONFIG_FAILSLAB"] == "y":
        _create(k.fs, "failslab", k.slab.failslab)
