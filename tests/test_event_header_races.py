"""LTTng's compact header under interleavings: the layers' race scenario
(kmodel/scenarios/layer_races.py: writers in a task and in interrupts that
nest on it, a reader, the invariants after every step) on a channel whose
records carry the compact header, some of them extended by their id and some
by a clock jump past 27 bits, explored under random and PCT schedules.  At
the end every record read decodes to the very tsc its reservation got."""
import pytest

from kmodel.consumer.ctf import EventClass, _packets
from kmodel.cpu.explore import explore
from kmodel.relay.event_header import FULL_TSC, header_of
from kmodel.relay.packet import unpack_packet_header
from kmodel.relay.relay_alloc import ltt_relay_read
from kmodel.relay.ring_buffer import subbuf_read_offset
from kmodel.scenarios.layer_races import PAYLOAD, LayerScenario, payload
from layer_suite import layer_kernel

JUMP = 1 << 27                  # past what a compact header's timestamp holds
ID_BASE = 29                    # writers 0 and 1 compact by id, 2 and 3 extended


class CompactScenario(LayerScenario):
    def setup(self, world):
        self.tscs = {}
        sc = super().setup(world)
        self.rbc.header = header_of("compact")
        self.classes = {ID_BASE + w: EventClass(ID_BASE + w, f"w{w}", (("data", f"{size}s"),))
                        for w, (_, _, _, size) in enumerate(self.writers)}
        return sc

    def _writer(self, rb, w, n, size):
        layer, k = self.rbc.layer, self.k

        def writer():
            for i in range(n):
                if i % 2:               # the trace clock jumps: the CPU works that long
                    k.timing.clock.spend(k.current.cpu, JUMP)
                data = payload(w, i, size)
                self.written[(w, i)] = data
                slot, tsc, token = yield from layer.reserve(rb, size, ID_BASE + w)
                if slot >= 0:
                    self.tscs[(w, i)] = tsc & ~FULL_TSC
                    yield from layer.commit(rb, slot, tsc, data, ID_BASE + w, token)
        return writer

    def read_packet(self, rb, c):
        S = rb.rbc.subbuf_size
        raw = bytearray(S)
        ltt_relay_read(rb.rbuf, subbuf_read_offset(rb, c), raw, S)     # the reader's copy
        (p,) = _packets(bytes(raw), "t", self.classes, rb.rbc.header)
        return unpack_packet_header(raw), [(ts, int(name[1:]) + ID_BASE, v["data"])
                                           for ts, name, v in p.events]

    def check(self, state, final):
        msg = super().check(state, final)
        if msg or not final:
            return msg
        for packets in self.read.values():
            for _, records in packets:
                for ts, _, data in records:
                    key = PAYLOAD.unpack_from(data)
                    if ts != self.tscs[key]:
                        return f"record {key} decodes to {ts}, reserved at {self.tscs[key]}"
        return None


@pytest.mark.parametrize("layer", ["lockless", "locked"])
@pytest.mark.parametrize("mode", ["discard", "overwrite"])
def test_compact_headers_decode_under_every_explored_interleaving(layer, mode):
    with layer_kernel() as k:
        sc = CompactScenario("pagelist", layer, mode)
        for strategy in ("random", "pct"):
            res = explore(sc.setup, sc.check, strategy=strategy, runs=12, seed=1, kernel=k)
            assert res.ok, (res.failure.message, res.failure.token)
        extended = sum(1 for (w, i) in sc.tscs if w >= 2 or i % 2)
        assert extended and len(sc.tscs) > extended
        sc.close()
