"""The relay module and CPU hotplug; failure injection over ltt_relay_open."""
import pytest

from hotplug_helpers import Recorder
from kmodel.core.errno import EINVAL, ENOMEM
from kmodel.cpu.actions import CPU_UP_PREPARE
from kmodel.fs.vfs import FsError
from kmodel.kernel import boot
from kmodel.relay.relay_alloc import ltt_relay_read, ltt_relay_write
from relay_helpers import RelayEnv

CPU = "/sys/devices/system/cpu"
FPA = "/sys/kernel/debug/fail_page_alloc/"


@pytest.fixture
def env(k):
    return RelayEnv(k)


@pytest.mark.parametrize("backend", ["pagelist", "vmap", "static"])
def test_cpu_coming_up_gets_a_buffer_on_its_node(env, backend):
    k = env.k
    k.fs.write(f"{CPU}/cpu6/online", "0")
    chan = env.open(4096, 4, backend=backend)
    assert chan.buf[6] is None
    k.fs.write(f"{CPU}/probe", "9")                        # hot-add a CPU on node 1
    k.fs.write(f"{CPU}/cpu9/online", "1")
    k.fs.write(f"{CPU}/cpu6/online", "1")
    for cpu in (6, 9):
        buf = chan.buf[cpu]
        assert buf is not None
        assert {p.nid for _, p in buf.ops.pages(buf)} == {1}
        assert k.slab.kobj_to_nid(buf) == 1
    assert "cpu9" in k.fs.listdir("/sys/kernel/debug/ltt")


def test_buffer_stays_readable_after_cpu_dead_and_is_reused(env):
    k = env.k
    chan = env.open(4096, 4)
    ltt_relay_write(chan.buf[5], 123, b"last words", 10)
    buf = chan.buf[5]
    k.fs.write(f"{CPU}/cpu5/online", "0")
    assert chan.buf[5] is buf
    out = bytearray(10)
    ltt_relay_read(chan.buf[5], 123, out, 10)
    assert out == b"last words"
    assert k.fs.read("/sys/kernel/debug/ltt/cpu5")[123:133] == b"last words"
    k.fs.write(f"{CPU}/cpu5/online", "1")
    assert chan.buf[5] is buf                              # "unless it already has one"


@pytest.mark.parametrize("config, want", [((), EINVAL), (("CONFIG_KMODEL_HOTPLUG_ERRNO=y",),
                                                          ENOMEM)], ids=["2.6.29", "errno"])
def test_allocation_failure_at_up_prepare_keeps_cpu_offline_and_leaks_nothing(
        kernel_factory, config, want):
    env = RelayEnv(kernel_factory("numa2", config=config))
    k = env.k
    k.fs.write(f"{CPU}/cpu7/online", "0")
    chan_a = env.open(4096, 4, name="a")
    chan_b = env.open(4096, 4, name="b")
    before = env.counters()
    # the second channel's buffer for CPU 7 fails (its 3rd page on node 1)
    k.fs.write(FPA + "ignore-gfp-wait", "N")
    k.fs.write(FPA + "min-order", "0")
    k.fs.write(FPA + "node", "1")
    k.fs.write(FPA + "space", "6")                         # 4 pages + 2 pages pass
    k.fs.write(FPA + "probability", "100")
    with pytest.raises(FsError) as e:
        k.fs.write(f"{CPU}/cpu7/online", "1")
    assert e.value.errno == want           # 2.6.29: EINVAL; since 2.6.35, the cause
    assert not k.cpu_online(7)
    assert chan_a.buf[7] is None and chan_b.buf[7] is None
    assert env.counters() == before
    assert "relay_hotcpu_callback: cpu 7 buffer creation failed" in k.log.text()
    k.fs.write(FPA + "probability", "0")
    k.fs.write(f"{CPU}/cpu7/online", "1")
    assert chan_a.buf[7] is not None and chan_b.buf[7] is not None


def test_up_canceled_by_a_later_notifier_frees_the_new_buffers(env):
    k = env.k
    k.cpu_down(3)
    k.cpu_down(4)
    chan = env.open(4096, 4)
    k.cpu_up(4)
    k.cpu_down(4)                          # CPU 4's buffer now holds data of a dead CPU
    ltt_relay_write(chan.buf[4], 0, b"keep me", 7)
    before = env.counters()
    veto = k.hotplug.notifier_error(-5)
    Recorder(k, 0, fail={(CPU_UP_PREPARE, 3): veto, (CPU_UP_PREPARE, 4): veto})
    assert k.cpu_up(3) == -EINVAL          # 2.6.29
    assert chan.buf[3] is None and env.counters() == before
    assert k.cpu_up(4) == -EINVAL          # a buffer made earlier is not ours to free
    out = bytearray(7)
    ltt_relay_read(chan.buf[4], 0, out, 7)
    assert out == b"keep me"


def test_suspend_resume_keeps_buffers(env):
    k = env.k
    chan = env.open(4096, 4)
    bufs = list(chan.buf[:8])
    ltt_relay_write(chan.buf[2], 0, b"before sleep", 12)
    k.fs.write("/sys/power/state", "mem")
    assert list(chan.buf[:8]) == bufs
    out = bytearray(12)
    ltt_relay_read(chan.buf[2], 0, out, 12)
    assert out == b"before sleep"


def _alloc_count(k):
    return k.page_alloc.pgalloc


@pytest.mark.parametrize("backend", ["pagelist", "vmap"])
def test_failing_each_allocation_of_open_in_turn_leaks_nothing(backend):
    """Fail the 1st, 2nd, ... allocation of ltt_relay_open (pages and slab objects),
    with CPU 2 offline so that the online mask has a hole."""
    tried = 0
    for kind in ("fail_page_alloc", "failslab"):
        n = 1
        while True:
            k = boot("numa2")
            try:
                env = RelayEnv(k)
                k.cpu_down(2)
                before = env.counters()
                d = f"/sys/kernel/debug/{kind}/"
                k.fs.write(d + "ignore-gfp-wait", "N")
                if kind == "fail_page_alloc":
                    k.fs.write(d + "min-order", "0")
                k.fs.write(d + "verbose", "0")
                k.fs.write(d + "interval", str(n))
                k.fs.write(d + "probability", "100")
                chan = env.open(8192, 2, backend=backend)
                if chan is not None:
                    assert k.page_alloc.fail_page_alloc.failures + k.slab.failslab.failures == 0
                    break                                  # n is past the last allocation
                assert env.counters() == before, f"{kind} #{n} leaked"
                assert k.leaks() == {}
                tried += 1
            finally:
                k.shutdown()
            n += 1
    # 7 CPUs x (2 pages + 2 buf_page + rchan_buf ...) : many single failures tried
    assert tried > 20
