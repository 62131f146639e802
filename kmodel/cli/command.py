"""A shell command, and the table of them that the shell is built from.

Each command module (shell_files, shell_modules, shell_cpu, shell_relay,
expect, stat, storm, memhog, shell_reboot) defines its commands and registers
them at import, with the place its group takes in ``help``; the shell builds
its dispatch, its help and its tab completion from ``command_table()`` alone.
A command defined anywhere (a test file) and registered is a shell command
like the others.

A command that keeps state about the kernel (the relay verbs' channels,
``stat -c``'s baseline, memhog's pages) declares it as a ``ShellState``
subclass and reaches it with ``sh.state(Cls)``: made on first use, dropped
when the kernel goes (reboot).
"""
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Command", "ShellState", "register", "unregister", "command_table"]


@dataclass(frozen=True)
class Command:
    name: str
    handler: Callable[[Any, list[str]], str | None]     # handler(sh, args) -> output text
    usage: tuple[tuple[str, str | Callable[[], str]], ...]
                                # (synopsis, what it does) pairs, one per form; what
                                # may be a callable, for text from a registry
    values: dict[str, Callable[[], list[str]]] = field(default_factory=dict)
                                # key -> callable giving completions
    steps: Callable[[Any, list[str]], Any] | None = None
                                # steps(sh, args): a generator, for kmodel explore

    def help_lines(self, width: int = 33) -> list[str]:
        out = []
        for synopsis, what in self.usage:
            what = what() if callable(what) else what     # e.g. the registered backends
            if len(synopsis) < width:
                out.append(f"{synopsis:<{width}}{what}")
            else:
                out += [synopsis, f"{'':<{width}}{what}"]
        return out


class ShellState:
    """What one command module keeps about the running kernel, on a shell.
    A subclass declares its fields (a dataclass); ``sh.state(Cls)`` makes one
    on first use, and a reboot drops it."""


_TABLE: dict[str, tuple[int, int, Command]] = {}


def register(*commands: Command, group: int) -> None:
    """register - add commands to the shell's table; help lists them by group,
    then in the order they were registered.  A name taken by another command
    is a ValueError."""
    for c in commands:
        old = _TABLE.get(c.name)
        if old is not None and old[2] is not c:
            raise ValueError(f"shell command {c.name!r} is already registered")
        _TABLE[c.name] = (group, len(_TABLE) if old is None else old[1], c)


def unregister(name: str) -> None:
    """unregister - forget a command (for tests that define their own)."""
    _TABLE.pop(name, None)


def command_table() -> dict[str, Command]:
    """command_table - {name: Command}, in the order help lists them."""
    return {c.name: c for _, _, c in sorted(_TABLE.values(), key=lambda e: e[:2])}
