"""Kconfig: the CONFIG_* options this kernel was 'built' with.

Options are fixed at boot, as a .config is at build time.  Only options the
emulator knows are accepted; an unknown one or a bad value is a clear error.
"""

# name -> (default, kind, help).  kind: 'bool' (y/n), 'tristate' (y/m/n), 'int'
OPTIONS = {
    "CONFIG_NUMA": ("y", "bool", "Non-uniform memory access support"),
    "CONFIG_HOTPLUG_CPU": ("y", "bool", "CPU hotplug"),
    "CONFIG_PM_SLEEP": ("y", "bool", "suspend to RAM (echo mem > /sys/power/state)"),
    "CONFIG_DEBUG_VM": ("y", "bool", "debug checks in the page allocator"),
    "CONFIG_FAULT_INJECTION": ("y", "bool", "fault-injection framework"),
    "CONFIG_FAIL_PAGE_ALLOC": ("y", "bool", "fail_page_alloc fault injection"),
    "CONFIG_FAILSLAB": ("y", "bool", "failslab fault injection"),
    "CONFIG_CPU_NOTIFIER_ERROR_INJECT": ("m", "tristate", "cpu-notifier-error-inject module"),
    "CONFIG_LTT_RELAY": ("m", "tristate", "the page-list relay buffer module"),
    "CONFIG_LTT_RELAY_CHECK_RANDOM_ACCESS": ("n", "bool",
                                             "warn when relay access walks more than one page"),
    "CONFIG_LTT_RELAY_ERRATA": ("n", "bool",
                                "kmodel extension: behave as the 2009 patch did where it is "
                                "wrong (docs/errata.md), to watch each bug happen"),
    "CONFIG_KMODEL_EXACT_TLB": ("n", "bool",
                                "kmodel extension: every relay access goes through the TLB "
                                "model, not only page changes (slower; exact when streams "
                                "interleave)"),
    "CONFIG_KMODEL_RB_ERRATUM_REMOTE_FLUSH": ("n", "bool",
        "kmodel extension: restore lttng-modules bug 5e391252 (a flush from another CPU "
        "runs on the owner's local_t counters)"),
    "CONFIG_KMODEL_RB_ERRATUM_WRAP_CHECK": ("n", "bool",
        "kmodel extension: restore lttng-modules bug 0fdec686 (the nested wrap-around "
        "check ignores a concurrent commit)"),
    "CONFIG_KMODEL_RB_ERRATUM_DISCARD_SAMPLE": ("n", "bool",
        "kmodel extension: restore lttng-modules bug b2cf5e0b (events discarded sampled "
        "at delivery, after the reserve)"),
    "CONFIG_KMODEL_RB_ERRATUM_TS_END": ("n", "bool",
        "kmodel extension: restore lttng-modules bug 635e457c / 2485a430 (a packet's "
        "timestamp_end read at its delivery, after later packets began)"),
    "CONFIG_KMODEL_RB_ERRATUM_REMOTE_SWITCH_MODE": ("n", "bool",
        "kmodel extension: restore lttng-modules bug 9dded431 (a flush run on another "
        "CPU by IPI ignores its switch mode: always SWITCH_ACTIVE)"),
    "CONFIG_KMODEL_RB_ERRATUM_ONE_SUBBUF": ("n", "bool",
        "kmodel extension: restore lttng-modules bug 5140d2b3 (an overwrite buffer of one "
        "sub-buffer is accepted; the record after a flush overwrites the only packet)"),
    "CONFIG_KMODEL_RB_ERRATUM_COMMIT_SEQ": ("n", "bool",
        "kmodel extension: restore lttng-modules bug 7915e163 (the commit path passes the "
        "record's end plus its slot size as the end of the area: a partial sub-buffer's "
        "commit sequence never moves, and a crash dump loses its records)"),
    "CONFIG_KMODEL_HOTPLUG_ERRNO": ("n", "bool",
        "kmodel extension: a CPU notifier's encoded errno fails a hotplug operation and "
        "comes back to the caller, as Linux does since 2.6.35 ('cpu-hotplug: return better "
        "errno on cpu hotplug failure'); 2.6.29 fails only on NOTIFY_BAD, with -EINVAL"),
    "CONFIG_KMODEL_HARDIRQS_IRQS_OFF": ("n", "bool",
        "kmodel extension: every hardirq handler runs with interrupts off, as Linux does "
        "since 2.6.35 (e58aa3d2d0cc); 2.6.29 turns them on for a handler not registered "
        "IRQF_DISABLED, so hardirqs nest"),
    "CONFIG_LOG_BUF_SHIFT": (17, "int", "kernel log buffer size, log2"),
    "CONFIG_FORCE_MAX_ZONEORDER": (11, "int", "MAX_ORDER of the buddy allocator"),
}


# Settings kmodel does not build, with why (a clear refusal, not a silent one).
UNSUPPORTED = {"CONFIG_DEBUG_VM": ("n", "kmodel's page allocator keeps its checks on "
                                        "(a bad free is an oops, as bad_page() reports)")}

# The ranges Kconfig gives the int options (init/Kconfig: LOG_BUF_SHIFT 12..25).
RANGES = {"CONFIG_LOG_BUF_SHIFT": (12, 25), "CONFIG_FORCE_MAX_ZONEORDER": (2, 20)}


class KconfigError(ValueError):
    """A CONFIG_* setting that cannot be used; the message names it."""


def _coerce(name, value, kind):
    v = str(value).strip()
    if kind == "int":
        try:
            return int(v, 0)
        except ValueError:
            raise KconfigError(f"{name}={value}: expected an integer") from None
    allowed = ("y", "n") if kind == "bool" else ("y", "m", "n")
    if v not in allowed:
        raise KconfigError(f"{name}={value}: expected one of {'/'.join(allowed)}")
    return v


class Kconfig:
    """The options of one kernel: defaults overridden by settings."""

    def __init__(self, settings=()):
        self.values = {k: d for k, (d, _, _) in OPTIONS.items()}
        items = settings.items() if isinstance(settings, dict) else (
            parse_setting(s) for s in settings)
        for name, value in items:
            if name not in OPTIONS:
                raise KconfigError(f"unknown option {name} (known: {', '.join(sorted(OPTIONS))})")
            self.values[name] = _coerce(name, value, OPTIONS[name][1])
        for name, (value, why) in UNSUPPORTED.items():
            if self.values[name] == value:
                raise KconfigError(f"{name}={value} is not supported: {why}")
        if self.values["CONFIG_PM_SLEEP"] == "y" and self.values["CONFIG_HOTPLUG_CPU"] != "y":
            raise KconfigError("CONFIG_PM_SLEEP=y needs CONFIG_HOTPLUG_CPU=y (PM_SLEEP_SMP "
                               "selects it: suspend takes the other CPUs down)")
        for name, (lo, hi) in RANGES.items():
            v = self.values[name]
            if not lo <= v <= hi:
                raise KconfigError(f"{name}={v}: must be {lo}..{hi}")

    def __getitem__(self, name):
        return self.values[name]

    def enabled(self, name):
        """IS_ENABLED(name): built in or modular."""
        return self.values.get(name) in ("y", "m")

    def dotconfig(self):
        """The options as a .config would list them."""
        out = []
        for k in sorted(self.values):
            v = self.values[k]
            out.append(f"# {k} is not set" if v == "n" else f"{k}={v}")
        return "\n".join(out) + "\n"


def parse_setting(text):
    """parse_setting - 'CONFIG_X=y' -> ('CONFIG_X', 'y')."""
    name, eq, value = str(text).partition("=")
    name = name.strip()
    if not eq or not name:
        raise KconfigError(f"bad config setting {text!r}: expected CONFIG_NAME=VALUE")
    if not name.startswith("CONFIG_"):
        name = "CONFIG_" + name
    return name, value.strip()
