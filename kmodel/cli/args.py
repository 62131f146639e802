"""The shell's argument parsers: key=value lists, sizes, numbers and CPUs.

Each raises ScriptError with a message that names the argument, so every
command words a bad argument the same way.
"""
from hw.units import parse_size
from kmodel.cli.errors import ScriptError


def parse_kv(args, allowed, required=()):
    """parse_kv - ['a=1', 'b=x'] -> {'a': '1', 'b': 'x'}; ScriptError on anything else."""
    out = {}
    for a in args:
        key, eq, value = a.partition("=")
        if not eq or key not in allowed:
            raise ScriptError(f"unexpected argument {a!r} (takes {', '.join(allowed)})")
        out[key] = value
    missing = [r for r in required if r not in out]
    if missing:
        raise ScriptError(f"missing {', '.join(m + '=' for m in missing)}")
    return out


def _arg(kv, key, default, parse):
    if key not in kv:
        if default is None:
            raise ScriptError(f"missing {key}=")
        return default
    try:
        return parse(kv[key])
    except ValueError as e:
        raise ScriptError(f"{key}: {e}") from None


def arg_size(kv, key, default=None):
    """arg_size - kv[key] as a size ('16k'), or default; ScriptError if bad or missing."""
    return _arg(kv, key, default, parse_size)


def arg_int(kv, key, default=None):
    """arg_int - kv[key] as an integer (0x allowed), or default."""
    return _arg(kv, key, default, parse_int)


MAX_COUNT = 1_000_000       # the steps of one command (storm steps=, count=)


def arg_count(kv, key, default=None):
    """arg_count - kv[key], how many times a command repeats its step:
    1..MAX_COUNT (each step honours Ctrl-C: Shell.steps)."""
    n = arg_int(kv, key, default)
    if not 1 <= n <= MAX_COUNT:
        raise ScriptError(f"{key}={n}: must be 1..{MAX_COUNT}")
    return n


def parse_int(text):
    try:
        return int(text, 0)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None


def parse_cpu(word, what):
    """parse_cpu - a CPU number given to what (a command's name)."""
    try:
        return int(word)
    except ValueError:
        raise ScriptError(f"{what}: bad CPU {word!r}") from None
