"""What the kernel counts: `stat` (modeled counters, as a table) and `leaks`."""
from dataclasses import dataclass

from hw.tlb import SIZES
from kmodel.cli.command import Command, ShellState, register
from kmodel.cli.errors import ScriptError


@dataclass
class StatState(ShellState):
    base: dict | None = None            # the totals at the last stat -c


def stat_delta(now, base):
    if base is None:
        return now
    out = {}
    for key, v in now.items():
        if isinstance(v, list):
            out[key] = [a - b for a, b in zip(v, base[key])]
        else:
            out[key] = v - base[key]
    return out


def format_stat(k, t):
    lines = [f"modeled cost ({k.spec.name}, {k.spec.timing.cpu_ghz:g} GHz)",
             f"  cycles          {t['cycles']:>14,}",
             f"  accesses        {t['ops']:>14,}",
             f"  bytes local     {t['bytes_local']:>14,}",
             f"  bytes remote    {t['bytes_remote']:>14,}",
             "  bytes by node   " + " ".join(f"N{i}={b:,}" for i, b in
                                            enumerate(t["bytes_by_node"]))]
    tlb = []
    for s in SIZES:
        if t[f"tlb_lookups_{s}"]:
            m = t[f"tlb_misses_{s}"]
            tlb.append(f"{s}: {t[f'tlb_lookups_{s}']:,} lookups, "
                       f"{m:,} miss{'' if m == 1 else 'es'}")
    lines.append("  TLB             " + ("; ".join(tlb) if tlb else "no lookups"))
    lines += [f"  metadata lines  local {t['meta_lines_local']:,}, "
              f"remote {t['meta_lines_remote']:,}",
              f"  walk steps      {t['walk_steps']:>14,}  (list iterations "
              f"{t['list_iters']:,})",
              f"  vmalloc faults  {t['vmalloc_faults']:>14,}",
              f"  notifier calls  {t['notifier_calls']:>14,}"]
    if t["c2c_lines"] or t["writeback_local"] or t["writeback_remote"]:
        lines.insert(-2, f"  lines from other caches {t['c2c_lines']:>6,}  (written back: local "
                         f"{t['writeback_local']:,}, remote {t['writeback_remote']:,} bytes)")
    return "\n".join(lines) + "\n"


def cmd_stat(sh, args):
    if args not in ([], ["-c"]):
        raise ScriptError("stat takes no argument but -c")
    st = sh.state(StatState)
    now = sh.k.timing.totals()
    out = format_stat(sh.k, stat_delta(now, st.base))
    if args == ["-c"]:
        st.base = now
    return out


def cmd_leaks(sh, args):
    leaks = sh.k.leaks()
    if not leaks:
        return "no leaks\n"
    return "".join(f"{caller}: {p} pages, {o} objects ({b} bytes)\n"
                   for caller, (p, o, b) in sorted(leaks.items()))


COMMANDS = [
    Command("stat", cmd_stat, (("stat [-c]",
                                "modeled counters since boot (or the last stat -c)"),)),
    Command("leaks", cmd_leaks, (("leaks", "what is still allocated since boot, by caller"),)),
]
register(*COMMANDS, group=40)
