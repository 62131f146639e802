"""Arguments of the relay verbs that write: which CPU, and what bytes.

Shared by the raw verbs (shell_relay.py) and the layered ones (shell_layer.py).
"""
from contextlib import nullcontext

from kmodel.cli.args import arg_count, arg_int, arg_size
from kmodel.cli.errors import ScriptError
from kmodel.cli.setup_channel import HOST_LIMIT
from kmodel.cpu.context import TASK
from kmodel.perf.workloads import payload


def payload_arg(kv, limit, room, hint=""):
    """The bytes a write writes: data=TEXT, or bytes=N made up; more than
    limit (what the room named can take) is refused before anything is built."""
    if "len" in kv:
        if "bytes" in kv:
            raise ScriptError("relay write: len= and bytes= are the same; give one")
        kv["bytes"] = kv.pop("len")
    if ("data" in kv) == ("bytes" in kv):
        raise ScriptError("relay write takes data=TEXT or bytes=N")
    if "data" in kv and not kv["data"]:
        raise ScriptError("relay write: data= is empty; nothing to write")
    n = arg_size(kv, "bytes") if "bytes" in kv else len(kv["data"].encode())
    if n > limit:
        raise ScriptError(f"relay write: {n} bytes do not fit in {room} ({limit}){hint}")
    if n > HOST_LIMIT:
        raise ScriptError(f"relay write: {n} bytes: more than this emulator builds for one "
                          f"write ({HOST_LIMIT >> 20} MiB)")
    if "data" in kv:
        return kv["data"].encode()
    if n <= 0:
        raise ScriptError("bytes= must be positive")
    return payload(n)


def write_count(kv, n):
    """write_count - count=, how many writes of n bytes a command makes:
    1..MAX_COUNT, and at most HOST_LIMIT bytes in all."""
    count = arg_count(kv, "count", 1)
    if count * n > HOST_LIMIT:
        raise ScriptError(f"relay write: count={count} x {n} bytes = {count * n:,} bytes: "
                          f"at most {HOST_LIMIT >> 20} MiB a command")
    return count


def interrupted_text(done, count):
    """interrupted_text - what a command stopped by Ctrl-C adds to its report."""
    return f" (interrupted after {done} of {count})" if done < count else ""


def writer_cpu(sh, kv):
    """The CPU a write runs on: cpu=, else the CPU the command runs on.  An
    interrupt handler writes the buffer of the CPU it interrupted."""
    k = sh.k
    cur = k.current
    if "cpu" not in kv:
        return cur.cpu
    cpu = arg_int(kv, "cpu")
    if cur.kind is not TASK and cpu != cur.cpu:
        raise ScriptError(f"relay write: a {cur.kind} on CPU {cur.cpu} writes CPU "
                          f"{cur.cpu}'s buffer, not cpu={cpu}")
    return cpu


def running_on(k, cpu):
    """on_cpu(cpu), or stay put inside an interrupt (which cannot move)."""
    if k.current.kind is not TASK:
        return nullcontext(k.current)
    return k.on_cpu(cpu)
