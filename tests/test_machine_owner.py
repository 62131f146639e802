"""One owner per machine, and nothing of a kernel usable after it shut down:
a second live kernel on a machine is refused, and a channel used after its
kernel's shutdown raises KernelGone, never reaches freed host memory (a
segfault of the whole program)."""
import subprocess
import sys
import textwrap

import pytest

from kmodel.core.bug import KernelGone
from kmodel.cpu.sched import run_now
from kmodel.kernel import BootError, boot, make_machine
from kmodel.relay.layer_channel import ring_buffer_open
from kmodel.relay.relay_alloc import ltt_relay_close, ltt_relay_read, ltt_relay_write
from kmodel.relay.relay_file import ltt_relay_open_debugfs


def test_a_second_live_kernel_on_a_machine_is_refused():
    m = make_machine("numa2")
    try:
        k1 = boot(m)
        with pytest.raises(BootError, match="a kernel runs on this machine already"):
            boot(m)
        k1.shutdown()
        k2 = boot(m)                    # the machine is free again
        assert k2.machine.boots == 2
        k2.shutdown()
    finally:
        m.close()


def test_a_kernel_that_failed_to_boot_leaves_the_machine_free():
    m = make_machine("numa2")
    try:
        with pytest.raises(BootError):
            boot(m, cmdline="reserve_mem=nonsense")
        boot(m).shutdown()
    finally:
        m.close()


@pytest.mark.parametrize("backend", ["pagelist", "vmap", "static"])
def test_a_channel_used_after_shutdown_raises(backend):
    k = boot("numa2")
    k.modules.insmod("ltt_relay_alloc")
    chan, _ = ltt_relay_open_debugfs(k, "raw", 4096, 4, backend)
    rbc, _ = ring_buffer_open(k, "lay", 4096, 4, backend, "local", "lockless", "discard",
                              "per-cpu")
    buf, rb = chan.buf[0], rbc.buf_for(0)
    ltt_relay_write(buf, 0, b"before", 6)
    k.shutdown()
    with pytest.raises(KernelGone, match="ltt_relay_write on cpu 0's buffer: its kernel has shut down"):
        ltt_relay_write(buf, 0, b"after", 5)
    with pytest.raises(KernelGone, match="ltt_relay_read"):
        ltt_relay_read(buf, 0, bytearray(6), 6)
    with pytest.raises(KernelGone):
        run_now(k, rbc.layer.write(rb, b"an event"))
    with pytest.raises(KernelGone, match="ltt_relay_close: the kernel has shut down"):
        ltt_relay_close(chan)


def test_memory_a_program_kept_after_shutdown_never_segfaults():
    """A view of a buffer's memory kept past the kernel's shutdown (a vmap
    area, a page of the linear map): the memory stays mapped while the view
    lives, so writing through it is harmless; the host memory goes when the
    view does.  In a child process: a segfault would kill it."""
    code = textwrap.dedent("""
        from hw import libc
        from kmodel.kernel import boot
        from kmodel.relay.relay_file import ltt_relay_open_debugfs
        k = boot("numa2")
        k.modules.insmod("ltt_relay_alloc")
        v, _ = ltt_relay_open_debugfs(k, "v", 4096, 4, "vmap")
        p, _ = ltt_relay_open_debugfs(k, "p", 4096, 4, "pagelist")
        area, page = v.buf[0].view[100:200], p.buf[0].descs[1].virtual[:64]
        k.shutdown()
        area[:5] = b"still"
        page[:5] = b"there"
        print(bytes(area[:5]) + bytes(page[:5]), libc.still_viewed())
        del area, page, v, p, k
        import gc; gc.collect()
        libc.unmap_unviewed()
        print(libc.still_viewed())
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, (r.returncode, r.stderr)
    first, second = r.stdout.split("\n")[:2]
    assert first.startswith("b'stillthere'") and int(first.split()[1]) >= 2
    assert second == "0"
