"""Workloads for the locking layers: events through a layer, in host time and
in modeled cost, with one writer CPU or many.

``modeled_cost_per_event`` runs ``events`` records of ``size`` bytes on each of
``writers`` CPUs, taking turns, through one layer on one backend, in per-CPU or
global buffers, and returns the modeled figures per event.  The writers are
the first CPUs of each node in turn (node 0's first, node 1's first, ...), as
a scheduler spreading threads would place them, and take turns in that order.
Taking turns is the worst case for a global buffer: every record moves its
offset's cache line (and, under the locked layer, its lock's) to another CPU,
at the SLIT distance between them.  The model charges each transfer by
distance; it has no queueing, so cost grows with the distances the writers
span, not with their number alone.  Each writer has written one record
before the count starts, so the figures are the steady state's: the first
touch of a page, whose lines the opener's zeroing left in its cache
(kmodel.relay.accounting), is another matter (docs/benchmarks.md).
"""
from kmodel.kernel import boot
from kmodel.relay.layer_channel import ring_buffer_close, ring_buffer_open

EVENT = 64                      # bytes per record: a 16-byte header and 48 of payload


def open_layer(k, name, layer, backend, scope, subbuf=16384, n_subbufs=4):
    rbc, err = ring_buffer_open(k, name, subbuf, n_subbufs, backend, "local", layer,
                                "overwrite", scope)
    assert rbc is not None, err
    return rbc


def spread_cpus(k, n):
    """The first n CPUs taken one node at a time: node 0's first, node 1's first..."""
    by_node = {}
    for cpu in k.for_each_online_cpu():
        by_node.setdefault(k.cpu_to_node(cpu), []).append(cpu)
    order = [cpus[i] for i in range(max(map(len, by_node.values())))
             for _, cpus in sorted(by_node.items()) if i < len(cpus)]
    return order[:n]


def modeled_cost_per_event(machine, layer, backend, scope, writers, events=32, cmdline="",
                           size=EVENT):
    """{'cycles', 'atomics', 'line_transfers', 'irq_flag_ops'} per event of size
    bytes, kmodel's 16-byte header included (cmdline: the boot's, e.g. a
    reserve_mem= region for the pmem backend)."""
    k = boot(machine, cmdline=cmdline)
    try:
        k.modules.insmod("ltt_relay_alloc")
        rbc = open_layer(k, "m", layer, backend, scope)
        cpus = spread_cpus(k, writers)
        data = bytes(size - 16)
        for cpu in cpus:            # a first record each: the lines the opener's
            with k.on_cpu(cpu):     # zeroing left elsewhere come to their writer
                rbc.layer.write__straight(rbc.buf_for(cpu), data)
        k.timing.reset()
        for _ in range(events):
            for cpu in cpus:
                with k.on_cpu(cpu):
                    rbc.layer.write__straight(rbc.buf_for(cpu), data)
        t = k.timing.totals()
        n = events * len(cpus)
        ring_buffer_close(rbc, "m")
        return {key: t[key] / n for key in ("cycles", "atomics", "line_transfers",
                                            "irq_flag_ops")}
    finally:
        k.shutdown()
