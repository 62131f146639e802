"""The backend contract (kmodel/relay/backend.py), shown by a fourth backend that
lives in this file alone: defining it registers it, it passes the conformance
suite, and the shell offers it, with no change to any other file."""
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings

import backend_suite
from hw import PAGE_SHIFT, PAGE_SIZE
from kmodel.cli.shell import Shell
from kmodel.core.errno import ENOMEM
from kmodel.mm.gfp import GFP_KERNEL, __GFP_ZERO
from kmodel.relay.backend import (Description, RelayBackend, backend_names, get_backend,
                                  unregister_backend)
from kmodel.relay.ltt_relay import ONE_ACCESS, buf_page
from relay_helpers import RelayEnv


# --- a page array: LTTng's later design, in a few lines ---------------------------
def toy_alloc(k, buf, nid):
    descs = []
    for i in range(buf.alloc_size >> PAGE_SHIFT):
        page = k.alloc_pages_node(nid, GFP_KERNEL | __GFP_ZERO, 0)
        if page is None:
            for d in descs:
                k.__free_page(d.page)
            return -ENOMEM
        d = buf_page()
        d.page, d.offset, d.virtual = page, i * PAGE_SIZE, page.virtual[:PAGE_SIZE]
        d.nid, d.paddr, d.meta_nid = page.nid, page.pfn << PAGE_SHIFT, buf.nid
        descs.append(d)
    buf.descs = descs
    buf.page_count = len(descs)
    buf.priv = "an array of page pointers"
    return 0


def toy_free(k, buf):
    for d in buf.descs:
        k.__free_page(d.page)
    buf.descs, buf.priv = [], None


def toy_copy(buf, offset, mem, length, write):
    offset &= buf.alloc_mask
    done = 0
    mem = memoryview(mem).cast("B") if length else mem
    while done < length:
        d = buf.descs[offset >> PAGE_SHIFT]      # an index, not a walk
        poff = offset & (PAGE_SIZE - 1)
        n = min(length - done, PAGE_SIZE - poff)
        if write:
            d.virtual[poff:poff + n] = mem[done:done + n]
        else:
            mem[done:done + n] = d.virtual[poff:poff + n]
        d.acct += n + ONE_ACCESS
        done += n
        offset = (offset + n) & buf.alloc_mask
    return length


class ToyBackend(RelayBackend):
    name = "toy"
    write = staticmethod(lambda buf, off, src, n: toy_copy(buf, off, src, n, True))
    read = staticmethod(lambda buf, off, dest, n: toy_copy(buf, off, dest, n, False))

    @staticmethod
    def read_get_page(buf, offset):
        d = buf.descs[(offset & buf.alloc_mask) >> PAGE_SHIFT]
        d.acct += ONE_ACCESS
        return d

    @staticmethod
    def offset_address(buf, offset):
        offset &= buf.alloc_mask
        return ToyBackend.read_get_page(buf, offset).virtual[offset & (PAGE_SIZE - 1):]

    @staticmethod
    def tlb_size(tm):
        return tm.linear_size

    def alloc_buf(self, k, buf, nid):
        return toy_alloc(k, buf, nid)

    def free_buf(self, k, buf):
        toy_free(k, buf)

    def describe(self, buf):
        return Description("page array", [f"{len(buf.descs)} page pointers in an array"])


@pytest.fixture(scope="module", autouse=True)
def toy_registered():
    yield
    unregister_backend("toy")


# --- the contract -------------------------------------------------------------------
def test_defining_a_backend_registers_it():
    assert get_backend("toy").__class__ is ToyBackend
    assert backend_names()[:3] == ["pagelist", "vmap", "static"] and "toy" in backend_names()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=backend_suite.OPS)
def test_toy_round_trips(kernel_factory, script):
    backend_suite.round_trips(kernel_factory("numa2"), ["toy", "pagelist"], script)


@pytest.mark.parametrize("check", backend_suite.CHECKS, ids=lambda c: c.__name__)
def test_toy_conformance(k, check):
    check(RelayEnv(k), "toy")


def test_the_shell_offers_and_draws_it():
    sh = Shell()
    try:
        line = "relay open t subbuf_size=4k n_subbufs=4 backend="
        assert "toy" in sh.completions(line, "")
        assert sh.completions(line + "to", "to") == ["toy"]
        assert "toy" in sh.execute("help")
        sh.execute("insmod ltt_relay_alloc")
        sh.execute("relay open t subbuf_size=4k n_subbufs=4 backend=toy")
        sh.execute("relay write t cpu=2 data=hello")
        assert "68 65 6c 6c 6f" in sh.execute("relay read t cpu=2 offset=0 len=5")
        show = sh.execute("relay show t cpu=2")
        assert "toy" in show and "4 page pointers in an array" in show
    finally:
        sh.close()


def test_a_backend_that_misses_an_operation_is_refused_when_defined():
    with pytest.raises(TypeError, match="describe"):
        class Half(RelayBackend):           # noqa: F841
            name = "half"
            write = read = read_get_page = offset_address = staticmethod(lambda *a: 0)
            tlb_size = staticmethod(lambda tm: 0)

            def alloc_buf(self, k, buf, nid):
                return 0

            def free_buf(self, k, buf):
                pass
    assert "half" not in backend_names()
    with pytest.raises(ValueError, match="already registered"):
        class Again(ToyBackend):            # noqa: F841
            name = "vmap"


def test_the_builtin_module_registers_every_shipped_backend_and_layer():
    """kmodel.relay.builtin is what registers them (the kernel imports it); the
    relay package itself loads nothing, so that a reader of packets can import
    kmodel.relay.packet alone."""
    code = ("import sys, kmodel.relay.packet\n"
            "print('pagelist' in ' '.join(sys.modules))\n"
            "import kmodel.relay.builtin\n"
            "from kmodel.relay.backend import backend_names\n"
            "from kmodel.relay.layer import layer_names\n"
            "print(' '.join(backend_names()), '|', ' '.join(layer_names()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.splitlines() == ["False", "pagelist vmap static pmem | locked lockless"]
