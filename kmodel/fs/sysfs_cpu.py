"""/sys/devices/system/cpu (drivers/base/cpu.c) and /sys/power/state.

- ``possible``, ``present``, ``online``, ``offline``: range lists.
- ``cpuN/online`` for each present CPU, the boot CPU included: write 0 or 1
  (store_online), read 0 or 1.  Errors are the ones cpu_down/cpu_up return;
  anything but 0 or 1 is EINVAL.
- ``probe`` and ``release`` (write a CPU number): physical hot-add and removal.
  Linux has these files only on some architectures (CONFIG_ARCH_CPU_PROBE_RELEASE)
  and takes firmware-specific values there; here they are an extension that
  takes a CPU number.
- ``/sys/power/state``: reads ``mem``; ``echo mem >`` suspends and resumes.
"""
from hw.ranges import format_range_list
from kmodel.core.errno import EINVAL
from kmodel.cpu.suspend import PM_STATES, pm_suspend
from kmodel.fs.vfs import parse_int

CPU_ROOT = "/sys/devices/system/cpu"


def _ret(ret, text):
    return len(text) if ret >= 0 else ret


def register_cpu_sysfs(k):
    fs = k.fs
    hp = k.hotplug
    hotplug = k.config["CONFIG_HOTPLUG_CPU"] == "y"

    def offline():
        # print_cpus_offline(): possible CPUs that are not online
        return format_range_list(c for c in k.cpu_possible_mask
                                 if c not in k.cpu_online_mask) + "\n"

    fs.create_file(f"{CPU_ROOT}/possible", lambda: k.cpu_possible_mask.cpulist() + "\n")
    fs.create_file(f"{CPU_ROOT}/present", lambda: k.cpu_present_mask.cpulist() + "\n")
    fs.create_file(f"{CPU_ROOT}/online", lambda: k.cpu_online_mask.cpulist() + "\n")
    fs.create_file(f"{CPU_ROOT}/offline", offline)

    def cpu_dir(cpu, present):
        path = f"{CPU_ROOT}/cpu{cpu}"
        if not present:
            fs.remove(fs.lookup(path))
            return

        def show():
            return "1\n" if cpu in k.cpu_online_mask else "0\n"

        def store(text):
            t = text.strip()
            if t == "0":
                return _ret(hp.cpu_down(cpu), text)
            if t == "1":
                return _ret(hp.cpu_up(cpu), text)
            return -EINVAL
        if hotplug:                     # the online attribute needs CONFIG_HOTPLUG_CPU
            fs.create_file(f"{path}/online", show, store, mode=0o644)
        fs.create_file(f"{path}/node", lambda: f"{k.cpu_to_node(cpu)}\n")

    for cpu in k.cpu_present_mask:
        cpu_dir(cpu, True)
    hp.present_listeners.append(cpu_dir)

    def probe(text):
        cpu = parse_int(text)
        return -EINVAL if cpu is None else _ret(hp.arch_register_cpu(cpu), text)

    def release(text):
        cpu = parse_int(text)
        return -EINVAL if cpu is None else _ret(hp.arch_unregister_cpu(cpu), text)

    if hotplug:
        fs.create_file(f"{CPU_ROOT}/probe", None, probe, mode=0o200)
        fs.create_file(f"{CPU_ROOT}/release", None, release, mode=0o200)

    def state_store(text):
        return _ret(pm_suspend(k, text.strip()), text)
    if k.config["CONFIG_PM_SLEEP"] == "y":
        fs.create_file("/sys/power/state", lambda: " ".join(PM_STATES) + "\n", state_store,
                       mode=0o644)
