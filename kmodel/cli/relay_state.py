"""What the shell keeps about the relay channels its commands opened.

The relay verbs (shell_relay.py, shell_layer.py), ``storm`` and ``draw
--script`` share it: made on the first relay command, dropped with the kernel
at a reboot (kmodel.cli.command.ShellState).
"""
from dataclasses import dataclass, field

from kmodel.cli.command import ShellState


@dataclass
class RelayState(ShellState):
    channels: dict = field(default_factory=dict)    # name -> rchan
    layers: dict = field(default_factory=dict)      # name -> rb_channel, for layer= channels
    cursors: dict = field(default_factory=dict)     # (name, cpu) -> next raw write offset
    reserved: dict = field(default_factory=dict)    # (name, cpu) -> a reservation held


def relay_state(sh) -> RelayState:
    """relay_state - the shell's RelayState (made on first use)."""
    return sh.state(RelayState)
