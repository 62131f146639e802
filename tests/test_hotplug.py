import pytest

from hotplug_helpers import Recorder
from kmodel.core.errno import EBUSY, EDEADLK, EINVAL, ENOMEM, EPERM
from kmodel.cpu.actions import (CPU_DOWN_PREPARE, CPU_STARTING, CPU_UP_PREPARE,
                                CPU_UP_PREPARE_FROZEN)
from kmodel.cpu.notifier import (NOTIFY_BAD, NOTIFY_OK, NOTIFY_STOP, notifier_from_errno,
                                 notifier_to_errno)
from kmodel.fs.vfs import FsError

CPU = "/sys/devices/system/cpu"
INJ = "/sys/kernel/debug/notifier-error-inject/cpu/actions"


def test_errno_encoding_round_trips():
    for err in range(-200, 1):
        assert notifier_to_errno(notifier_from_errno(err)) == err
    assert notifier_to_errno(NOTIFY_BAD) == -EPERM
    assert notifier_to_errno(NOTIFY_STOP) == 0 and notifier_to_errno(NOTIFY_OK) == 0


def test_priority_order_higher_first_fifo_among_equals(k):
    order = []
    for prio, name in [(1, "a"), (10, "b"), (5, "c"), (10, "d")]:
        k.hotcpu_notifier(lambda nb, a, c, name=name: order.append(name) or NOTIFY_OK, prio)
    assert k.cpu_down(2) == 0
    assert order[:4] == ["b", "d", "c", "a"]


ERRNO = "CONFIG_KMODEL_HOTPLUG_ERRNO=y"


@pytest.mark.parametrize("config, want", [((), -EINVAL), ((ERRNO,), -ENOMEM)],
                         ids=["2.6.29", "errno"])
def test_up_prepare_failure_cancels_exactly_the_called_prefix(kernel_factory, config, want):
    """2.6.29 answers -EINVAL whatever failed; with the option (Linux 2.6.35)
    the injected errno comes back.  Either way the notifiers that had
    succeeded, and only they, hear CPU_UP_CANCELED."""
    k = kernel_factory("numa2", config=config)
    recs = [Recorder(k, p) for p in (40, 30, 20, 10)]
    assert k.cpu_down(3) == 0
    for r in recs:
        r.take()
    assert k.modules.insmod("cpu-notifier-error-inject", {"priority": "25"}) == 0
    k.fs.write(f"{INJ}/CPU_UP_PREPARE/error", "-12")
    assert k.cpu_up(3) == want
    assert recs[0].take() == [("CPU_UP_PREPARE", 3), ("CPU_UP_CANCELED", 3)]
    assert recs[1].take() == [("CPU_UP_PREPARE", 3), ("CPU_UP_CANCELED", 3)]
    assert recs[2].take() == [] and recs[3].take() == []
    assert not k.cpu_online(3)
    log = k.log.text()
    assert "Injecting error (-12) to CPU_UP_PREPARE" in log
    assert "_cpu_up: attempt to bring up CPU 3 failed" in log


@pytest.mark.parametrize("config, want", [((), -EINVAL), ((ERRNO,), -EPERM)],
                         ids=["2.6.29", "errno"])
def test_failing_notifier_itself_gets_no_cancel(kernel_factory, config, want):
    k = kernel_factory("numa2", config=config)
    a = Recorder(k, 20)
    bad = Recorder(k, 10, fail={(CPU_DOWN_PREPARE, 5): NOTIFY_BAD})
    c = Recorder(k, 0)
    assert k.cpu_down(5) == want
    assert a.take() == [("CPU_DOWN_PREPARE", 5), ("CPU_DOWN_FAILED", 5)]
    assert bad.take() == [("CPU_DOWN_PREPARE", 5)]
    assert c.take() == []
    assert k.cpu_online(5)
    assert "_cpu_down: attempt to take down CPU 5 failed" in k.log.text()


@pytest.mark.parametrize("config, want", [((), -EINVAL), ((ERRNO,), -EPERM)],
                         ids=["2.6.29", "errno"])
def test_failing_up_notifier_itself_gets_no_cancel(kernel_factory, config, want):
    """_cpu_up's nr_calls-- before CPU_UP_CANCELED: the notifier that failed
    UP_PREPARE does not hear the rollback; the ones before it do."""
    k = kernel_factory("numa2", config=config)
    assert k.cpu_down(5) == 0
    a = Recorder(k, 20)
    bad = Recorder(k, 10, fail={(CPU_UP_PREPARE, 5): NOTIFY_BAD})
    c = Recorder(k, 0)
    assert k.cpu_up(5) == want
    assert a.take() == [("CPU_UP_PREPARE", 5), ("CPU_UP_CANCELED", 5)]
    assert bad.take() == [("CPU_UP_PREPARE", 5)]
    assert c.take() == []
    assert not k.cpu_online(5)


@pytest.mark.parametrize("config", [(), (ERRNO,)], ids=["2.6.29", "errno"])
def test_an_encoded_errno_fails_only_where_errnos_pass(kernel_factory, config):
    """2.6.29 tests ret == NOTIFY_BAD: notifier_from_errno(-ENOMEM) stops the
    chain (the notifiers after it never hear UP_PREPARE), yet the CPU comes
    up.  Since 2.6.35 (the option) it fails the CPU with -ENOMEM."""
    k = kernel_factory("numa2", config=config)
    assert k.cpu_down(3) == 0
    a = Recorder(k, 20)
    enc = Recorder(k, 10, fail={(CPU_UP_PREPARE, 3): notifier_from_errno(-ENOMEM)})
    c = Recorder(k, 0)
    ret = k.cpu_up(3)
    if config:
        assert ret == -ENOMEM and not k.cpu_online(3)
        assert a.take() == [("CPU_UP_PREPARE", 3), ("CPU_UP_CANCELED", 3)]
        assert c.take() == []
    else:
        assert ret == 0 and k.cpu_online(3)
        assert a.take() == [("CPU_UP_PREPARE", 3), ("CPU_STARTING", 3), ("CPU_ONLINE", 3)]
        assert c.take() == [("CPU_STARTING", 3), ("CPU_ONLINE", 3)]     # no UP_PREPARE
    assert enc.take()[0] == ("CPU_UP_PREPARE", 3)


def test_cpu_starting_runs_on_the_new_cpu_with_interrupts_off_before_it_is_online(k):
    seen = []

    def starting(nb, action, cpu):
        if action == CPU_STARTING:
            seen.append((cpu, k.current.cpu, k.irqs_disabled(), k.cpu_online(cpu)))
        return NOTIFY_OK
    k.hotcpu_notifier(starting, 0)
    assert k.cpu_down(6) == 0 and k.cpu_up(6) == 0
    assert seen == [(6, 6, True, False)]
    assert k.current.cpu == 0 and not k.cpu_exec[6].irqs_off     # back, and irqs on


def test_down_sequence_and_dmesg(k):
    r = Recorder(k, 0)
    assert k.cpu_down(6) == 0
    assert r.take() == [("CPU_DOWN_PREPARE", 6), ("CPU_DYING", 6), ("CPU_DEAD", 6),
                        ("CPU_POST_DEAD", 6)]
    assert k.cpu_up(6) == 0
    assert r.take() == [("CPU_UP_PREPARE", 6), ("CPU_STARTING", 6), ("CPU_ONLINE", 6)]
    log = k.log.text()
    assert "CPU 6 is now offline\n" in log and "Booting processor 6 APIC 0x6" in log


def test_boot_cpu_cannot_go_offline(k):
    r = Recorder(k, 0)
    with pytest.raises(FsError) as e:
        k.fs.write(f"{CPU}/cpu0/online", "0")
    assert e.value.errno == EBUSY
    # x86 refuses in __cpu_disable, after DOWN_PREPARE: everyone hears DOWN_FAILED
    assert r.take() == [("CPU_DOWN_PREPARE", 0), ("CPU_DOWN_FAILED", 0)]
    assert k.cpu_online(0)


def test_last_online_cpu_is_ebusy(kernel_factory):
    k = kernel_factory("uma", maxcpus=1)
    assert k.cpu_down(0) == -EBUSY


@pytest.mark.parametrize("path, value, err", [
    (f"{CPU}/cpu2/online", "2", EINVAL),
    (f"{CPU}/cpu2/online", "", EINVAL),
    (f"{CPU}/cpu0/online", "0", EBUSY),
])
def test_sysfs_errors(k, path, value, err):
    with pytest.raises(FsError) as e:
        k.fs.write(path, value)
    assert e.value.errno == err


def test_sysfs_online_states_and_errors(k):
    assert k.fs.read(f"{CPU}/cpu2/online") == "1\n"
    k.fs.write(f"{CPU}/cpu2/online", "0")
    assert k.fs.read(f"{CPU}/cpu2/online") == "0\n"
    assert k.fs.read(f"{CPU}/online") == "0-1,3-7\n"
    assert k.fs.read(f"{CPU}/offline") == "2,8-9\n"
    with pytest.raises(FsError) as e:               # already offline: 2.6.29 says EINVAL
        k.fs.write(f"{CPU}/cpu2/online", "0")
    assert e.value.errno == EINVAL
    with pytest.raises(FsError, match="No such file"):   # not present: no directory
        k.fs.write(f"{CPU}/cpu8/online", "1")
    k.modules.insmod("cpu_notifier_error_inject", {})
    k.fs.write(f"{INJ}/CPU_UP_PREPARE/error", "-5")
    with pytest.raises(FsError) as e:               # 2.6.29: "Invalid argument"
        k.fs.write(f"{CPU}/cpu2/online", "1")
    assert e.value.errno == EINVAL
    assert k.fs.read(f"{INJ}/CPU_UP_PREPARE/error") == "-5\n"
    k.fs.write(f"{INJ}/CPU_UP_PREPARE/error", "7")  # clamped to [-MAX_ERRNO, 0]
    assert k.fs.read(f"{INJ}/CPU_UP_PREPARE/error") == "0\n"
    k.fs.write(f"{CPU}/cpu2/online", "1")
    assert k.cpu_online(2)


def test_frozen_only_during_suspend(k):
    r = Recorder(k, 0)
    k.cpu_down(1)
    k.cpu_up(1)
    assert not any("FROZEN" in a for a, _ in r.take())
    k.fs.write("/sys/power/state", "mem")
    ev = r.take()
    assert ev and all(a.endswith("_FROZEN") for a, _ in ev)
    downs = [c for a, c in ev if a == "CPU_DEAD_FROZEN"]
    ups = [c for a, c in ev if a == "CPU_ONLINE_FROZEN"]
    assert downs == ups == [1, 2, 3, 4, 5, 6, 7]
    assert k.fs.read(f"{CPU}/online") == "0-7\n"
    assert k.suspend_count == 1


def test_sysfs_passes_the_notifier_errno_with_the_option(kernel_factory):
    k = kernel_factory("numa2", config=[ERRNO])
    k.modules.insmod("cpu_notifier_error_inject", {})
    k.fs.write(f"{CPU}/cpu2/online", "0")
    k.fs.write(f"{INJ}/CPU_UP_PREPARE/error", "-5")
    with pytest.raises(FsError) as e:               # the notifier's errno comes back
        k.fs.write(f"{CPU}/cpu2/online", "1")
    assert e.value.errno == 5


@pytest.mark.parametrize("config, want", [((), -EINVAL), ((ERRNO,), -5)],
                         ids=["2.6.29", "errno"])
def test_cpu_failing_to_resume_stays_offline_rest_resume(kernel_factory, config, want):
    k = kernel_factory("numa2", config=config)
    Recorder(k, 0, fail={(CPU_UP_PREPARE_FROZEN, 3): k.hotplug.notifier_error(-5)})
    k.fs.write("/sys/power/state", "mem")
    assert k.fs.read(f"{CPU}/online") == "0-2,4-7\n"
    assert f"Error taking CPU3 up: {want}" in k.log.text()
    assert k.cpu_up(3) == 0                 # not frozen any more: comes up by hand


@pytest.mark.parametrize("config, want", [((), EINVAL), ((ERRNO,), EBUSY)],
                         ids=["2.6.29", "errno"])
def test_suspend_aborts_when_a_cpu_will_not_go_down(kernel_factory, config, want):
    k = kernel_factory("numa2", config=config)
    k.modules.insmod("cpu-notifier-error-inject", {})
    k.fs.write(f"{INJ}/CPU_DOWN_PREPARE_FROZEN/error", "-16")
    with pytest.raises(FsError) as e:
        k.fs.write("/sys/power/state", "mem")
    assert e.value.errno == want
    assert f"Error taking CPU1 down: -{want}" in k.log.text()
    assert k.fs.read(f"{CPU}/online") == "0-7\n"
    with pytest.raises(FsError) as e:
        k.fs.write("/sys/power/state", "disk")
    assert e.value.errno == EINVAL


def test_nested_hotplug_is_caught_not_a_hang(k):
    seen = []

    def nasty(nb, action, cpu):
        if action == CPU_DOWN_PREPARE:
            seen.append(k.cpu_up(cpu + 1))
            seen.append(k.cpu_down(cpu + 1))
        return NOTIFY_OK
    k.hotcpu_notifier(nasty, 0)
    assert k.cpu_down(4) == 0
    assert seen == [-EDEADLK, -EDEADLK]
    assert "possible recursive locking detected" in k.log.text()
    assert k.cpu_online(5) and not k.cpu_online(4)
    assert k.cpu_up(4) == 0                 # the lock was released


def test_hotplug_while_holding_get_online_cpus_is_caught(k):
    k.get_online_cpus()
    assert k.cpu_down(2) == -EDEADLK
    k.put_online_cpus()
    assert k.cpu_down(2) == 0


def test_hot_add_and_remove(k):
    with pytest.raises(FsError) as e:
        k.fs.write(f"{CPU}/probe", "12")        # not possible
    assert e.value.errno == EINVAL
    k.fs.write(f"{CPU}/probe", "8")
    assert k.fs.read(f"{CPU}/present") == "0-8\n"
    assert k.fs.read(f"{CPU}/cpu8/online") == "0\n"
    assert k.fs.read(f"{CPU}/cpu8/node") == "0\n"
    k.fs.write(f"{CPU}/cpu8/online", "1")
    with pytest.raises(FsError) as e:
        k.fs.write(f"{CPU}/release", "8")
    assert e.value.errno == EBUSY
    k.fs.write(f"{CPU}/cpu8/online", "0")
    k.fs.write(f"{CPU}/release", "8")
    assert k.fs.read(f"{CPU}/present") == "0-7\n"
    assert k.fs.lookup(f"{CPU}/cpu8") is None
    assert "CPU 8 added to node 0" in k.log.text()


def test_cpu_up_of_impossible_cpu(k):
    assert k.cpu_up(42) == -EINVAL
    assert "can't online cpu 42 because it is not configured as may-hotadd" in k.log.text()


def test_notifier_calls_are_modeled(k):
    for p in range(16):
        k.hotcpu_notifier(lambda nb, a, c: NOTIFY_OK, p)
    before = k.timing.totals()["notifier_calls"]
    k.cpu_down(2)
    k.cpu_up(2)
    # down: PREPARE, DYING, DEAD, POST_DEAD; up: UP_PREPARE, STARTING, ONLINE -> 7 x 16
    assert k.timing.totals()["notifier_calls"] - before == 112
    # DYING and STARTING run on CPU 2 itself; the rest on CPU 0, which runs the operation
    assert k.timing.cpus[0].cycles == 80 * k.spec.timing.notifier_call_cycles
    assert k.timing.cpus[2].cycles == 32 * k.spec.timing.notifier_call_cycles


def test_percpu_areas_are_node_local(k):
    class counter:
        SIZEOF = 64
        __slots__ = ("n",)
    var = k.alloc_percpu(counter)
    assert {cpu: k.slab.kobj_to_nid(k.per_cpu_ptr(var, cpu)) for cpu in (0, 3, 4, 9)} == \
        {0: 0, 3: 0, 4: 1, 9: 1}
    k.free_percpu(var)
    assert k.leaks() == {}


def test_modules(k):
    from kmodel.core.errno import EEXIST, ENOENT
    assert k.modules.insmod("no-such-module") == -ENOENT
    assert k.modules.insmod("cpu-notifier-error-inject", {"bogus": "1"}) == -EINVAL
    assert "Unknown parameter `bogus'" in k.log.text()
    assert k.modules.insmod("cpu-notifier-error-inject", {"priority": "x"}) == -EINVAL
    assert k.modules.insmod("cpu-notifier-error-inject", {"priority": "3"}) == 0
    assert k.modules.insmod("cpu_notifier_error_inject") == -EEXIST
    assert "cpu_notifier_error_inject" in k.modules.lsmod()
    assert k.modules.rmmod("cpu_notifier_error_inject") == 0
    assert k.fs.lookup("/sys/kernel/debug/notifier-error-inject/cpu") is None
    assert k.modules.rmmod("cpu_notifier_error_inject") == -ENOENT
    assert k.hotplug.cpu_chain.head is None


def test_define_per_cpu_is_node_local_and_named(k):
    from kmodel.cpu.percpu import DEFINE_PER_CPU, per_cpu_ptr

    class stats:
        SIZEOF = 128
        __slots__ = ("events",)
    var = DEFINE_PER_CPU(k, stats, "relay_stats")
    assert k.percpu_vars["relay_stats"] is var
    assert [k.slab.kobj_to_nid(per_cpu_ptr(var, c)) for c in range(10)] == [0] * 4 + [1] * 4 + [0, 1]
    assert per_cpu_ptr(var, 3) is not per_cpu_ptr(var, 4)
