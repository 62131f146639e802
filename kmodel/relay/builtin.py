"""The built-in backends and locking layers: importing this registers them.

Defining a backend (backend.py) or a layer (layer.py) registers it; this
module imports the ones kmodel ships, in the order the CLI lists them: the
patch's page list, mainline's vmap, the static array, pmem; then the locked
and lockless layers.  The kernel imports it with the modules it installs.
"""
from kmodel.relay import pagelist  # noqa: F401,I001
from kmodel.relay import vmap  # noqa: F401
from kmodel.relay import static  # noqa: F401
from kmodel.relay import pmem  # noqa: F401
from kmodel.relay import layer_locked  # noqa: F401
from kmodel.relay import layer_lockless  # noqa: F401
