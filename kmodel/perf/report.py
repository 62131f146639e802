"""Turn pytest-benchmark JSON (make bench) into a Markdown report.

    python -m kmodel.perf.report results/bench.json results/report.md

One table per benchmark group: median and IQR of host time, the ratio to the
group's floor (or its fastest entry when it has none), and the modeled
figures each benchmark recorded.  The goals follow, marked met or missed.
BENCH.json is rewritten without the raw time of every round, which made it
tens of megabytes: its statistics and modeled figures stay.
"""
import json
import sys

MODELED = ("cycles_per_call", "bytes_remote", "tlb_misses_4K", "vmalloc_faults",
           "walk_steps", "ns_per_page")


def _fmt_time(s):
    for unit, scale in (("s", 1), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def render(doc):
    out = ["# kmodel benchmark report", ""]
    mi = doc.get("machine_info", {})
    out.append(f"Run {doc.get('datetime', '?')} on {mi.get('node', '?')}: "
               f"{mi.get('cpu', {}).get('brand_raw', mi.get('processor', '?'))}, "
               f"Python {mi.get('python_version', '?')}.  Host times are medians; IQR beside.")
    groups = {}
    for b in doc["benchmarks"]:
        groups.setdefault(b.get("group") or "ungrouped", []).append(b)
    goals = []
    for group in sorted(groups):
        rows = groups[group]
        floor = next((b for b in rows if "floor" in b["name"]), None)
        base = floor or min(rows, key=lambda b: b["stats"]["median"])
        out += ["", f"## {group}", "",
                "| benchmark | median | IQR | ratio | modeled |", "|---|---|---|---|---|"]
        for b in sorted(rows, key=lambda b: b["stats"]["median"]):
            st = b["stats"]
            ei = b.get("extra_info", {})
            model = ", ".join(f"{key}={ei[key]:.4g}" if isinstance(ei[key], float)
                              else f"{key}={ei[key]}" for key in MODELED if key in ei)
            ratio = st["median"] / base["stats"]["median"]
            out.append(f"| {b['name']} | {_fmt_time(st['median'])} | {_fmt_time(st['iqr'])} "
                       f"| {ratio:.2f}x | {model} |")
            goals += [(key[5:], v) for key, v in ei.items() if key.startswith("goal:")]
    if goals:
        out += ["", "## Goals", ""]
        for name, g in goals:
            out.append(f"- [{'met' if g['met'] else 'MISSED'}] {name}: {g['measured']:.3g} "
                       f"{g['unit']} (limit {g['limit']:g})")
    return "\n".join(out) + "\n"


def main(argv=None):
    argv = argv if argv is not None else sys.argv[1:]
    if len(argv) != 2:
        print("usage: python -m kmodel.perf.report BENCH.json REPORT.md", file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        doc = json.load(f)
    with open(argv[1], "w") as f:
        f.write(render(doc))
    # pytest-benchmark keeps every round's time (tens of MB); the statistics and
    # the modeled figures are what the report uses: keep those, drop the rounds
    for b in doc.get("benchmarks", []):
        b.get("stats", {}).pop("data", None)
    with open(argv[0], "w") as f:
        json.dump(doc, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
