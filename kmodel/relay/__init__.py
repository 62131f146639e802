"""The relay module under study: per-CPU channel buffers.

- ``ltt_relay.py``: the structures of include/linux/ltt-relay.h.
- ``backend.py``: the allocation interface every backend implements.
- ``pagelist.py``: the patch's backend, a linked list of node-local pages.
- ``vmap.py``: mainline relay's design, pages vmap()ed into one area.
- ``static.py``: one physically contiguous block (the patch's "static array").
- ``pmem.py``: a reserved region that survives a reboot (the "video memory"
  backend), in the layout of ``pmem_layout.py``, found again at boot by
  ``pmem_boot.py``.
- ``relay_alloc.py``: ltt/ltt-relay-alloc.c, the code above the backends.
- ``module.py``: the loadable module (insmod ltt_relay_alloc).
- ``packet.py``: the packet and record layouts; ``ring_buffer.py``: the
  sub-buffer layer; ``layer.py``: the locking-layer contract, and
  ``layer_locked.py``, ``layer_lockless.py``: the two layers.
- ``builtin.py``: imports (and so registers) the built-in backends and layers.

Importing the package loads nothing else, so that a reader of packets
(``packet.py``) loads the layout alone.
"""
