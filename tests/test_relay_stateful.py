"""The relay under random hotplug, allocation failures and traffic (hypothesis).

A simple model keeps, for each open channel and CPU, the bytes written to
that CPU's buffer.  After every step: every online CPU has a buffer in every
open channel, every buffer reads back exactly what the model holds (data
survives CPU_DEAD and suspend), and once every channel is closed nothing
allocated since boot is left.
"""
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kmodel.kernel import boot
from kmodel.relay.relay_alloc import ltt_relay_close, ltt_relay_open, ltt_relay_read, ltt_relay_write
from kmodel.relay.relay_file import DebugfsClient

SIZE = 4 * 4096
FPA = "/sys/kernel/debug/fail_page_alloc/"


class RelayMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.k = boot("numa2", seed=3)
        assert self.k.modules.insmod("ltt_relay_alloc") == 0
        for f, v in (("ignore-gfp-wait", "N"), ("min-order", "0"), ("verbose", "0"),
                     ("times", "-1")):
            self.k.fs.write(FPA + f, v)
        self.chans = {}                 # name -> (chan, {cpu: bytearray model})
        self.n = 0

    def teardown(self):
        self.k.shutdown()

    def _faults(self, pct):
        self.k.fs.write(FPA + "probability", str(pct))

    @rule(backend=st.sampled_from(["pagelist", "vmap"]), fail=st.sampled_from([0, 0, 30]))
    def open(self, backend, fail):
        if len(self.chans) >= 3:
            return
        self._faults(fail)
        self.n += 1
        chan = ltt_relay_open(self.k, f"c{self.n}", None, 8192, 2,
                              DebugfsClient(self.k).callbacks(), backend=backend)
        self._faults(0)
        if chan is not None:
            self.chans[f"c{self.n}"] = (chan, {c: bytearray(SIZE) for c in self.k.cpu_online_mask})

    @precondition(lambda self: self.chans)
    @rule(data=st.data())
    def close(self, data):
        name = data.draw(st.sampled_from(sorted(self.chans)))
        chan, _ = self.chans.pop(name)
        ltt_relay_close(chan)

    @precondition(lambda self: self.chans)
    @rule(data=st.data(), offset=st.integers(0, SIZE - 1), length=st.integers(1, 6000),
          fill=st.integers(0, 255))
    def write(self, data, offset, length, fill):
        name = data.draw(st.sampled_from(sorted(self.chans)))
        chan, model = self.chans[name]
        cpu = data.draw(st.sampled_from(sorted(self.k.cpu_online_mask)))
        length = min(length, SIZE - offset)
        payload = bytes((fill + i) % 256 for i in range(length))
        assert ltt_relay_write(chan.buf[cpu], offset, payload, length) == length
        model.setdefault(cpu, bytearray(SIZE))[offset:offset + length] = payload

    @rule(cpu=st.integers(1, 9), fail=st.sampled_from([0, 0, 50, 100]))
    def toggle(self, cpu, fail):
        k = self.k
        self._faults(fail)
        if cpu not in k.cpu_present_mask:
            k.hotplug.arch_register_cpu(cpu)
        elif k.cpu_online(cpu):
            k.cpu_down(cpu)
        else:
            k.cpu_up(cpu)
        self._faults(0)

    @rule()
    def suspend(self):
        k = self.k
        k.hotplug.disable_nonboot_cpus()
        k.hotplug.enable_nonboot_cpus()

    @invariant()
    def online_cpus_have_buffers_with_their_data(self):
        k = self.k
        for name, (chan, model) in self.chans.items():
            for cpu in k.cpu_online_mask:
                assert chan.buf[cpu] is not None, (name, cpu)
                model.setdefault(cpu, bytearray(SIZE))
            for cpu, want in model.items():
                if chan.buf[cpu] is None:
                    assert not any(want)        # only a CPU never written may lack one
                    continue
                got = bytearray(SIZE)
                for off in range(0, SIZE, 4096):
                    ltt_relay_read(chan.buf[cpu], off, memoryview(got)[off:off + 4096], 4096)
                assert got == want, (name, cpu)

    @invariant()
    def nothing_left_when_all_closed(self):
        if not self.chans:
            assert self.k.leaks() == {}


TestRelayStateful = RelayMachine.TestCase
TestRelayStateful.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
