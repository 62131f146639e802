"""A shell command, as the command table holds it.

Each command module (shell_files, shell_modules, shell_cpu, shell_relay,
expect, stat, storm, memhog) exports ``COMMANDS``, a list of these; the shell
builds its dispatch, its help and its tab completion from them alone.
"""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Command:
    name: str
    handler: object             # handler(sh, args) -> output text
    usage: tuple                # (synopsis, what it does) pairs, one per form; what
                                # may be a callable, for text from a registry
    values: dict = field(default_factory=dict)   # key -> callable giving completions
    steps: object = None        # steps(sh, args): a generator, for kmodel explore

    def help_lines(self, width=33):
        out = []
        for synopsis, what in self.usage:
            what = what() if callable(what) else what     # e.g. the registered backends
            if len(synopsis) < width:
                out.append(f"{synopsis:<{width}}{what}")
            else:
                out += [synopsis, f"{'':<{width}}{what}"]
        return out
