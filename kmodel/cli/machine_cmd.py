"""kmodel machine show|probe|check: one machine.

``show`` prints a preset's topology as ``numactl --hardware`` would, read off
the node pseudo-files of a booted kernel, then, as comments, its description,
CPUs and timing; ``probe``
writes a preset for this host; ``check`` puts the model's predictions beside
published figures (docs/model.md).
"""
import textwrap

from hw.timing import TimingTable
from hw.topology import DEFAULT_PRESET
from kmodel.kernel import boot


def node_meminfo(k, nid):
    """/sys/devices/system/node/nodeN/meminfo as {field: kB}, as libnuma reads it."""
    out = {}
    for line in k.fs.read(f"/sys/devices/system/node/node{nid}/meminfo").splitlines():
        words = line.split()            # Node 0 MemTotal:   65536 kB
        out[words[2].rstrip(":")] = int(words[3])
    return out


def numactl_hardware(k):
    """The text of `numactl --hardware` on kernel k (node sizes in MB), read off
    the node pseudo-files as numactl does."""
    spec = k.spec
    n = spec.nr_nodes
    lines = [f"available: {n} nodes (0-{n - 1})" if n > 1 else "available: 1 nodes (0)"]
    for nid in range(n):
        cpus = [c for c in k.cpu_online_mask if spec.cpu_node[c] == nid]
        info = node_meminfo(k, nid)
        lines.append(f"node {nid} cpus: " + " ".join(map(str, cpus)))
        lines.append(f"node {nid} size: {info['MemTotal'] >> 10} MB")
        lines.append(f"node {nid} free: {info['MemFree'] >> 10} MB")
    lines.append("node distances:")
    lines.append("node " + "".join(f"{i:3d} " for i in range(n)))
    for i in range(n):
        lines.append(f"{i:3d}: " + "".join(f"{d:3d} " for d in spec.distance[i]))
    return "\n".join(lines) + "\n"


def timing_summary(t: TimingTable):
    dram = ", ".join(f"{d}: {ns:g} ns" for d, ns in sorted(t.dram_ns.items()))
    tlb = ", ".join(f"{n}x{s}" for s, n in t.tlb.items() if n)
    caches = ", ".join(f"{lv} {t.cache_kib[lv]}K {t.cache_cycles[lv]}c "
                       f"{t.stream_gbps[lv]:g} GB/s" for lv in ("L1", "L2", "LLC"))
    dram_bw = ", ".join(f"{d}: {t.stream_gbps[d]:g}" for d in sorted(t.dram_ns))
    xfer = ", ".join(f"{d}: {ns:g} ns" for d, ns in sorted(t.line_transfer_ns.items()))
    sync = f"lazy (a fault costs {t.vmalloc_fault_cycles}c)" if t.vmalloc_lazy_sync \
        else "eager"
    return (f"timing: {t.cpu_ghz:g} GHz; DRAM latency by distance {dram}; "
            f"caches (size, load latency, one core's copy bandwidth) {caches}; "
            f"DRAM copy GB/s by distance {dram_bw}; "
            f"L1 dTLB {tlb}, STLB {t.stlb_entries} (hit {t.stlb_hit_cycles}c), page walk "
            f"{t.page_walk_cycles}c; a modified line from another CPU by distance {xfer}; "
            f"atomic {t.atomic_cycles}c; vmalloc sync {sync}\n")


def cmd_machine_show(args, out):
    k = boot(args.preset)
    try:
        spec = k.spec
        out.write(numactl_hardware(k))
        hot = sorted(set(spec.possible_cpus) - set(spec.present_cpus))
        text = (f"kmodel: {spec.name}: {spec.description}\n"
                f"possible CPUs {k.cpu_possible_mask.cpulist()}, present "
                f"{k.cpu_present_mask.cpulist()}"
                + (f", empty slots {','.join(map(str, hot))}" if hot else "") + "\n"
                + timing_summary(spec.timing))
        out.write("\n")
        for para in text.splitlines():
            out.write("\n".join(textwrap.wrap(para, 78, initial_indent="# ",
                                               subsequent_indent="#   ")) + "\n")
    finally:
        k.shutdown()
    return 0


def cmd_machine_probe(args, out):
    """kmodel machine probe: this host as a preset (hw.probe), checked by loading
    it; -o FILE is checked before the probe and written atomically after it,
    and an existing FILE only replaced with --force."""
    from hw.probe import preset_toml, probe
    from hw.topology import parse_machine
    from kmodel.cli.outfile import check_output, write_output
    if args.output:
        check_output(args.output, "-o", args.force)
    text = preset_toml(probe(), args.name)
    parse_machine(text, source="the probed preset")     # it must load as it is written
    if args.output:
        write_output(args.output, text, "-o", args.force)
        out.write(f"wrote {args.output}: use it with --machine {args.output}\n")
    else:
        out.write(text)
    return 0


def cmd_machine_check(args, out):
    """kmodel machine check PRESET: the model beside figures for the same
    operations (docs/model.md): first those that are the preset's own inputs
    (self-checks, not validation), then independent ones."""
    from kmodel.cli.errors import UsageError
    from kmodel.perf.anchors import ANCHORS, TOLERANCE, check
    if args.preset not in ANCHORS:
        raise UsageError(f"no anchor figures for {args.preset!r} (presets with them: "
                         f"{', '.join(ANCHORS)})")
    inputs, independent = check(args.preset)
    out.write(f"{args.preset}: the model's prediction beside each figure\n\n"
              "Self-checks: each figure is one of the preset's inputs, so the model agrees "
              "by\nconstruction.  These rows check how it composes them, and validate "
              "nothing.\n")
    _rows(out, inputs, TOLERANCE)
    bad = sum(not ok for *_, ok in inputs)
    out.write(f"{len(inputs) - bad} of {len(inputs)} self-checks within {TOLERANCE:.0%}\n")
    out.write("\nIndependent figures, not inputs to the model (within "
              f"{TOLERANCE:.0%}, or below a figure\nthat bounds it):\n")
    _rows(out, independent, TOLERANCE)
    failed = sum(not ok for *_, ok in independent)
    out.write(f"{len(independent) - failed} of {len(independent)} independent figures agree\n")
    return 1 if failed or bad else 0


def _rows(out, rows, tolerance):
    for a, got, diff, ok in rows:
        verdict = ("below it" if ok else "ABOVE IT") if a.bound else \
            ("ok" if ok else "OUTSIDE " + format(tolerance, ".0%"))
        out.write(f"  {a.what}\n" + "\n".join(textwrap.wrap(
            f"figure {a.figure:g} {a.unit} ({a.kind}: {a.source})", 76,
            initial_indent="    ", subsequent_indent="      ")) +
            f"\n    model  {got:.1f} {a.unit}, {diff:+.0%}  {verdict}\n")


def add_parser(sub):
    """add_parser - add ``kmodel machine show|probe|check`` to sub, the
    subparsers of kmodel's top-level parser (kmodel.cli.main)."""
    s = sub.add_parser("machine", help="show a machine's topology (numactl --hardware), "
                       "or probe this host")
    msub = s.add_subparsers(dest="machine_command", metavar="show|probe|check")
    msub.required = True
    show = msub.add_parser("show", help="print a preset's topology")
    show.add_argument("preset", nargs="?", default=DEFAULT_PRESET)
    show.set_defaults(func=cmd_machine_show)
    probe = msub.add_parser("probe", help="write a preset for this host: topology and caches "
                            "from /sys, copy bandwidth measured")
    probe.add_argument("-o", "--output", metavar="FILE", help="write it here (default: stdout)")
    probe.add_argument("--name", default="host", help="the preset's name (default: host)")
    probe.add_argument("--force", action="store_true", help="replace FILE if it exists")
    probe.set_defaults(func=cmd_machine_probe)
    check = msub.add_parser("check", help="the model's predictions beside published figures")
    check.add_argument("preset")
    check.set_defaults(func=cmd_machine_check)
