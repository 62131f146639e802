"""/sys/devices/system/cpu masks (drivers/base/cpu.c)."""

CPU_ROOT = "/sys/devices/system/cpu"


def register_cpu_sysfs(k):
    fs = k.fs

    def offline():
        # print_cpus_offline(): possible CPUs that are not online
        from hw.ranges import format_range_list
        return format_range_list(c for c in k.cpu_possible_mask
                                 if c not in k.cpu_online_mask) + "\n"

    fs.create_file(f"{CPU_ROOT}/possible", lambda: k.cpu_possible_mask.cpulist() + "\n")
    fs.create_file(f"{CPU_ROOT}/present", lambda: k.cpu_present_mask.cpulist() + "\n")
    fs.create_file(f"{CPU_ROOT}/online", lambda: k.cpu_online_mask.cpulist() + "\n")
    fs.create_file(f"{CPU_ROOT}/offline", offline)
