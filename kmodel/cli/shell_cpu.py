"""The shell's commands about what runs where: taskset, irq, softirq, nmi, contexts.

``taskset -c CPU COMMAND`` runs a command on another CPU (it becomes the
opener of a channel, the CPU that runs a hotplug operation or allocates).
``irq CPU COMMAND`` (and softirq, nmi) runs it as an interrupt of that kind
on CPU, nested on what that CPU runs (kmodel.cpu.context); ``contexts``
prints each CPU's stack.
"""
from kmodel.cli.args import parse_cpu
from kmodel.cli.command import Command, register
from kmodel.cli.errors import CommandFailed, ScriptError
from kmodel.cpu.context import (HARDIRQ, NMI, SOFTIRQ, ContextError, context_enter,
                                context_exit, format_stacks)


def cmd_taskset(sh, args):
    if len(args) < 3 or args[0] != "-c":
        raise ScriptError("taskset -c CPU COMMAND...")
    cpu = parse_cpu(args[1], "taskset")
    k = sh.k
    if not k.cpu_online(cpu):
        raise CommandFailed(22, f"taskset: failed to set pid's affinity: CPU {cpu} "
                            "is not online")
    with k.on_cpu(cpu):
        return sh.run_words(args[2:])


def run_interrupt(sh, kind, args):
    """kind CPU COMMAND...: one command as an interrupt on CPU, named "sh"."""
    if len(args) < 2:
        raise ScriptError(f"{'irq' if kind == HARDIRQ else kind} CPU COMMAND...")
    cpu = parse_cpu(args[0], kind)
    k = sh.k
    if cpu not in k.cpu_possible_mask:
        raise ScriptError(f"CPU {cpu} is not a possible CPU "
                          f"({k.cpu_possible_mask.cpulist()})")
    saved = k.current
    try:
        ctx = context_enter(k, cpu, kind, "sh")
    except ContextError as e:
        raise ScriptError(f"an interrupt on CPU {cpu}: {e}") from None
    try:
        return sh.run_words(args[1:])
    finally:
        context_exit(k, ctx)
        k.current = saved if k.cpu_online(saved.cpu) else k.cpu_exec[k.boot_cpu].top


def cmd_contexts(sh, args):
    if args:
        raise ScriptError("contexts takes no argument")
    return "".join(line + "\n" for line in format_stacks(sh.k))


COMMANDS = [
    Command("taskset", cmd_taskset, (("taskset -c CPU COMMAND...",
                                      "run a command on that CPU (e.g. who opens a channel)"),)),
    Command("irq", lambda sh, a: run_interrupt(sh, HARDIRQ, a),
            (("irq CPU COMMAND...", "run a command as a hardirq on that CPU"),)),
    Command("softirq", lambda sh, a: run_interrupt(sh, SOFTIRQ, a),
            (("softirq CPU COMMAND...", "... as a softirq"),)),
    Command("nmi", lambda sh, a: run_interrupt(sh, NMI, a),
            (("nmi CPU COMMAND...", "... as an NMI"),)),
    Command("contexts", cmd_contexts, (("contexts", "each CPU's contexts, task first"),)),
]
register(*COMMANDS, group=70)
