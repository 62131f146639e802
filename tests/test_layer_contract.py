"""The locking-layer contract (kmodel/relay/layer.py), shown by a third layer that
lives in this file alone: defining it registers it, it passes the layers'
conformance suite on every backend, mode and scope, its reader side is the one
every reader reaches, and the shell and `trace record` offer it, with no change
to any other file."""
import pytest

from kmodel.cli.relay_state import relay_state
from kmodel.cli.main import main
from kmodel.cli.shell import Shell
from kmodel.core.irqflags import local_irq_restore, local_irq_save
from kmodel.relay.layer import LockingLayer, get_layer, layer_names, unregister_layer
from kmodel.relay.rb_config import Scope, SwitchMode
from kmodel.relay.ring_buffer import (ATOMIC_OPS, LOCAL_OPS, commit_record,
                                      lib_ring_buffer_get_subbuf, lib_ring_buffer_switch_remote,
                                      reserve_record)
from layer_suite import BACKENDS, conform, layer_kernel


# --- a layer that keeps interrupts off for a record, and counts its reader's gets -------
class IrqOffLayer(LockingLayer):
    """Interrupts off from reserve to commit: no context of this CPU can nest
    in a record, so per-CPU counters could be plain; they are local_t (or
    atomic_long_t for a global buffer, which other CPUs write).  Its reader
    side counts the gets in the layer's own slot of each buffer."""
    name = "irqoff"
    gets = 0                            # every get of every buffer, for the tests

    def counter_ops(self, scope):
        return LOCAL_OPS if scope is Scope.PER_CPU else ATOMIC_OPS

    def init_buf(self, rb):
        rb.layer_priv = {"gets": 0}

    def reserve(self, rb, payload_len, event_id=0):
        flags = local_irq_save(rb.k)
        slot, tsc = yield from reserve_record(rb, payload_len)
        if slot < 0:
            local_irq_restore(rb.k, flags)
            return slot, 0, None
        return slot, tsc, flags

    def commit(self, rb, slot, tsc, payload, event_id, flags):
        yield from commit_record(rb, slot, tsc, payload, event_id)
        local_irq_restore(rb.k, flags)

    def flush(self, rb, mode=SwitchMode.ACTIVE):
        yield from lib_ring_buffer_switch_remote(rb, mode)

    def get_subbuf(self, rb):
        rb.layer_priv["gets"] += 1
        IrqOffLayer.gets += 1
        return (yield from lib_ring_buffer_get_subbuf(rb))


@pytest.fixture(scope="module", autouse=True)
def irqoff_registered():
    yield
    unregister_layer("irqoff")


@pytest.fixture(scope="module")
def k():
    with layer_kernel() as k:
        yield k


# --- the contract -------------------------------------------------------------------
def test_defining_a_layer_registers_it():
    assert get_layer("irqoff").__class__ is IrqOffLayer
    assert layer_names()[:2] == ["locked", "lockless"] and "irqoff" in layer_names()


@pytest.mark.parametrize("scope", list(Scope))
@pytest.mark.parametrize("mode", ["discard", "overwrite"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_toy_layer_passes_the_conformance_suite(k, backend, mode, scope):
    sc = conform(k, backend, "irqoff", mode, scope)
    assert sum(rb.layer_priv["gets"] for rb in sc.rbc.bufs.values()) > 0


def test_the_shell_and_trace_record_offer_it(tmp_path, capsys):
    sh = Shell()
    try:
        line = "relay open t subbuf_size=4k n_subbufs=4 layer="
        assert sh.completions(line + "irq", "irq") == ["irqoff"]
        assert "irqoff" in sh.execute("help")
        sh.execute("insmod ltt_relay_alloc")
        sh.execute("relay open t subbuf_size=4k n_subbufs=4 layer=irqoff")
        assert "1 of 1 record" in sh.execute("relay write t cpu=2 data=hello")
        sh.execute("relay flush t cpu=2")
        assert "packet 0: 1 record" in sh.execute("relay consume t cpu=2")
        assert relay_state(sh).layers["t"].bufs[2].layer_priv["gets"] == 1     # through the channel
    finally:
        sh.close()
    before = IrqOffLayer.gets
    assert main(["trace", "record", str(tmp_path / "t"), "--layer", "irqoff", "--events",
                 "50", "--machine", "uma"]) == 0
    assert "trace in" in capsys.readouterr().out
    assert IrqOffLayer.gets > before            # its consumer read through the layer


def test_a_layer_that_misses_an_operation_is_refused_when_defined():
    with pytest.raises(TypeError, match="flush"):
        class Half(LockingLayer):           # noqa: F841
            name = "half"

            def counter_ops(self, scope):
                return LOCAL_OPS

            def reserve(self, rb, n, event_id=0):
                yield

            def commit(self, rb, slot, tsc, payload, event_id, token):
                yield
    assert "half" not in layer_names()
    with pytest.raises(ValueError, match="already registered"):
        class Again(IrqOffLayer):           # noqa: F841
            name = "locked"
