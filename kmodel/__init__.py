"""kmodel: an emulated Linux kernel for studying per-CPU tracing buffers.

Layers, top to bottom: the CLI (kmodel.cli), the relay module (kmodel.relay),
pseudo-files (kmodel.fs), CPU hotplug (kmodel.cpu), memory management
(kmodel.mm) and the kernel core (kmodel.core), all on the hardware model in hw.
``kmodel.boot`` puts a kernel on a machine; ``kmodel.open_channel`` opens a
channel on it (docs/api.md).
"""
from kmodel.api import RelayError, boot, explore, open_channel  # noqa: F401
