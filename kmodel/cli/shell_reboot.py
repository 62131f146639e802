"""reboot: a hot reboot, a new kernel on the same machine (hw.machine).

    reboot      the kernel goes, with its channels, modules and pages; the next
                boots with the same machine, config and command line.  RAM is not
                cleared, so a reserve_mem region (--cmdline reserve_mem=...) is
                found where the last kernel left it; load ltt_relay_alloc to see
                the previous boot's trace in /sys/kernel/debug/ltt/previous_boot/.
"""
from kmodel.cli.command import Command, register
from kmodel.cli.errors import ScriptError


def cmd_reboot(sh, args):
    if args:
        raise ScriptError("reboot takes no arguments")
    sh.reboot()
    k = sh.k
    kept = (f"; reserve_mem region {k.reserved_mem.name} kept at {k.reserved_mem.start:#x}"
            if k.reserved_mem is not None else "")
    return (f"reboot: restarting system\n{k.spec.name}: boot {k.machine.boots}, "
            f"{k.num_online_cpus()} CPUs online; what the old kernel held is gone{kept}\n")


COMMANDS = [
    Command("reboot", cmd_reboot, (("reboot", "hot reboot: a new kernel on the same "
                                              "machine (reserved memory survives)"),)),
]
register(*COMMANDS, group=90)
