"""The shell's relay verbs: a small tracer client of the relay module.

    relay open NAME subbuf_size=16k n_subbufs=4 [backend=...] [placement=...] [files=no]
               [layer=none|LAYER] [mode=overwrite|discard] [scope=per-cpu|global]
    relay write NAME [cpu=N] (data=TEXT | bytes=N | len=N) [offset=N] [count=N]
    relay read NAME cpu=N offset=N len=N
    relay show NAME [cpu=LIST]
    relay close NAME

Buffer files go to /sys/kernel/debug/ltt/NAME/cpuN.  Writes run on the CPU
they name (a tracer writes its own CPU's buffer), so that CPU must be online;
without cpu=, on the CPU the command runs on.  Run as an interrupt (``irq 3
relay write ...``) a write stays on the interrupted CPU's buffer.
Without offset=, a write goes at the CPU's write position and, like the layer
above the relay, never straddles a sub-buffer: an event that does not fit in
what is left of one starts the next.  With offset=, it goes exactly there, so a
script can walk off the end of the buffer on purpose.
"""
from hw.ranges import format_range_list, parse_range_list
from hw.units import format_size
from kmodel.cli.draw import draw_channel
from kmodel.cli.args import arg_int, arg_size, parse_kv
from kmodel.cli.command import Command, register
from kmodel.cli.errors import CommandFailed, ScriptError
from kmodel.core.errno import ENODEV, strerror
from kmodel.cli.hexdump import hexdump
from kmodel.relay.backend import backend_names
from kmodel.relay.relay_alloc import (DEFAULT_BACKEND, PLACEMENTS, ltt_relay_close,
                                      ltt_relay_read, ltt_relay_write)
from kmodel.relay.event_header import HeaderType
from kmodel.relay.layer_channel import ring_buffer_close, ring_buffer_open
from kmodel.relay.relay_file import LTT_DEBUGFS_DIR as DEBUG_DIR, ltt_relay_open_debugfs
from kmodel.relay.layer import layer_names
from kmodel.relay.rb_config import DEFAULT_ERA, Era, Mode, Scope
from kmodel.cli.relay_args import (interrupted_text, payload_arg, running_on, write_count,
                                   writer_cpu)
from kmodel.cli.shell_layer import STEP_VERBS, layered_show, layered_steps, run_layered
from kmodel.cli.relay_state import relay_state

def relay_command(sh, args):
    if not args:
        raise ScriptError("relay open|write|read|show|close NAME ...")
    verb, rest = args[0], args[1:]
    fn = {"open": relay_open, "write": relay_write, "read": relay_read,
          "show": relay_show, "close": relay_close}.get(verb)
    if fn is None and verb not in STEP_VERBS:
        raise ScriptError(f"relay: unknown verb {verb!r} (open, write, read, show, close, "
                          "reserve, commit, flush, consume)")
    if not rest:
        raise ScriptError(f"relay {verb} NAME ...")
    rbc = _layered(sh, verb, rest[0])
    if rbc is not None:
        return run_layered(sh, verb, rest[0], rbc, rest[1:])
    return fn(sh, rest[0], rest[1:])


def _layered(sh, verb, name):
    """The layered channel a verb goes through, or None for the raw verbs."""
    if verb not in STEP_VERBS:
        return None
    _chan(sh, name)
    rbc = relay_state(sh).layers.get(name)
    if rbc is None and verb != "write":
        raise ScriptError(f"relay {verb}: channel {name} has no locking layer "
                          f"(open it with layer={' or layer='.join(layer_names())})")
    return rbc


def relay_steps(sh, args):
    """relay, step by step (for kmodel explore): the layered verbs yield at
    each atomic operation; the others run in one step."""
    if len(args) >= 2:
        rbc = _layered(sh, args[0], args[1])
        if rbc is not None:
            return (yield from layered_steps(sh, args[0], args[1], rbc, args[2:]))
    return relay_command(sh, args)           # a raw verb: one step, in run_commands



def _chan(sh, name):
    chan = relay_state(sh).channels.get(name)
    if chan is None:
        raise ScriptError(f"relay: no channel {name!r}"
                          + (f" (open: {', '.join(relay_state(sh).channels)})" if relay_state(sh).channels else ""))
    return chan


def _buf(sh, name, chan, cpu, writing):
    k = sh.k
    if not 0 <= cpu < len(chan.buf) or cpu not in k.cpu_possible_mask:
        raise ScriptError(f"relay: cpu {cpu} is not a possible CPU "
                          f"({k.cpu_possible_mask.cpulist()})")
    if writing and not k.cpu_online(cpu):
        raise CommandFailed(ENODEV, f"relay write: cpu {cpu} is offline: it cannot run a tracer")
    buf = chan.buf[cpu]
    if buf is None:
        raise CommandFailed(ENODEV, f"relay: channel {name} has no buffer for cpu {cpu}")
    return buf


HEADERS = tuple(t.value for t in HeaderType)     # relay open header=: the records' header


def relay_open(sh, name, args):
    k = sh.k
    kv = parse_kv(args, ("subbuf_size", "n_subbufs", "backend", "placement", "files",
                         "layer", "mode", "scope", "era", "header"), ("subbuf_size", "n_subbufs"))
    if kv.get("files", "yes") not in ("yes", "no"):
        raise ScriptError("relay: files=yes or files=no")
    if name in relay_state(sh).channels:
        raise ScriptError(f"relay: channel {name!r} is already open")
    if k.modules.get("ltt_relay_alloc") is None:
        raise ScriptError("relay: the relay module is not loaded (insmod ltt_relay_alloc)")
    subbuf, n = arg_size(kv, "subbuf_size"), arg_int(kv, "n_subbufs")
    backend = kv.get("backend", DEFAULT_BACKEND)
    placement = kv.get("placement", "local")
    if backend not in backend_names():
        raise ScriptError(f"relay: backend={backend!r} ({', '.join(backend_names())})")
    if placement not in PLACEMENTS:
        raise ScriptError(f"relay: placement={placement!r} ({' or '.join(PLACEMENTS)})")
    if 0 < subbuf * n < 1 << 64:            # an overflowing product is the kernel's to judge
        from kmodel.cli.setup_channel import check_host_size
        from kmodel.cli.errors import UsageError
        ncpus = len(k.cpu_possible_mask)     # hotplug may give every one a buffer
        try:
            check_host_size(subbuf * n, ncpus,
                            sum(c.alloc_size for c in relay_state(sh).channels.values()) * ncpus)
        except UsageError as e:
            raise ScriptError(f"relay open: {e}") from None
    layer = kv.get("layer", "none")
    files = kv.get("files", "yes") == "yes"
    if layer == "none":
        if "mode" in kv or "scope" in kv or "era" in kv or "header" in kv:
            raise ScriptError("relay open: mode=, scope=, era= and header= need a layer (layer=" +
                              " or layer=".join(layer_names()) + ")")
        chan, err = ltt_relay_open_debugfs(k, name, subbuf, n, backend, placement, files)
    elif layer not in layer_names():
        raise ScriptError(f"relay: layer={layer!r} (none, {', '.join(layer_names())})")
    elif kv.get("era", DEFAULT_ERA) not in tuple(Era):
        raise ScriptError(f"relay: era={kv['era']!r} ({' or '.join(Era)})")
    elif kv.get("header", "kmodel") not in HEADERS:
        raise ScriptError(f"relay: header={kv['header']!r} ({' or '.join(HEADERS)})")
    else:
        rbc, err = ring_buffer_open(k, name, subbuf, n, backend, placement, layer,
                                    kv.get("mode", "overwrite"), kv.get("scope", "per-cpu"),
                                    files, era=kv.get("era"), header=kv.get("header", "kmodel"))
        chan = rbc.chan if rbc is not None else None
        if rbc is not None:
            relay_state(sh).layers[name] = rbc
    if chan is None:
        raise CommandFailed(err, f"relay open: {strerror(err)} (see dmesg)")
    relay_state(sh).channels[name] = chan
    bufs = [c for c in k.for_each_possible_cpu() if chan.buf[c] is not None]
    return (f"{name}: {len(bufs)} buffers x {format_size(chan.alloc_size)} "
            f"({chan.alloc_size >> 12} page{'' if chan.alloc_size >> 12 == 1 else 's'}), "
            f"files in {DEBUG_DIR}/{name}/\n")


def relay_write(sh, name, args):
    chan = _chan(sh, name)
    kv = parse_kv(args, ("cpu", "data", "bytes", "len", "offset", "count"))
    cpu = writer_cpu(sh, kv)
    if "offset" in kv:
        # max(): a size that wrapped to 0 (erratum E6) still takes its oopsing write
        data = payload_arg(kv, max(chan.alloc_size, chan.subbuf_size), "the whole buffer")
    else:
        data = payload_arg(kv, chan.subbuf_size, "a sub-buffer",
                           "; give offset= to write across")
    n = len(data)
    count = write_count(kv, n)
    buf = _buf(sh, name, chan, cpu, True)
    k = sh.k
    first = None
    done = 0
    base = arg_size(kv, "offset") if "offset" in kv else None
    with running_on(k, cpu):
        for i in sh.steps(count):
            if base is not None:
                off = base + i * n
            else:
                off = relay_state(sh).cursors.get((name, cpu), 0)
                room = chan.subbuf_size - off % chan.subbuf_size
                if n > room:                    # pad to the next sub-buffer
                    off += room
                relay_state(sh).cursors[(name, cpu)] = (off + n) % chan.alloc_size
                off %= chan.alloc_size
            if first is None:
                first = off
            ltt_relay_write(buf, off, data, n)
            done += 1
    mask = chan.alloc_size - 1
    what = f"{n} byte{'' if n == 1 else 's'}"
    if done == 0:
        return f"cpu {cpu}: wrote nothing{interrupted_text(done, count)}\n"
    if count == 1:
        return f"cpu {cpu}: wrote {what} at offset {first & mask}..{(first & mask) + n - 1}\n"
    return (f"cpu {cpu}: wrote {what} x {done}, the first at {first & mask}.."
            f"{(first & mask) + n - 1}, the last at {off & mask}..{(off & mask) + n - 1}"
            f"{interrupted_text(done, count)}\n")


def relay_read(sh, name, args):
    chan = _chan(sh, name)
    kv = parse_kv(args, ("cpu", "offset", "len"), ("cpu", "offset", "len"))
    cpu = arg_int(kv, "cpu")
    off, n = arg_size(kv, "offset"), arg_size(kv, "len")
    if n <= 0 or n > 1 << 20:
        raise ScriptError("len= must be 1 .. 1m")
    buf = _buf(sh, name, chan, cpu, False)
    out = bytearray(n)
    k = sh.k
    with running_on(k, cpu if k.cpu_online(cpu) else k.current.cpu):
        ltt_relay_read(buf, off, out, n)
    dump = hexdump(out).splitlines()
    base = off & (chan.alloc_size - 1)
    lines = []
    for line in dump:
        if line == "*":
            lines.append(line)
            continue
        head, _, tail = line.partition("  ")
        lines.append(f"{int(head, 16) + base:08x}" + (f"  {tail}" if tail else ""))
    return "\n".join(lines) + "\n"


def relay_show(sh, name, args):
    chan = _chan(sh, name)
    kv = parse_kv(args, ("cpu",))
    cpus = None
    if "cpu" in kv:
        try:
            cpus = set(parse_range_list(kv["cpu"]))
        except ValueError as e:
            raise ScriptError(f"cpu: {e}") from None
    if cpus is not None:
        have = [c for c in sh.k.for_each_possible_cpu() if chan.buf[c] is not None]
        missing = sorted(set(cpus) - set(have))
        if missing:
            raise ScriptError(f"relay show: no buffer in {name} for cpu "
                              f"{format_range_list(missing)} (buffers: "
                              f"{format_range_list(have)})")
    lines = draw_channel(sh.k, name, chan, cpus)
    if name in relay_state(sh).layers:
        lines += layered_show(sh, name, relay_state(sh).layers[name], cpus)
    return "\n".join(lines) + "\n"


def relay_close(sh, name, args):
    chan = _chan(sh, name)
    if args:
        raise ScriptError("relay close NAME")
    rbc = relay_state(sh).layers.pop(name, None)
    if rbc is not None:
        ring_buffer_close(rbc, name)
    else:
        ltt_relay_close(chan)
    del relay_state(sh).channels[name]
    for key in [r for r in relay_state(sh).reserved if r[0] == name]:
        del relay_state(sh).reserved[key]
    for key in [c for c in relay_state(sh).cursors if c[0] == name]:
        del relay_state(sh).cursors[key]
    d = sh.k.fs.lookup(f"{DEBUG_DIR}/{name}")
    if d is not None and not d.children:
        sh.k.fs.remove(d)
    return ""


COMMANDS = [
    Command("relay", relay_command, (
        ("relay open NAME subbuf_size=16k n_subbufs=4 [backend=B] [placement=local|opener] "
         "[files=no]", lambda: "open a channel (backends: " + ", ".join(backend_names()) + ")"),
        ("  ... [layer=L] [mode=overwrite|discard] [scope=per-cpu|global]",
         lambda: "with a locking layer on top (layers: none, " + ", ".join(layer_names()) +
         "; docs/layers.md)"),
        ("relay write NAME [cpu=N] (data=TEXT | bytes=N) [offset=N] [count=N]",
         "write on a CPU (with a layer: records)"),
        ("relay reserve NAME [cpu=N] bytes=N | relay commit NAME [cpu=N]",
         "reserve a record and hold it; copy and commit it"),
        ("relay flush NAME [cpu=N] | relay consume NAME cpu=N [count=N]",
         "close the open packet; read delivered packets"),
        ("relay read NAME cpu=N offset=N len=N", "read bytes back, as a hexdump"),
        ("relay show NAME [cpu=LIST]", "a picture of the channel"),
        ("relay close NAME", "close it"),
    ), values={"backend": backend_names, "placement": lambda: list(PLACEMENTS),
               "files": lambda: ["yes", "no"], "layer": lambda: ["none"] + layer_names(),
               "mode": lambda: list(Mode), "scope": lambda: list(Scope)},
       steps=relay_steps),
]
register(*COMMANDS, group=30)
