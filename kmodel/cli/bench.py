"""kmodel bench: run the design comparison and say what it costs and why.

    kmodel bench [--quick] [--machine PRESET ...] [--json F] [--plot F.png]
                 [--markdown F]

It measures host time (median and IQR of several rounds, against a floor
measured in the same run) and reads the modeled cost of the same work from
the timing model on each preset.  The goals of the relay issue are printed
beside the measured ratios, marked met or missed, and after them the goals of
the layers and the scheduler (kmodel/perf/step_goals.py).
"""
import json
import os
import textwrap
import sys
import time
from functools import partial

from kmodel.cli.bounds import IntIn, check_count
from kmodel.cli.errors import UsageError
from kmodel.cli.outfile import check_output, write_output
from kmodel.cli.signals import Terminated, signal_name
from kmodel.perf import step_goals
from kmodel.perf.executor import SchedulerError, reach_scheduler, run_map
from kmodel.perf.harness import measure
from kmodel.perf.workloads import (CONSUMER_SIZES, DESIGNS, HOT_PATH_GOALS, QUICK_SIZES,
                                   QUICK_SWEEP_SIZES, SIZES, SWEEP_SIZES, RelayBench,
                                   buffer_sweep, consumer_sweep, make_floor, random_offsets,
                                   sequential, sequential_read)

DEFAULT_MACHINES = ["xeon-2s-skylake", "nehalem-2009"]
STEP_MEASURES = 4           # step_goals.run_all's measurements (progress lines)
MAX_MACHINES = 8            # each adds a modeled run of every size and design


class Progress:
    def __init__(self, total, stream):
        self.total = total
        self.n = 0
        self.stream = stream
        self.tty = stream.isatty()

    def step(self, what):
        self.n += 1
        if self.tty:
            self.stream.write(f"\r\x1b[K[{self.n}/{self.total}] {what}")
            self.stream.flush()
        elif self.n == 1 or self.n % 10 == 0 or self.n == self.total:
            self.stream.write(f"[{self.n}/{self.total}] {what}\n")

    def done(self):
        if self.tty:
            self.stream.write("\r\x1b[K")


def modeled(rb, fn, calls):
    """Cycles per call and the counters of one run of fn (calls API calls)."""
    tm = rb.k.timing
    tm.reset()
    fn()
    t = tm.totals()
    return {"cycles_per_op": t["cycles"] / calls, "ops": calls, "accesses": t["ops"],
            "bytes_remote": t["bytes_remote"], "bytes_local": t["bytes_local"],
            "tlb_misses_4K": t["tlb_misses_4K"],
            "tlb_misses_linear": t["tlb_misses_2M"] + t["tlb_misses_1G"],
            "walk_steps": t["walk_steps"], "vmalloc_faults": t["vmalloc_faults"]}


def run_suite(machines, quick, progress_stream, prog=None, jobs=1, scheduler=None):
    """run_suite - every measurement, in rows; prog (a Progress) counts them.
    The host-time measurements run here, alone; the modeled grids (one a
    machine: deterministic) on the executor (kmodel.perf.executor: jobs local
    workers, or the Dask cluster at scheduler), after them."""
    sizes = QUICK_SIZES if quick else SIZES
    rounds = 7 if quick else 15
    min_time = 0.002 if quick else 0.01
    results = []
    total = len(sizes) * 2 * (len(DESIGNS) + 1) + len(DESIGNS) * 3 + (1 if quick else 3) + \
        len(machines)
    prog = prog or Progress(total, progress_stream)
    prog.total = total
    host_machine = machines[0]
    rb = RelayBench(host_machine)
    try:
        floor_w, floor_r, _ = make_floor(rb.chans["pagelist"].alloc_size)
        for kind in ("write", "read"):
            for size in sizes:
                prog.step(f"host time: sequential {kind} {size} B, floor")
                if kind == "write":
                    fn, _ = sequential(floor_w, None, size)
                else:
                    fn = sequential_read(floor_r, None, size)[0]
                med, iqr = measure(fn, 256, rounds, min_time)
                results.append({"case": f"seq-{kind}", "size": size, "design": "floor",
                                "machine": host_machine, "ns": med, "iqr": iqr})
                for label in DESIGNS:
                    prog.step(f"host time: sequential {kind} {size} B, {label}")
                    buf = rb.buf(label)
                    if kind == "write":
                        fn, data = sequential(buf.ops.write, buf, size)
                        med, iqr = measure(fn, 256, rounds, min_time)
                        out = bytearray(size)
                        buf.ops.read(buf, 0, out, size)
                        assert out == data, f"{label}: bytes read back differ"
                    else:
                        fn = sequential_read(buf.ops.read, buf, size)[0]
                        med, iqr = measure(fn, 256, rounds, min_time)
                    results.append({"case": f"seq-{kind}", "size": size, "design": label,
                                    "machine": host_machine, "ns": med, "iqr": iqr})
        for label in DESIGNS:
            buf = rb.buf(label)
            offs = random_offsets(64)
            data = bytes(64)
            for case, fn in (
                    ("random-write-64", lambda: [buf.ops.write(buf, o, data, 64) for o in offs]),
                    ("read_get_page", lambda: [buf.ops.read_get_page(buf, o) for o in offs]),
                    ("offset_address", lambda: [buf.ops.offset_address(buf, o) for o in offs])):
                prog.step(f"host time: {case}, {label}")
                med, iqr = measure(fn, len(offs), rounds, min_time)
                row = {"case": case, "size": 64, "design": label, "machine": host_machine,
                       "ns": med, "iqr": iqr}
                row.update(modeled(rb, fn, len(offs)))
                results.append(row)
    finally:
        rb.close()
    # ltt_relay_open + close against buffer size, 64 CPUs: the cost per page
    for kib in ((256,) if quick else (256, 512, 1024)):
        prog.step(f"host time: ltt_relay_open+close, 64 CPUs x {kib} KiB")
        results.append(_open_close("epyc-rome-nps4", kib, 3 if quick else 5))
    grids = partial(modeled_grids, sizes=sizes,
                    sweep_sizes=QUICK_SWEEP_SIZES if quick else SWEEP_SIZES,
                    consumer_sizes=CONSUMER_SIZES[:1] if quick else CONSUMER_SIZES)
    for machine, rows in zip(machines, run_map(grids, machines, jobs, scheduler)):
        prog.step(f"modeled: {machine}, sequential accesses, buffer sizes, a consumer")
        results.extend(rows)
    prog.done()
    return results


def modeled_grids(machine, sizes, sweep_sizes, consumer_sizes):
    """modeled_grids - one machine's modeled rows: sequential writes and reads
    of each size and design, 4 KiB writes against buffer size, a writer and a
    consumer.  A function of its arguments alone, for the executor."""
    return (model_suite(machine, sizes) + buffer_sweep(machine, sweep_sizes) +
            consumer_sweep(machine, consumer_sizes))


def model_suite(machine, sizes, prog=None):
    """The modeled cost (deterministic: one run each) of sequential writes and
    reads of each size, for each design.  Each size starts on freshly opened
    buffers, so that its figures do not depend on which sizes ran before it
    (the TLB, the cache pointers, the positions, vmalloc faults): --quick and
    a full run give the same figures for the sizes they share."""
    rows = []
    for size in sizes:
        rb = RelayBench(machine)
        try:
            for kind in ("write", "read"):
                for label in DESIGNS:
                    if prog:
                        prog.step(f"modeled: {machine} {kind} {size} B {label}")
                    buf = rb.buf(label)
                    if kind == "write":
                        fn, _ = sequential(buf.ops.write, buf, size)
                    else:
                        fn = sequential_read(buf.ops.read, buf, size)[0]
                    row = {"case": f"model-seq-{kind}", "size": size, "design": label,
                           "machine": machine}
                    row.update(modeled(rb, fn, 256))
                    rows.append(row)
        finally:
            rb.close()
    return rows


def _open_close(machine, kib, rounds):
    from kmodel.kernel import boot
    from kmodel.perf.harness import quantiles
    from kmodel.relay.relay_alloc import ltt_relay_close, ltt_relay_open
    k = boot(machine)
    try:
        k.modules.insmod("ltt_relay_alloc")
        ncpus = k.num_online_cpus()
        samples = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            chan = ltt_relay_open(k, "o", None, kib * 256, 4, None)
            assert chan is not None
            ltt_relay_close(chan)
            samples.append(time.perf_counter() - t0)
        assert k.leaks() == {}
        lo, med, hi = quantiles(samples)
        pages = ncpus * kib // 4
        return {"case": "open-close", "size": kib * 1024, "design": "pagelist",
                "machine": machine, "cpus": ncpus, "pages": pages, "ns": med * 1e9,
                "iqr": (hi - lo) * 1e9, "ns_per_page": med * 1e9 / pages}
    finally:
        k.shutdown()


def _find(results, **kw):
    for r in results:
        if all(r.get(k) == v for k, v in kw.items()):
            return r
    return None


def goals(results):
    """The hot path's goals: (text, measured, limit, met)."""
    out = []
    for label, size, limit in HOT_PATH_GOALS:
        fl = _find(results, case="seq-write", size=size, design="floor")
        r = _find(results, case="seq-write", size=size, design=label)
        if fl and r:
            ratio = r["ns"] / fl["ns"]
            out.append((f"{label} {_size(size)} writes <= {limit:g}x floor", ratio, limit,
                        ratio <= limit))
    p = _find(results, case="seq-write", size=65536, design="pagelist")
    v = _find(results, case="seq-write", size=65536, design="vmap")
    if p and v:
        bw = v["ns"] / p["ns"]
        out.append(("pagelist 64 KiB bandwidth >= 0.7x vmap's", bw, 0.7, bw >= 0.7))
    return out


SPREAD_LIMIT = 0.25      # IQR / median beyond which a host figure is not to be trusted


def host_warnings(results):
    """Lines that say when the host time cannot be trusted: a relay access
    measured faster than the bare copy it does on top of (the floor ran while
    the host was busy), or a spread (IQR) wider than SPREAD_LIMIT of the median."""
    below, wide = [], []
    for r in results:
        if r["case"] not in ("seq-write", "seq-read") or "ns" not in r:
            continue
        what = f"{r['case'][4:]} {_size(r['size'])} {r['design']}"
        if r["iqr"] > SPREAD_LIMIT * r["ns"]:
            wide.append(f"{what} ({r['iqr'] / r['ns']:.0%})")
        if r["design"] != "floor":
            fl = _find(results, case=r["case"], size=r["size"], design="floor")
            if fl and r["ns"] < fl["ns"]:
                below.append(f"{what} ({r['ns'] / fl['ns']:.2f}x)")
    text = []
    if below:
        text.append("WARNING: below the floor, so the floor was measured while the host was "
                    "busy: " + ", ".join(below) + ".")
    if wide:
        text.append(f"WARNING: a spread (IQR) over {SPREAD_LIMIT:.0%} of the median, so the "
                    "host was busy: " + ", ".join(wide) + ".")
    if text:
        text.append("The host-time figures and goals above are not to be trusted: run again "
                    "on a quiet host.  The modeled tables do not depend on the host.")
    return [line for para in text for line in
            textwrap.wrap(para, 78, initial_indent="  ", subsequent_indent="    ")]


def _size(n):
    return f"{n >> 10} KiB" if n >= 1024 else f"{n} B"


def format_report(results, machines):
    lines = []
    host = results[0]["machine"]
    for kind in ("write", "read"):
        lines.append(f"\nSequential {kind}s, host time ns/op (median ± IQR), "
                     f"ratio to the floor [{host}]")
        lines.append(f"{'size':>7}  {'floor':>13}" + "".join(f"  {d:>22}" for d in DESIGNS)
                     + f"  {'list/vmap':>9}")
        sizes = sorted({r["size"] for r in results if r["case"] == f"seq-{kind}"})
        for size in sizes:
            fl = _find(results, case=f"seq-{kind}", size=size, design="floor")
            row = f"{size:>6}B  {fl['ns']:>8.0f}±{fl['iqr']:<4.0f}"
            for d in DESIGNS:
                r = _find(results, case=f"seq-{kind}", size=size, design=d)
                row += f"  {r['ns']:>9.0f}±{r['iqr']:<4.0f}({r['ns'] / fl['ns']:4.2f}x)"
            p = _find(results, case=f"seq-{kind}", size=size, design="pagelist")
            v = _find(results, case=f"seq-{kind}", size=size, design="vmap")
            row += f"  {p['ns'] / v['ns']:>8.2f}x"
            lines.append(row)
    lines.append(f"\nRandom 64 B accesses and page lookups, host ns/op, modeled per op [{host}]")
    lines.append(f"{'case':<16} {'design':<12} {'ns/op':>9} {'cycles/op':>10} "
                 f"{'walk steps/op':>14}")
    for case in ("random-write-64", "read_get_page", "offset_address"):
        for d in DESIGNS:
            r = _find(results, case=case, design=d)
            lines.append(f"{case:<16} {d:<12} {r['ns']:>9.0f} {r['cycles_per_op']:>10.1f} "
                         f"{r['walk_steps'] / max(r['ops'], 1):>14.2f}")
    oc = [r for r in results if r["case"] == "open-close"]
    if oc:
        lines.append(f"\nltt_relay_open + close, page list, {oc[0]['cpus']} CPUs "
                     f"[{oc[0]['machine']}]: the cost per page stays flat as buffers grow")
        lines.append(f"{'per CPU':>9} {'pages':>8} {'ms':>10} {'us/page':>9}")
        for r in oc:
            lines.append(f"{r['size'] >> 10:>6}KiB {r['pages']:>8} {r['ns'] / 1e6:>10.1f} "
                         f"{r['ns_per_page'] / 1e3:>9.2f}")
    for machine in machines:
        lines.append(f"\nModeled cycles per call, {machine} (the writer is on the last node, "
                     "the opener on node 0)")
        lines.append(f"{'size':>7}" + "".join(f"  {d + ' ' + k[0]:>16}" for k in
                                             ("write", "read") for d in DESIGNS))
        sizes = sorted({r["size"] for r in results if r["case"] == "model-seq-write"})
        for size in sizes:
            row = f"{size:>6}B"
            for kind in ("write", "read"):
                for d in DESIGNS:
                    r = _find(results, case=f"model-seq-{kind}", size=size, design=d,
                              machine=machine)
                    row += f"  {r['cycles_per_op']:>16.0f}"
            lines.append(row)
        tot = {d: {key: sum(r[key] for r in results if r["machine"] == machine
                            and r["case"].startswith("model-") and r["design"] == d)
                   for key in ("bytes_remote", "bytes_local", "tlb_misses_4K",
                               "vmalloc_faults")} for d in DESIGNS}
        lines.append("  summed over the sizes above: remote bytes " + ", ".join(
            f"{d} {tot[d]['bytes_remote']:,}" for d in DESIGNS) + "; 4K TLB misses " +
            ", ".join(f"{d} {tot[d]['tlb_misses_4K']:,}" for d in DESIGNS))
        lines.append("  vmalloc faults " + ", ".join(
            f"{d} {tot[d]['vmalloc_faults']:,}" for d in DESIGNS))
        sweep = [r for r in results if r["case"] == "sweep-buffer-size" and
                 r["machine"] == machine]
        if sweep:
            from hw.topology import load_preset
            kib = load_preset(machine).timing.cache_kib
            lines.append(f"\nModeled cycles per 4 KiB sequential write against the buffer size "
                         f"per CPU, {machine} (L2 {kib['L2']} KiB, LLC {kib['LLC']} KiB; a "
                         f"second pass)")
            lines.append(f"{'buffer':>8}" + "".join(f"  {d:>12}" for d in DESIGNS) +
                         f"  {'list/vmap':>9}  {'opener/vmap':>11}")
            for size in sorted({r["size"] for r in sweep}):
                c = {d: _find(sweep, size=size, design=d)["cycles_per_op"] for d in DESIGNS}
                lines.append(f"{size >> 10:>5}KiB" + "".join(f"  {c[d]:>12.0f}" for d in DESIGNS)
                             + f"  {c['pagelist'] / c['vmap']:>8.2f}x"
                             f"  {c['vmap-opener'] / c['vmap']:>10.2f}x")
        lines.extend(consumer_table(results, machine))
    lines.append("\nHow close the relay comes to a bare copy (host time; goals set for this "
                 "project)")
    for text, measured, limit, met in goals(results):
        lines.append(f"  [{'met' if met else 'MISSED'}] {text}: measured {measured:.2f}x")
    lines.extend(host_warnings(results))
    lines.append("  A 64 B write pays for exact accounting (an access and its bytes on the page,")
    lines.append("  about 25 ns) and the page check (about 20 ns) over a bare slice.  vmap's")
    lines.append("  page changes look up an exact LRU model of its 4 KiB TLB entries (a run of")
    lines.append("  pages in one step, 300 to 450 ns), which the page list's large linear-map")
    lines.append("  pages rarely need.  Host time measures the emulator; the modeled tables")
    lines.append("  compare the designs.")
    return "\n".join(lines) + "\n"


def consumer_table(results, machine):
    """The lines of the consumer table of one machine (workloads.consumer_sweep)."""
    rows = [r for r in results if r["case"] == "consumer" and r["machine"] == machine]
    if not rows:
        return []
    lines = [""] + textwrap.wrap(
        f"Tracing with a consumer, {machine}: modeled cycles per 4 KiB written by the writer "
        "(last node) in its first lap (lines from the opener's zeroing) and its second "
        "(taken back from the consumer), and read by the consumer in the second; bytes "
        "written back to a remote home node in the second lap", 78)
    lines.append(f"{'buffer':>7}  {'consumer':<14} {'design':<12} {'lap 1':>7} {'lap 2':>7} "
                 f"{'consumer':>9} {'remote write-back':>18}")
    for r in rows:
        lines.append(f"{r['size'] >> 20:>4}MiB  {r['consumer']:<14} {r['design']:<12} "
                     f"{r['first_lap']:>7.0f} {r['writer']:>7.0f} {r['consumer_cycles']:>9.0f} "
                     f"{r['writeback_remote']:>18,}")
    return lines


def plot(results, machines, path):
    """Draw the figure to path (a PNG, whatever its name)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 1 + len(machines), figsize=(5 * (1 + len(machines)), 4))
    ax = axes[0]
    for d in ["floor"] + list(DESIGNS):
        rs = sorted((r for r in results if r["case"] == "seq-write" and r["design"] == d),
                    key=lambda r: r["size"])
        ax.plot([r["size"] for r in rs], [r["ns"] for r in rs], marker="o", label=d)
    ax.set(xscale="log", yscale="log", xlabel="write size (bytes)", ylabel="host ns/op",
           title=f"host time [{results[0]['machine']}]")
    ax.legend()
    for ax, machine in zip(axes[1:], machines):
        for d in DESIGNS:
            rs = sorted((r for r in results if r["case"] == "model-seq-write"
                         and r["design"] == d and r["machine"] == machine),
                        key=lambda r: r["size"])
            ax.plot([r["size"] for r in rs], [r["cycles_per_op"] for r in rs], marker="o",
                    label=d)
        ax.set(xscale="log", yscale="log", xlabel="write size (bytes)",
               ylabel="modeled cycles/op", title=f"modeled [{machine}]")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


OUTPUTS = (("--json", "json"), ("--markdown", "markdown"), ("--plot", "plot"))


def cmd_bench(args, out):
    """kmodel bench: every input and output checked before the run; the
    outputs written atomically after it; SIGINT or SIGTERM stop it, saying
    how far it got (and nothing is written)."""
    from hw.topology import load_preset
    machines = args.machine or DEFAULT_MACHINES
    check_count(args.machine, "--machine", MAX_MACHINES)
    if len(set(machines)) != len(machines):
        raise UsageError(f"--machine: {', '.join(machines)}: a machine is given twice")
    for m in machines:
        load_preset(m)                      # a bad name fails here, before any work
    try:
        reach_scheduler(args.scheduler)
    except SchedulerError as e:
        raise UsageError(str(e)) from None
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'kmodel[plot]' "
                             "(or: pip install matplotlib)") from None
    paths = [(opt, getattr(args, dest)) for opt, dest in OUTPUTS if getattr(args, dest)]
    seen = {}
    for opt, path in paths:
        check_output(path, opt, args.force)
        same = seen.setdefault(os.path.abspath(path), opt)
        if same != opt:
            raise UsageError(f"{same} and {opt} name the same file, {path}")
    t0 = time.perf_counter()
    progress = Progress(0, sys.stderr)
    try:
        results = run_suite(machines, args.quick, sys.stderr, progress, jobs=args.jobs,
                            scheduler=args.scheduler)
        progress.total += STEP_MEASURES
        steps = step_goals.run_all(args.quick, progress.step)
        progress.done()
    except (KeyboardInterrupt, Terminated) as e:
        progress.done()
        print(f"kmodel bench: stopped by {signal_name(e)} after {progress.n} of "
              f"{progress.total} measurements; no report written", file=sys.stderr)
        raise
    report = format_report(results, machines) + "\n".join(step_goals.format_rows(steps)) + "\n"
    out.write(report)
    out.write(f"\n({time.perf_counter() - t0:.1f} s; host time is noisy: compare ratios "
              "measured in the same run)\n")
    if args.json:
        write_output(args.json, json.dumps(
            {"machines": machines, "quick": args.quick, "results": results,
             "goals": [dict(zip(("goal", "measured", "limit", "met"), g))
                       for g in goals(results)],
             "step_goals": steps}, indent=1), "--json", args.force)
    if args.markdown:
        write_output(args.markdown, "# kmodel bench report\n\n```\n" + report + "```\n",
                     "--markdown", args.force)
    if args.plot:
        write_output(args.plot, None, "--plot", args.force,
                     make=lambda tmp: plot(results, machines, tmp))
    return 0


def add_parser(sub):
    """add_parser - add ``kmodel bench`` to sub, the subparsers of kmodel's
    top-level parser (kmodel.cli.main)."""
    s = sub.add_parser("bench", help="compare the page list with vmap: host time and "
                       "modeled cost")
    s.add_argument("--quick", action="store_true", help="fewer sizes and rounds (< 1 min)")
    s.add_argument("--machine", "-m", action="append", metavar="PRESET",
                   help="presets for the modeled cost (repeatable; default "
                   "xeon-2s-skylake and nehalem-2009)")
    s.add_argument("--json", metavar="F", help="write all results as JSON")
    s.add_argument("--markdown", metavar="F", help="write the report as Markdown")
    s.add_argument("--plot", metavar="F.png", help="draw host time and modeled cycles "
                   "(needs matplotlib)")
    s.add_argument("--force", action="store_true", help="replace the --json, --markdown "
                   "and --plot files if they exist")
    s.add_argument("--jobs", type=IntIn(1, 1024), default=1,
                   help="worker processes for the modeled grids, one a machine (1: here; "
                   "host times are always measured here, alone)")
    s.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="the modeled grids on a Dask cluster (pip install 'kmodel[cluster]')")
    s.set_defaults(func=cmd_bench)
