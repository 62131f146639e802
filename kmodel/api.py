"""The Python entry points a library user reaches for (docs/api.md).

``kmodel.boot`` gives a kernel to use in a with-block.  ``open_channel``
loads nothing by itself, opens a relay channel (with a locking layer on top
if asked), and raises :class:`RelayError` with the errno and the kernel's own
reason when the kernel refuses, where the kernel-style ``ltt_relay_open``
answers None and leaves the reason in dmesg.  ``explore`` searches a
scenario's interleavings (kmodel.cpu.explore) on a kernel of its own when
given none.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from kmodel.core.errno import EINVAL, errno_name

if TYPE_CHECKING:
    from kmodel.cpu.explore import ExploreResult
    from kmodel.relay.ltt_relay import Placement, rchan
    from kmodel.relay.rb_config import Mode, Scope
    from kmodel.relay.ring_buffer import rb_channel
    from kmodel.cpu.sched import World
    from kmodel.kernel import Kernel

__all__ = ["RelayError", "boot", "open_channel", "explore"]


class RelayError(OSError):
    """A refused open: ``errno`` (positive) and ``reason``, the kernel's words."""

    def __init__(self, err: int, reason: str):
        super().__init__(abs(err), reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"{errno_name(self.errno)}: {self.reason}"


def boot(machine: Any = None, config: Any = (), seed: int = 0,
         maxcpus: int | None = None) -> Kernel:
    """boot - a kernel on a machine (a preset, a machine file, or a MachineSpec)."""
    from kmodel.kernel import boot as _boot
    return _boot(machine, config, seed, maxcpus) if machine is not None else \
        _boot(config=config, seed=seed, maxcpus=maxcpus)


def open_channel(k: Kernel, name: str, subbuf_size: int, n_subbufs: int,
                 backend: str = "pagelist", placement: Placement | str = "local",
                 layer: str | None = None, mode: Mode | str = "overwrite",
                 scope: Scope | str = "per-cpu", era: str | None = None) -> rchan | rb_channel:
    """open_channel - a channel with its buffer files in /sys/kernel/debug/ltt/NAME:
    the relay channel (rchan), or with layer= the layered channel (rb_channel;
    era: its reader side, kmodel.relay.rb_config.Era, None for the default).
    Raises RelayError (errno, the kernel's reason) if the kernel refuses."""
    if k.modules.get("ltt_relay_alloc") is None:
        raise RelayError(EINVAL, "the ltt_relay_alloc module is not loaded "
                         "(k.modules.insmod('ltt_relay_alloc'))")
    seq = k.log.seq
    if layer is None:
        from kmodel.relay.relay_file import ltt_relay_open_debugfs
        chan, err = ltt_relay_open_debugfs(k, name, subbuf_size, n_subbufs, backend,
                                           placement)
    else:
        from kmodel.relay.layer_channel import ring_buffer_open
        chan, err = ring_buffer_open(k, name, subbuf_size, n_subbufs, backend, placement,
                                     layer, mode, scope, era=era)
    if chan is None:
        why = [line for line in k.log.since(seq) if line.strip()]
        raise RelayError(err, why[-1] if why else "refused")
    return chan


def explore(setup: Callable[[World], Any], check: Callable[[Any, bool], str | None] | None = None,
            *, kernel: Kernel | Callable[[], Kernel] | None = None, machine: Any = None,
            **options: Any) -> ExploreResult:
    """explore - kmodel.cpu.explore.explore, on kernel if given, else on a
    kernel booted for the search on machine (a preset name, a machine file or
    a MachineSpec; default: the default preset) and shut down after it.
    options are explore's: strategy, runs, seed, bound, depth, replay,
    max_steps, stacks, coverage (a kmodel.cpu.coverage.Coverage), stop."""
    from kmodel.cpu.explore import explore as _explore
    if kernel is not None:
        return _explore(setup, check, kernel=kernel, **options)
    from kmodel.session import Session
    sess = Session(machine) if machine is not None else Session()
    try:
        return _explore(setup, check, kernel=sess.k, **options)
    finally:
        sess.close()
