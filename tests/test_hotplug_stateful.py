"""Random up/down/suspend with injected failures, under hypothesis.

Invariants after every step: online within present within possible; the boot
CPU online; and for every notifier, every event sequence it saw for one
operation on one CPU is well formed: UP_PREPARE is followed by exactly one of
ONLINE (after STARTING) or UP_CANCELED, DOWN_PREPARE by exactly one of DEAD
(after DYING, and before POST_DEAD) or DOWN_FAILED.  Run on 2.6.29 (failures
are NOTIFY_BAD, read as -EINVAL) and with CONFIG_KMODEL_HOTPLUG_ERRNO=y
(encoded errnos, passed back).
"""
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hotplug_helpers import Recorder
from kmodel.cpu.actions import (CPU_DOWN_PREPARE, CPU_DOWN_PREPARE_FROZEN, CPU_UP_PREPARE,
                                CPU_UP_PREPARE_FROZEN)
from kmodel.kernel import boot

WELL_FORMED = {
    ("CPU_UP_PREPARE", "CPU_STARTING", "CPU_ONLINE"), ("CPU_UP_PREPARE", "CPU_UP_CANCELED"),
    ("CPU_DOWN_PREPARE", "CPU_DYING", "CPU_DEAD", "CPU_POST_DEAD"),
    ("CPU_DOWN_PREPARE", "CPU_DOWN_FAILED"),
}
ACTIONS = [CPU_UP_PREPARE, CPU_DOWN_PREPARE, CPU_UP_PREPARE_FROZEN, CPU_DOWN_PREPARE_FROZEN]


def split_ops(events):
    """Cut a notifier's event list into per-operation runs, one CPU each."""
    runs, cur = [], []
    for name, cpu in events:
        base = name.replace("_FROZEN", "")
        if base in ("CPU_UP_PREPARE", "CPU_DOWN_PREPARE") and cur:
            runs.append(cur)
            cur = []
        cur.append((base, cpu))
    if cur:
        runs.append(cur)
    return runs


class HotplugMachine(RuleBasedStateMachine):
    CONFIG: tuple[str, ...] = ()

    def __init__(self):
        super().__init__()
        self.k = boot("numa2", config=self.CONFIG)
        self.recs = [Recorder(self.k, p) for p in (30, 10, -10)]
        # A failing notifier between them, re-armed by the rules.
        self.faulty = Recorder(self.k, 0, name="faulty")

    def teardown(self):
        self.k.shutdown()

    @rule(cpu=st.integers(0, 9))
    def up(self, cpu):
        self.k.cpu_up(cpu)

    @rule(cpu=st.integers(0, 9))
    def down(self, cpu):
        self.k.cpu_down(cpu)

    @rule()
    def suspend(self):
        self.k.hotplug.disable_nonboot_cpus() or None
        self.k.hotplug.enable_nonboot_cpus()

    @rule(action=st.sampled_from(ACTIONS), cpu=st.one_of(st.none(), st.integers(0, 9)),
          err=st.sampled_from([0, -5, -12, -16]))
    def inject(self, action, cpu, err):
        self.faulty.fail = {(action, cpu): self.k.hotplug.notifier_error(err)} if err else {}

    @rule(cpu=st.integers(8, 9), add=st.booleans())
    def hot_add_remove(self, cpu, add):
        if add:
            self.k.hotplug.arch_register_cpu(cpu)
        else:
            self.k.hotplug.arch_unregister_cpu(cpu)

    @invariant()
    def masks_nest(self):
        k = self.k
        assert set(k.cpu_online_mask) <= set(k.cpu_present_mask) <= set(k.cpu_possible_mask)
        assert k.cpu_online(k.boot_cpu)
        assert k.hotplug.maps_lock_owner is None and not k.hotplug.hotplug_active

    @invariant()
    def notifier_sequences_well_formed(self):
        for r in self.recs + [self.faulty]:
            for run in split_ops(r.take()):
                cpus = {c for _, c in run}
                names = tuple(n for n, _ in run)
                assert len(cpus) == 1, run
                if r is self.faulty and len(names) == 1:
                    continue                # the failing notifier gets no rollback
                # Notifiers after the failing one see nothing; before it, a pair.
                assert names in WELL_FORMED, (r.nb.name, run)


class HotplugMachineErrno(HotplugMachine):
    CONFIG = ("CONFIG_KMODEL_HOTPLUG_ERRNO=y",)


TestHotplugStateful = HotplugMachine.TestCase
TestHotplugStateful.settings = settings(max_examples=40, stateful_step_count=40, deadline=None)
TestHotplugStatefulErrno = HotplugMachineErrno.TestCase
TestHotplugStatefulErrno.settings = settings(max_examples=25, stateful_step_count=40,
                                             deadline=None)
