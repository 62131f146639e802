"""cpu-notifier-error-inject (lib/cpu-notifier-error-inject.c, lib/notifier-error-inject.c).

Loaded with ``priority=N``, it registers a CPU notifier at that priority and
makes ``/sys/kernel/debug/notifier-error-inject/cpu/actions/<ACTION>/error``.
Writing a negative errno there (``echo -12 > .../CPU_UP_PREPARE/error``) makes
that action fail with it; 0 turns it off.  Values are clamped to
[-MAX_ERRNO, 0] as Linux does.  This is how Linux's selftest
tools/testing/selftests/cpu-hotplug drives the rollback paths.

The module is younger than the kernel kmodel emulates: it appeared in Linux
2.6.35 (Akinobu Mita, May 2010), and this debugfs layout is its 2012 rewrite
over lib/notifier-error-inject.c (3.6).  Linux's returns
notifier_from_errno(error).  On kmodel's 2.6.29, where only NOTIFY_BAD fails a
PREPARE, it returns NOTIFY_BAD, as that kernel's notifiers fail; with
CONFIG_KMODEL_HOTPLUG_ERRNO=y it returns the encoded errno, as Linux's does
(CpuHotplug.notifier_error).
"""
from kmodel.core.module import KernelModule
from kmodel.core.printk import KERN_INFO
from kmodel.cpu.actions import (CPU_DOWN_PREPARE, CPU_DOWN_PREPARE_FROZEN, CPU_UP_PREPARE,
                                CPU_UP_PREPARE_FROZEN, action_name)
from kmodel.cpu.notifier import NOTIFY_OK, notifier_block
from kmodel.fs.debugfs import debugfs_create_dir
from kmodel.fs.vfs import parse_int

MAX_ERRNO = 4095
ACTIONS = (CPU_UP_PREPARE, CPU_UP_PREPARE_FROZEN, CPU_DOWN_PREPARE, CPU_DOWN_PREPARE_FROZEN)


class CpuNotifierErrorInject(KernelModule):
    NAME = "cpu_notifier_error_inject"
    CONFIG = "CONFIG_CPU_NOTIFIER_ERROR_INJECT"
    PARAMS = {"priority": int}
    DESCRIPTION = "CPU notifier error injection module"

    def init(self):
        k = self.k
        self.errors = {a: 0 for a in ACTIONS}
        self.injected = 0
        root = debugfs_create_dir(k.fs, "notifier-error-inject")
        self.dir = k.fs.mkdir("cpu", root)
        for action in ACTIONS:
            d = k.fs.mkdir(f"actions/{action_name(action)}", self.dir)
            k.fs.create_file("error", self._show(action), self._store(action), mode=0o644,
                             parent=d)
        self.nb = notifier_block(self._callback, self.params.get("priority", 0),
                                 name="cpu_notifier_err_inject")
        k.hotplug.register_cpu_notifier(self.nb)
        return 0

    def exit(self):
        self.k.hotplug.unregister_cpu_notifier(self.nb)
        self.k.fs.remove(self.dir)

    def _show(self, action):
        return lambda: f"{self.errors[action]}\n"

    def _store(self, action):
        def store(text):
            v = parse_int(text)
            if v is None:
                return -22
            self.errors[action] = max(-MAX_ERRNO, min(0, v))
            return len(text)
        return store

    def _callback(self, nb, action, hcpu):
        err = self.errors.get(action, 0)
        if not err:
            return NOTIFY_OK
        self.injected += 1
        self.k.printk(KERN_INFO + f"Injecting error ({err}) to {action_name(action)}")
        return self.k.hotplug.notifier_error(err)
