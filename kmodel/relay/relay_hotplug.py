"""The patch's CPU hotplug callback (relay_hotcpu_callback in ltt/ltt-relay-alloc.c).

The module (module.py) registers it at priority 5 when it loads.
"""
from kmodel.core.errno import ENOMEM
from kmodel.core.list import list_for_each_entry
from kmodel.core.printk import KERN_ERR
from kmodel.cpu.actions import (CPU_DEAD, CPU_DEAD_FROZEN, CPU_ONLINE, CPU_ONLINE_FROZEN,
                                CPU_UP_CANCELED, CPU_UP_CANCELED_FROZEN, CPU_UP_PREPARE,
                                CPU_UP_PREPARE_FROZEN)
from kmodel.cpu.notifier import NOTIFY_BAD, NOTIFY_OK
from kmodel.relay.relay_alloc import errata, relay_close_buf, relay_open_buf


def relay_hotcpu_callback(relay, nb, action, hotcpu):
    """relay_hotcpu_callback - give a CPU coming up a buffer in every channel.

    At CPU_UP_PREPARE (and _FROZEN) each open channel that has no buffer for
    the CPU gets one on the CPU's node.  CPU_DEAD keeps the buffer: its data
    stays readable, and it is reused if the CPU comes back.

    Errata: the patch ignores CPU_UP_CANCELED, so when a later notifier vetoes
    the CPU, the buffers made here stay behind for a CPU that never came up;
    and when it fails itself half-way (it hears no UP_CANCELED then) the
    buffers it made for the earlier channels stay too.  Here both are undone.
    On 2.6.29 both the patch and the port answer NOTIFY_BAD, the one value
    that fails a PREPARE there, and the user reads EINVAL.  Where the kernel
    passes errnos back (CONFIG_KMODEL_HOTPLUG_ERRNO=y, Linux 2.6.35) the
    patch's NOTIFY_BAD reads EPERM; the port returns the cause, -ENOMEM.
    """
    k = relay.k
    if action in (CPU_UP_PREPARE, CPU_UP_PREPARE_FROZEN):
        made = []
        for chan in list_for_each_entry(relay.relay_channels):
            if chan.buf[hotcpu] is not None:
                continue
            chan.buf[hotcpu] = relay_open_buf(k, chan, hotcpu)
            if chan.buf[hotcpu] is None:
                k.printk(KERN_ERR + f"relay_hotcpu_callback: cpu {hotcpu} buffer "
                         "creation failed")
                if errata(k):
                    return NOTIFY_BAD
                for other in made:
                    relay_close_buf(other.buf[hotcpu])
                return k.hotplug.notifier_error(-ENOMEM)
            made.append(chan)
        relay.fresh[hotcpu] = made
    elif action in (CPU_UP_CANCELED, CPU_UP_CANCELED_FROZEN) and not errata(k):
        for chan in relay.fresh.pop(hotcpu, []):
            if chan.buf[hotcpu] is not None:
                relay_close_buf(chan.buf[hotcpu])
    elif action in (CPU_ONLINE, CPU_ONLINE_FROZEN):
        relay.fresh.pop(hotcpu, None)
    elif action in (CPU_DEAD, CPU_DEAD_FROZEN):
        # "No need to flush the cpu : will be flushed upon final relay_flush() call."
        pass
    return NOTIFY_OK
