"""Per-CPU data (include/linux/percpu.h, mm/allocpercpu.c of 2.6.29).

``alloc_percpu(cls)`` makes one instance of a structure for each possible CPU
and places each on that CPU's node with kmalloc_node, as 2.6.29's
percpu_populate() did.  ``per_cpu_ptr(var, cpu)`` returns a CPU's instance.
``DEFINE_PER_CPU`` is the same thing done at boot for a static variable.
"""
from kmodel.mm.gfp import GFP_KERNEL


class percpu_var:
    __slots__ = ("cls", "ptrs", "name")

    def __init__(self, cls, name):
        self.cls = cls
        self.name = name
        self.ptrs = {}


def alloc_percpu(k, cls, name=None):
    """alloc_percpu - one cls per possible CPU, node-local; None if any fails."""
    var = percpu_var(cls, name or cls.__name__)
    for cpu in k.cpu_possible_mask:
        obj = k.kmalloc_node(cls, GFP_KERNEL, k.cpu_to_node(cpu))
        if obj is None:
            free_percpu(k, var)
            return None
        var.ptrs[cpu] = obj
    return var


def free_percpu(k, var):
    """free_percpu - free every CPU's instance."""
    for obj in var.ptrs.values():
        k.kfree(obj)
    var.ptrs.clear()


def per_cpu_ptr(var, cpu):
    return var.ptrs[cpu]


def DEFINE_PER_CPU(k, cls, name):
    """DEFINE_PER_CPU - a static per-CPU variable, made at boot (or when called)."""
    var = alloc_percpu(k, cls, name)
    if var is None:
        k.BUG(f"DEFINE_PER_CPU({name}): no memory for the per-CPU areas")
    k.percpu_vars[name] = var
    return var
