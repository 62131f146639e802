"""One test per docs/errata.md entry.

Each test runs twice: with the port's fix (CONFIG_LTT_RELAY_ERRATA=n, the
default) it must pass; with CONFIG_LTT_RELAY_ERRATA=y the port behaves as the
2009 patch did, and the same check must fail.  So each test is shown to tell
the two apart.
"""
import pytest

from hotplug_helpers import Recorder
from kmodel.core.bug import Oops
from kmodel.core.errno import EINVAL, ENOMEM, EPERM
from kmodel.cpu.actions import CPU_UP_PREPARE
from kmodel.cpu.notifier import notifier_from_errno
from kmodel.relay.relay_alloc import (ltt_relay_close, ltt_relay_open, ltt_relay_read,
                                      ltt_relay_write)
from relay_helpers import RelayEnv


def make_env(kernel_factory, patch, errno="y"):
    """A kernel with the patch's behaviour (patch) or the port's; errno "y"
    passes a notifier's errno back (Linux 2.6.35), as E3's cause needs."""
    k = kernel_factory("numa2", config=[f"CONFIG_LTT_RELAY_ERRATA={'y' if patch else 'n'}",
                                        f"CONFIG_KMODEL_HOTPLUG_ERRNO={errno}"])
    return RelayEnv(k)


def fail_node(k, nid, times=1):
    d = "/sys/kernel/debug/fail_page_alloc/"
    for f, v in (("ignore-gfp-wait", "N"), ("min-order", "0"), ("verbose", "0"),
                 ("node", str(nid)), ("times", str(times)), ("probability", "100")):
        k.fs.write(d + f, v)


def check_open_error_path(env):
    """E1: a failed open frees every buffer, holes in the online mask or not."""
    k = env.k
    k.cpu_down(2)                                  # online: 0,1,3,4,5,6,7
    fail_node(k, 1)                                # CPU 4 (node 1) fails
    assert env.open(8192, 2) is None
    return k.leaks() == {}


def check_rchan_buf_node(env):
    """E2: each CPU's rchan_buf is on that CPU's node (its cache pointers are hot)."""
    k = env.k
    k.current.cpu = 0
    chan = env.open(4096, 4)
    for off in range(0, 4096, 64):
        ltt_relay_write(chan.buf[5], off, b"x" * 64, 64)
    t = k.timing.totals()
    return k.slab.kobj_to_nid(chan.buf[5]) == 1 and t["meta_lines_remote"] == 0


def check_up_canceled(env):
    """E3: a CPU whose bring-up is vetoed keeps no buffer, and the cause is ENOMEM."""
    k = env.k
    k.cpu_down(3)
    chan = env.open(4096, 4)
    Recorder(k, 0, fail={(CPU_UP_PREPARE, 3): notifier_from_errno(-5)})
    vetoed = k.cpu_up(3) == -5 and chan.buf[3] is None
    ltt_relay_close(chan)
    # the relay's own failure, half-way through the channels
    k.hotplug.cpu_chain.head.next = None           # drop the vetoing recorder
    k.cpu_down(6)
    a = env.open(4096, 4, name="a")
    b = env.open(4096, 4, name="b")
    fail_node(k, 1)
    # channels are walked newest first: b gets CPU 6's buffer, a fails
    err = k.cpu_up(6)
    half = a.buf[6] is None and b.buf[6] is None
    return vetoed and half and err == -ENOMEM


def check_one_page_buffer(env):
    """E4: a one-page buffer takes writes in its upper half."""
    chan = env.open(2048, 2)                       # FIX_SIZE(4096): one page
    buf = chan.buf[0]
    try:
        ltt_relay_write(buf, 3000, b"upper half", 10)
    except Oops:
        return False
    out = bytearray(10)
    ltt_relay_read(buf, 3000, out, 10)
    return out == b"upper half"


def check_default_callbacks(env):
    """E5: a client that gives no callbacks gets a channel (with no files)."""
    chan = ltt_relay_open(env.k, "quiet", None, 4096, 4, None)
    return chan is not None and chan.buf[0].dentry is None


def check_power_of_two(env):
    """E6a: sizes that are not powers of two are refused, not mis-masked."""
    chan, err = env.open_err(4096, 3)
    if chan is None:
        return err == -EINVAL and "n_subbufs 3 is not a power of two" in env.k.log.text()
    buf = chan.buf[0]
    ltt_relay_write(buf, 8192, b"A", 1)            # sub-buffer 2
    ltt_relay_write(buf, 12288, b"B", 1)           # wraps to 0... or lands on 8192
    out = bytearray(1)
    ltt_relay_read(buf, 8192, out, 1)
    return out == b"A"


def check_overflow(env):
    """E6b: a size product that overflows size_t is refused."""
    chan, err = env.open_err(1 << 32, 1 << 32)
    if chan is None:
        return err == -EINVAL and "overflows size_t" in env.k.log.text()
    try:
        ltt_relay_write(chan.buf[0], 0, b"x", 1)
    except Oops:
        return False
    return True


def check_node_memory(env):
    """E6c: a buffer bigger than a node is refused at once, before any allocation."""
    k = env.k
    before = k.page_alloc.pgalloc
    chan, err = env.open_err(32 << 20, 4)          # 128 MiB per CPU; a node has 64 MiB
    return (chan is None and err == -EINVAL and k.page_alloc.pgalloc == before
            and "exceeds the memory of node 0" in k.log.text())


CHECKS = [check_open_error_path, check_rchan_buf_node, check_up_canceled,
          check_one_page_buffer, check_default_callbacks, check_power_of_two, check_overflow,
          check_node_memory]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__[6:])
def test_port_fixes_the_patch(kernel_factory, check):
    assert check(make_env(kernel_factory, patch=False))


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__[6:])
def test_the_patch_behaviour_fails_the_same_check(kernel_factory, check):
    assert not check(make_env(kernel_factory, patch=True))


def test_patch_answers_notify_bad_which_users_see_as_eperm(kernel_factory):
    env = make_env(kernel_factory, patch=True)
    k = env.k
    k.cpu_down(6)
    env.open(4096, 4)
    fail_node(k, 1)
    assert k.cpu_up(6) == -EPERM


@pytest.mark.parametrize("patch", [False, True])
def test_on_2_6_29_every_relay_failure_reads_einval(kernel_factory, patch):
    """2.6.29 fails a PREPARE only on NOTIFY_BAD and answers -EINVAL: the port
    must answer NOTIFY_BAD there too (an encoded -ENOMEM would not stop the CPU
    coming up, without its buffer), and the user reads EINVAL either way."""
    env = make_env(kernel_factory, patch, errno="n")
    k = env.k
    k.cpu_down(6)
    chan = env.open(4096, 4)
    fail_node(k, 1)
    assert k.cpu_up(6) == -EINVAL
    assert not k.cpu_online(6) and chan.buf[6] is None
