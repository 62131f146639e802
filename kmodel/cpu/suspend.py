"""Suspend to RAM as far as CPUs go (kernel/power/main.c: enter_state).

``echo mem > /sys/power/state`` syncs, freezes tasks, takes every non-boot
CPU down with the _FROZEN actions (disable_nonboot_cpus), "sleeps", and brings
them back (enable_nonboot_cpus).  A CPU that fails to come back is reported
and stays offline; the others resume.  When taking the CPUs down fails, the
ones already down come back and the write fails with the error.
"""
from kmodel.core.errno import EINVAL
from kmodel.core.printk import KERN_ERR, KERN_INFO

PM_STATES = ("mem",)


def pm_suspend(k, state):
    """pm_suspend - enter a sleep state; 0 or a negative errno."""
    if state not in PM_STATES:
        return -EINVAL
    log = k.log
    log.printk(KERN_INFO + "PM: Syncing filesystems ... done.")
    log.printk(KERN_INFO + "Freezing user space processes ... (elapsed 0.00 seconds) done.")
    log.printk(KERN_INFO + "Freezing remaining freezable tasks ... (elapsed 0.00 seconds) done.")
    log.printk(KERN_INFO + "Suspending console(s) (use no_console_suspend to debug)")
    error = k.hotplug.disable_nonboot_cpus()
    if not error:
        k.suspend_count += 1
        log.printk(KERN_INFO + "PM: suspended (emulated sleep)")
    else:
        log.printk(KERN_ERR + f"PM: Some devices failed to power down: {error}")
    k.hotplug.enable_nonboot_cpus()
    log.printk(KERN_INFO + "Restarting tasks ... done.")
    return error
