"""CPU hotplug (kernel/cpu.c of 2.6.29, and the x86 arch hooks it calls).

``cpu_up``/``cpu_down`` run the notifier chain with the kernel's rollback:

- CPU_UP_PREPARE goes to every notifier until one returns a value with
  NOTIFY_STOP_MASK set.  If that value is NOTIFY_BAD the bring-up fails:
  CPU_UP_CANCELED goes to the notifiers that had succeeded, the ones called
  before the failing one (``nr_calls - 1``: the failing one is not told), the
  CPU stays offline, and cpu_up returns -EINVAL.  Otherwise the new CPU
  starts: CPU_STARTING runs on it, with interrupts off, before it is marked
  online (notify_cpu_starting, from x86's smp_callin), then CPU_ONLINE.
- CPU_DOWN_PREPARE likewise, rolled back with CPU_DOWN_FAILED.  Then
  ``__cpu_disable`` may refuse (x86 keeps the boot CPU: -EBUSY); then every
  notifier gets CPU_DOWN_FAILED.  Otherwise CPU_DYING (on the dying CPU, under
  stop_machine), "CPU N is now offline", CPU_DEAD (which cannot fail), the
  hotplug lock is released, CPU_POST_DEAD.

2.6.29 tests the chain's result for NOTIFY_BAD exactly (``ret == NOTIFY_BAD``)
and answers -EINVAL whatever the cause.  A notifier that returns an encoded
errno (notifier_from_errno(-ENOMEM), 0x800d) stops the chain there, yet the
CPU comes up: no CPU notifier of 2.6.29 returns one.  Linux passes the
notifier's errno back since 2.6.35 (``__cpu_notify`` returns
``notifier_to_errno(ret)``); CONFIG_KMODEL_HOTPLUG_ERRNO=y does that, and
then a bare NOTIFY_BAD reads -EPERM.  ``notifier_error(err)`` is what a
notifier of this kernel returns to fail with err.

Where this differs from Linux, on purpose: a cpu_up or cpu_down called while
a hotplug operation is under way on the same thread (from a notifier) would
deadlock on cpu_add_remove_lock in Linux; here it is caught, reported as
lockdep would, and fails with -EDEADLK.

Suspend (``disable_nonboot_cpus``/``enable_nonboot_cpus``) uses the same
paths with CPU_TASKS_FROZEN set in every action.
"""
from kmodel.core.errno import EBUSY, EDEADLK, EEXIST, EINVAL, EPERM
from kmodel.core.printk import KERN_ERR, KERN_INFO, KERN_WARNING
from kmodel.cpu.actions import (CPU_DEAD, CPU_DOWN_FAILED, CPU_DOWN_PREPARE, CPU_DYING,
                                CPU_ONLINE, CPU_POST_DEAD, CPU_STARTING, CPU_TASKS_FROZEN,
                                CPU_UP_CANCELED, CPU_UP_PREPARE)
from kmodel.cpu.context import on_cpu
from kmodel.cpu.notifier import (NOTIFY_BAD, notifier_block, notifier_call_chain,
                                 notifier_chain_register, notifier_chain_unregister,
                                 notifier_from_errno, notifier_to_errno, raw_notifier_head)


class CpuHotplug:
    """The hotplug state of one kernel: the chain, the locks, the frozen set."""

    def __init__(self, kernel):
        self.k = kernel
        self.log = kernel.log
        self.bug = kernel.bug
        self.cpu_chain = raw_notifier_head()
        self.maps_lock_owner = None       # the operation holding cpu_add_remove_lock
        self.hotplug_active = False       # cpu_hotplug_begin() .. cpu_hotplug_done()
        self.readers = 0                  # get_online_cpus() references
        self.cpu_hotplug_disabled = False
        self.frozen_cpus = []
        self.present_listeners = []       # sysfs: called with (cpu, present)
        # 2.6.35's errno passing (CONFIG_KMODEL_HOTPLUG_ERRNO=y), or 2.6.29's -EINVAL
        self.pass_errno = kernel.config["CONFIG_KMODEL_HOTPLUG_ERRNO"] == "y"

    # --- notifier registration ----------------------------------------------
    def register_cpu_notifier(self, nb):
        """register_cpu_notifier - add nb to the CPU chain (cpu_maps_update_begin held)."""
        return notifier_chain_register(self.cpu_chain, nb)

    def unregister_cpu_notifier(self, nb):
        return notifier_chain_unregister(self.cpu_chain, nb)

    def hotcpu_notifier(self, fn, priority):
        """hotcpu_notifier - wrap fn(nb, action, hcpu) in a block and register it."""
        nb = notifier_block(fn, priority)
        self.register_cpu_notifier(nb)
        return nb

    def _charge(self, nb):
        k = self.k
        k.timing.notifier_call(k.timing.cpus[k.current.cpu])

    def _notify(self, action, cpu, nr_to_call=-1):
        return notifier_call_chain(self.cpu_chain, action, cpu, nr_to_call, self._charge)

    def _chain_error(self, ret):
        """_chain_error - the errno a chain's result makes, 0 when it did not fail.

        2.6.29 (kernel/cpu.c): ``if (ret == NOTIFY_BAD) ... ret = -EINVAL``.
        With CONFIG_KMODEL_HOTPLUG_ERRNO=y, 2.6.35's ``__cpu_notify``:
        ``notifier_to_errno(ret)``, so a bare NOTIFY_BAD gives -EPERM."""
        if self.pass_errno:
            return notifier_to_errno(ret)
        return -EINVAL if ret == NOTIFY_BAD else 0

    def notifier_error(self, err):
        """notifier_error - what a CPU notifier returns to fail a PREPARE with
        err (a negative errno) on this kernel: NOTIFY_BAD on 2.6.29, where the
        cause is lost (the caller sees -EINVAL) and an encoded errno would not
        fail the operation at all; notifier_from_errno(err) where the kernel
        passes errnos back (CONFIG_KMODEL_HOTPLUG_ERRNO=y, Linux 2.6.35)."""
        return notifier_from_errno(err) if self.pass_errno else NOTIFY_BAD

    # --- locks --------------------------------------------------------------
    def _maps_begin(self, what):
        """cpu_maps_update_begin - take cpu_add_remove_lock, or catch recursion."""
        if self.maps_lock_owner is not None or self.hotplug_active:
            self._recursive(what)
            return False
        self.maps_lock_owner = what
        return True

    def _maps_done(self):
        self.maps_lock_owner = None

    def _recursive(self, what):
        holder = self.maps_lock_owner or "cpu_hotplug.lock"
        for line in ("=============================================",
                     "[ INFO: possible recursive locking detected ]",
                     "---------------------------------------------",
                     f"{self.k.current_comm()} is trying to acquire lock:",
                     " (cpu_add_remove_lock){--..}, at: cpu_maps_update_begin",
                     "but task is already holding lock:",
                     f" (cpu_add_remove_lock){{--..}}, at: {holder}",
                     f"{what} called from a CPU notifier: refused with -EDEADLK"):
            self.log.printk(KERN_WARNING + line)

    def get_online_cpus(self):
        """get_online_cpus - keep the online mask stable until put_online_cpus."""
        self.readers += 1

    def put_online_cpus(self):
        self.bug.WARN_ON(self.readers == 0, depth=2)
        self.readers = max(0, self.readers - 1)

    def _hotplug_begin(self, what):
        if self.readers:
            # A reader of this very thread would wait forever in cpu_hotplug_begin.
            self._recursive(what)
            return False
        self.hotplug_active = True
        return True

    # --- arch hooks (arch/x86/kernel/smpboot.c) -----------------------------
    def __cpu_up_arch(self, cpu, mod):
        """__cpu_up - start the CPU: it runs start_secondary, whose smp_callin
        calls notify_cpu_starting before the CPU is marked online."""
        self.log.printk(KERN_INFO + f"Booting processor {cpu} APIC {cpu:#x} ip 0x6000")
        self.notify_cpu_starting(cpu, mod)
        self.k.cpu_online_mask.set_cpu(cpu, True)
        return 0

    def notify_cpu_starting(self, cpu, mod):
        """notify_cpu_starting - CPU_STARTING (or _FROZEN) to the whole chain,
        run on the new CPU "before the new cpu enables interrupts and before
        the boot cpu returns from __cpu_up()" (kernel/cpu.c, 2.6.28 on).  The
        CPU is not online yet; its interrupts are off.  Nothing can fail it."""
        self._notify_on(cpu, CPU_STARTING | mod)

    def _notify_on(self, cpu, action):
        """_notify_on - the chain, run on cpu itself with its interrupts off:
        CPU_STARTING (smp_callin) and CPU_DYING (take_cpu_down, under
        stop_machine)."""
        ex = self.k.cpu_exec[cpu]
        saved = ex.irqs_off
        with on_cpu(self.k, cpu):
            ex.irqs_off = True
            try:
                return self._notify(action, cpu)
            finally:
                ex.irqs_off = saved

    def __cpu_disable_arch(self, cpu):
        if cpu == self.k.boot_cpu:
            return -EBUSY
        self.k.cpu_online_mask.set_cpu(cpu, False)
        return 0

    # --- up -----------------------------------------------------------------
    def _cpu_up(self, cpu, tasks_frozen):
        """_cpu_up - bring cpu online; the caller holds cpu_add_remove_lock."""
        k = self.k
        mod = CPU_TASKS_FROZEN if tasks_frozen else 0
        if cpu in k.cpu_online_mask or cpu not in k.cpu_present_mask:
            return -EINVAL
        if not self._hotplug_begin(f"_cpu_up({cpu})"):
            return -EDEADLK
        try:
            ret, nr_calls = self._notify(CPU_UP_PREPARE | mod, cpu)
            err = self._chain_error(ret)
            if err:
                nr_calls -= 1
                self.log.printk(KERN_WARNING + f"_cpu_up: attempt to bring up CPU {cpu} failed")
            else:
                err = self.__cpu_up_arch(cpu, mod)
                if not err:
                    self._notify(CPU_ONLINE | mod, cpu)
            if err:
                self._notify(CPU_UP_CANCELED | mod, cpu, nr_calls)
        finally:
            self.hotplug_active = False
        return err

    def cpu_up(self, cpu):
        """cpu_up - bring a present CPU online.  0 or a negative errno (-EPERM
        in a kernel built without CONFIG_HOTPLUG_CPU: no CPU comes or goes)."""
        k = self.k
        if k.config["CONFIG_HOTPLUG_CPU"] != "y":
            return -EPERM
        if cpu not in k.cpu_possible_mask:
            self.log.printk(KERN_ERR + f"can't online cpu {cpu} because it is not configured "
                            "as may-hotadd at boot time")
            return -EINVAL
        if not self._maps_begin(f"cpu_up({cpu})"):
            return -EDEADLK
        try:
            if self.cpu_hotplug_disabled:
                return -EBUSY
            return self._cpu_up(cpu, False)
        finally:
            self._maps_done()

    # --- down ---------------------------------------------------------------
    def _cpu_down(self, cpu, tasks_frozen):
        """_cpu_down - take cpu offline; the caller holds cpu_add_remove_lock."""
        k = self.k
        mod = CPU_TASKS_FROZEN if tasks_frozen else 0
        if len(k.cpu_online_mask) == 1:
            return -EBUSY
        if cpu not in k.cpu_online_mask:
            return -EINVAL
        if not self._hotplug_begin(f"_cpu_down({cpu})"):
            return -EDEADLK
        try:
            ret, nr_calls = self._notify(CPU_DOWN_PREPARE | mod, cpu)
            err = self._chain_error(ret)
            if err:
                nr_calls -= 1
                self._notify(CPU_DOWN_FAILED | mod, cpu, nr_calls)
                self.log.printk(KERN_WARNING + f"_cpu_down: attempt to take down CPU {cpu} failed")
                return err
            # take_cpu_down() under stop_machine: __cpu_disable, then CPU_DYING.
            err = self.__cpu_disable_arch(cpu)
            if err:
                # "CPU didn't die: tell everyone.  Can't complain."
                ret, _ = self._notify(CPU_DOWN_FAILED | mod, cpu)
                if self._chain_error(ret):
                    self.bug.BUG("a CPU_DOWN_FAILED notifier returned an error")
                return err
            self._notify_on(cpu, CPU_DYING | mod)
            # __cpu_die(): the CPU is gone.
            self.log.printk(KERN_INFO + f"CPU {cpu} is now offline")
            # "CPU is completely dead: tell everyone.  Too late to complain."
            ret, _ = self._notify(CPU_DEAD | mod, cpu)
            if self._chain_error(ret):
                self.bug.BUG("a CPU_DEAD notifier returned an error")
        finally:
            self.hotplug_active = False
        # cpu_hotplug_done() has run: CPU_POST_DEAD may take the locks it needs.
        ret, _ = self._notify(CPU_POST_DEAD | mod, cpu)
        if self._chain_error(ret):
            self.bug.BUG("a CPU_POST_DEAD notifier returned an error")
        return 0

    def cpu_down(self, cpu):
        """cpu_down - take an online CPU offline.  0 or a negative errno."""
        if self.k.config["CONFIG_HOTPLUG_CPU"] != "y":
            return -EPERM
        if cpu not in self.k.cpu_possible_mask:
            return -EINVAL
        if not self._maps_begin(f"cpu_down({cpu})"):
            return -EDEADLK
        try:
            if self.cpu_hotplug_disabled:
                return -EBUSY
            return self._cpu_down(cpu, False)
        finally:
            self._maps_done()

    # --- suspend/resume -----------------------------------------------------
    def disable_nonboot_cpus(self):
        """disable_nonboot_cpus - take every CPU but the first online one down (frozen)."""
        k = self.k
        if not self._maps_begin("disable_nonboot_cpus"):
            return -EDEADLK
        try:
            first = k.cpu_online_mask.first()
            self.frozen_cpus = []
            self.log.printk(KERN_INFO + "Disabling non-boot CPUs ...")
            error = 0
            for cpu in list(k.cpu_online_mask):
                if cpu == first:
                    continue
                error = self._cpu_down(cpu, True)
                if not error:
                    self.frozen_cpus.append(cpu)
                    self.log.printk(KERN_INFO + f"CPU{cpu} is down")
                else:
                    self.log.printk(KERN_ERR + f"Error taking CPU{cpu} down: {error}")
                    break
            if not error:
                self.cpu_hotplug_disabled = True
            else:
                self.log.printk(KERN_ERR + "Non-boot CPUs are not disabled")
            return error
        finally:
            self._maps_done()

    def enable_nonboot_cpus(self):
        """enable_nonboot_cpus - bring the frozen CPUs back; report the ones that fail."""
        if not self._maps_begin("enable_nonboot_cpus"):
            return
        try:
            self.cpu_hotplug_disabled = False
            if not self.frozen_cpus:
                return
            self.log.printk(KERN_INFO + "Enabling non-boot CPUs ...")
            for cpu in self.frozen_cpus:
                error = self._cpu_up(cpu, True)
                if not error:
                    self.log.printk(KERN_INFO + f"CPU{cpu} is up")
                    continue
                self.log.printk(KERN_WARNING + f"Error taking CPU{cpu} up: {error}")
            self.frozen_cpus = []
        finally:
            self._maps_done()

    # --- physical hot-add and removal (an extension: firmware events in Linux) ----
    def arch_register_cpu(self, cpu):
        """arch_register_cpu - make a possible CPU present (offline)."""
        k = self.k
        if cpu not in k.cpu_possible_mask:
            return -EINVAL
        if cpu in k.cpu_present_mask:
            return -EEXIST
        return self._set_present(cpu, True, f"CPU {cpu} added to node {k.cpu_to_node(cpu)}")

    def arch_unregister_cpu(self, cpu):
        """arch_unregister_cpu - remove a present CPU; it must be offline."""
        k = self.k
        if cpu not in k.cpu_present_mask:
            return -EINVAL
        if cpu in k.cpu_online_mask:
            return -EBUSY
        return self._set_present(cpu, False, f"CPU {cpu} removed")

    def _set_present(self, cpu, present, message):
        """Change the present mask under cpu_add_remove_lock and tell sysfs."""
        if not self._maps_begin(f"arch_{'' if present else 'un'}register_cpu({cpu})"):
            return -EDEADLK
        try:
            self.k.cpu_present_mask.set_cpu(cpu, present)
            self.log.printk(KERN_INFO + message)
            for fn in self.present_listeners:
                fn(cpu, present)
            return 0
        finally:
            self._maps_done()
