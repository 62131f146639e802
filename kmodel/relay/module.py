"""The ltt_relay_alloc module: init registers the hotplug callback at priority 5.

It keeps the patch's statics: ``relay_channels`` (the open channels, for
hotplug) and what this port adds, the live buffers (for folding their modeled
costs), the number of open buffer files, and a slot for each backend that
keeps something across channels (``backend_priv``, filled by the backends'
module_init hooks: the module names no backend).  rmmod is refused (-EBUSY)
while a channel is open or a buffer file is held.
"""
from kmodel.core.list import list_for_each, list_head
from kmodel.core.module import KernelModule
from kmodel.cpu.notifier import notifier_block
from kmodel.relay.accounting import fold_buf, working_sets
from kmodel.relay.backend import backends
from kmodel.relay.relay_alloc import relay_kernel_gone
from kmodel.relay.relay_hotplug import relay_hotcpu_callback


class LttRelayModule(KernelModule):
    NAME = "ltt_relay_alloc"
    CONFIG = "CONFIG_LTT_RELAY"
    PARAMS = {}
    DESCRIPTION = "LTTng relay buffer allocation, read, write"

    def init(self):
        """relay_init - hotcpu_notifier(relay_hotcpu_callback, 5)."""
        self.relay_channels = list_head(None)
        self.bufs = {}                  # id -> every live rchan_buf, for the fold
        self.fresh = {}                 # cpu -> channels that its UP_PREPARE gave a buffer
        self.open_files = 0
        self.backend_priv = {}          # backend name -> what it keeps (its module_init)
        self.nb = notifier_block(lambda nb, action, cpu: relay_hotcpu_callback(self, nb,
                                                                               action, cpu),
                                 5, name="relay_hotcpu_callback")
        self.k.hotplug.register_cpu_notifier(self.nb)
        self.k.timing.flushers.append(self.flush)
        self.k.timing.clock.settlers.append(self.settle)
        self.k.at_shutdown.append(self.kernel_gone)
        for b in backends():            # pmem: the previous boot's trace, if any
            b.module_init(self)
        return 0

    def exit(self):
        for b in reversed(backends()):
            b.module_exit(self)
        self.flush()
        self.k.hotplug.unregister_cpu_notifier(self.nb)
        self.k.timing.flushers.remove(self.flush)
        self.k.timing.clock.settlers.remove(self.settle)
        self.k.at_shutdown.remove(self.kernel_gone)

    def kernel_gone(self):
        """The kernel shuts down: its buffers' memory goes with it."""
        relay_kernel_gone(self)

    def refcount(self):
        """Users: the open channels and the open buffer files."""
        return sum(1 for _ in list_for_each(self.relay_channels)) + self.open_files

    def flush(self):
        """Fold every live buffer's pending counts into the timing model."""
        tm = self.k.timing
        ws = working_sets(self.bufs.values())
        for buf in self.bufs.values():
            fold_buf(tm, buf, ws.get(buf.cost))

    def settle(self, cpu):
        """Fold the pending counts of the buffers cpu writes (its clock's
        deferred cycles: hw.clock.Clock.settle), in the working set of cpu's
        buffers."""
        tm = self.k.timing
        c = tm.cpus[cpu]
        mine = [b for b in self.bufs.values() if b.cost is c]
        ws = sum(b.alloc_size for b in mine)
        for buf in mine:
            fold_buf(tm, buf, ws)
