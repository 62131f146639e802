"""Helpers for relay tests: a booted kernel with the module and a debugfs client."""
from kmodel.relay.relay_alloc import ltt_relay_open_err, ltt_relay_open  # noqa
from kmodel.relay.relay_file import DebugfsClient  # noqa


class RelayEnv:
    def __init__(self, k):
        self.k = k
        assert k.modules.insmod("ltt_relay_alloc") == 0
        self.client = DebugfsClient(k)
        self.parent = k.fs.mkdir("/sys/kernel/debug/ltt")

    def open(self, subbuf_size=4096, n_subbufs=4, backend="pagelist", placement="local",
             name="cpu"):
        return ltt_relay_open(self.k, name, self.parent, subbuf_size, n_subbufs,
                              self.client.callbacks(), backend=backend, placement=placement)

    def open_err(self, subbuf_size, n_subbufs, **kw):
        return ltt_relay_open_err(self.k, "cpu", self.parent, subbuf_size, n_subbufs,
                                self.client.callbacks(), **kw)

    def counters(self):
        """What must come back after a close: pages, objects, vmalloc areas, mappings."""
        k = self.k
        return (k.page_alloc.nr_free_pages(), len(k.page_alloc.allocated),
                len(k.slab.live), len(k.vm.vmlist), len(k.mmu.live))
