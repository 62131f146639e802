"""storm: random CPU hotplug with the invariants checked after every step.

    storm cpus=LIST steps=N seed=S [suspend=P]

Each step suspends and resumes the machine with probability P; otherwise it
picks a CPU from LIST and takes it down if it is online, up if not.  Refusals
(EBUSY for the boot CPU, an injected error) are counted, not failures.  After
every step: online within present within possible, the boot CPU online, no
hotplug lock held, and every online CPU has a buffer in every open channel.
The first broken invariant stops the storm as a failed expectation.
"""
import random

from hw.ranges import parse_range_list
from kmodel.cli.args import arg_count, arg_int, parse_kv
from kmodel.cli.command import Command, register
from kmodel.cli.errors import ExpectationFailed, ScriptError
from kmodel.cli.relay_state import relay_state
from kmodel.core.errno import errno_name
from kmodel.cpu.suspend import pm_suspend


def check_invariants(sh):
    k = sh.k
    online, present, possible = (set(k.cpu_online_mask), set(k.cpu_present_mask),
                                 set(k.cpu_possible_mask))
    if not online <= present:
        return f"online CPUs {sorted(online - present)} are not present"
    if not present <= possible:
        return f"present CPUs {sorted(present - possible)} are not possible"
    if k.boot_cpu not in online:
        return f"the boot CPU {k.boot_cpu} is offline"
    if k.hotplug.maps_lock_owner is not None or k.hotplug.hotplug_active:
        return "a hotplug lock is still held"
    for name, chan in relay_state(sh).channels.items():
        missing = [c for c in sorted(online) if chan.buf[c] is None]
        if missing:
            return f"channel {name}: online CPUs {missing} have no buffer"
    return None


def storm(sh, args):
    kv = parse_kv(args, ("cpus", "steps", "seed", "suspend"), ("cpus", "steps"))
    try:
        cpus = parse_range_list(kv["cpus"])
    except ValueError as e:
        raise ScriptError(f"cpus: {e}") from None
    bad = [c for c in cpus if c not in sh.k.cpu_possible_mask]
    if not cpus or bad:
        raise ScriptError(f"cpus: {bad or 'none'} not possible "
                          f"({sh.k.cpu_possible_mask.cpulist()})")
    steps = arg_count(kv, "steps")
    seed = arg_int(kv, "seed", sh.seed)
    try:
        p_suspend = float(kv.get("suspend", "0"))
    except ValueError:
        raise ScriptError(f"suspend={kv['suspend']!r} is not a probability") from None
    if not 0 <= p_suspend <= 1:
        raise ScriptError(f"suspend={kv['suspend']}: must be 0..1")
    rng = random.Random(seed)
    k = sh.k
    counts = {"up": 0, "down": 0, "suspend": 0}
    refused = {}
    done = 0
    for step in sh.steps(steps):            # Ctrl-C: stop between two steps, never in one
        done = step + 1
        if p_suspend and rng.random() < p_suspend:
            err = pm_suspend(k, "mem")
            what = "suspend"
        else:
            cpu = rng.choice(cpus)
            if cpu not in k.cpu_present_mask:
                err, what = -19, "up"           # an empty slot: ENODEV, nothing to do
            elif k.cpu_online(cpu):
                err, what = k.cpu_down(cpu), "down"
            else:
                err, what = k.cpu_up(cpu), "up"
        if err:
            refused[errno_name(err)] = refused.get(errno_name(err), 0) + 1
        else:
            counts[what] += 1
        broken = check_invariants(sh)
        if broken:
            raise ExpectationFailed(f"storm step {done} ({what}): {broken}")
    ref = ", ".join(f"{n} {e}" for e, n in sorted(refused.items())) or "none"
    stopped = f" of {steps} (interrupted)" if done < steps else ""
    return (f"storm: {done} steps{stopped}, seed {seed}: {counts['down']} down, {counts['up']} up, "
            f"{counts['suspend']} suspend; refused: {ref}; invariants held\n"
            f"online now: {k.cpu_online_mask.cpulist()}\n")


COMMANDS = [
    Command("storm", storm, (("storm cpus=LIST steps=N seed=S [suspend=P]",
                              "random hotplug, checking invariants each step"),)),
]
register(*COMMANDS, group=60)
