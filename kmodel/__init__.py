"""kmodel: an emulated Linux kernel for studying per-CPU tracing buffers.

Layers, top to bottom: the CLI (kmodel.cli), the relay module (kmodel.relay),
pseudo-files (kmodel.fs), CPU hotplug (kmodel.cpu), memory management
(kmodel.mm) and the kernel core (kmodel.core), all on the hardware model in hw.
``kmodel.boot`` puts a kernel on a machine; ``kmodel.open_channel`` opens a
channel on it (docs/api.md).

The package itself imports nothing: the library's names come from kmodel.api
the first time one is used, so that the console script (kmodel/cli/entry.py)
takes SIGINT and SIGTERM before the emulator is loaded.
"""
__all__ = ["RelayError", "boot", "explore", "open_channel"]


def __getattr__(name):
    if name in __all__:
        from kmodel import api
        return getattr(api, name)
    raise AttributeError(f"module 'kmodel' has no attribute {name!r}")
