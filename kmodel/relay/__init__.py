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

Importing the package defines, and so registers, the built-in backends.
"""
# in the order the CLI lists them: the patch's, mainline's, the static array, pmem
from kmodel.relay import pagelist  # noqa: F401,I001
from kmodel.relay import vmap  # noqa: F401
from kmodel.relay import static  # noqa: F401
from kmodel.relay import pmem  # noqa: F401
# and the locking layers above them
from kmodel.relay import layer_locked  # noqa: F401
from kmodel.relay import layer_lockless  # noqa: F401
