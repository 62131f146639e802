"""The shell's verbs for channels with a locking layer (relay open ... layer=).

    relay write NAME [cpu=N] (data=TEXT | bytes=N) [count=N]   records, through the layer
    relay reserve NAME [cpu=N] (data=TEXT | bytes=N)           reserve one record, and hold it
    relay commit NAME [cpu=N]                                  copy and commit the one held
    relay flush NAME [cpu=N]                                   close the open packet
    relay consume NAME cpu=N [count=N]                         take, read, give back packets

Each runs in the context the command runs in (``irq 3 relay write ...`` is an
interrupt handler that traces).  Under ``kmodel explore`` the write, reserve,
commit, flush and consume verbs run step by step, so other contexts run
between their atomic operations (``steps``); elsewhere they run straight
through, in their straight forms (kmodel.core.straight).
"""
from kmodel.cli.args import arg_count, parse_kv
from kmodel.cli.errors import CommandFailed, ScriptError
from kmodel.cli.relay_args import (interrupted_text, payload_arg, running_on, write_count,
                                   writer_cpu)
from kmodel.cli.relay_state import relay_state
from kmodel.core.errno import EAGAIN, EBUSY, ENODATA, ENODEV, errno_name
from kmodel.core.straight import stepped
from kmodel.relay.layer_channel import buffer_counters
from kmodel.consumer.ctf import SHELL_WRITE, shell_payload
from kmodel.relay.ring_buffer import read_packet

STEP_VERBS = ("write", "reserve", "commit", "flush", "consume")
CAUSES = {-105: "buffer full", -5: "nested wrap-around", -28: "record too big"}


def _rb(sh, name, rbc, kv, writing=True):
    cpu = writer_cpu(sh, kv)
    if writing and not sh.k.cpu_online(cpu):
        raise CommandFailed(ENODEV, f"relay write: cpu {cpu} is offline: it cannot run a tracer")
    rb = rbc.buf_for(cpu)
    if rb is None:
        raise CommandFailed(ENODEV, f"relay: channel {name} has no buffer for cpu {cpu}")
    return cpu, rb


@stepped
def layered_steps(sh, verb, name, rbc, args):
    """The generator of one layered verb: its output text when it ends."""
    fn = {"write": _write, "reserve": _reserve, "commit": _commit, "flush": _flush,
          "consume": _consume}[verb]
    return (yield from fn(sh, name, rbc, args))


def run_layered(sh, verb, name, rbc, args):
    """Run a layered verb straight through, on the CPU it names (or the current)."""
    cpu = writer_cpu(sh, parse_kv([a for a in args if a.startswith("cpu=")], ("cpu",)))
    with running_on(sh.k, cpu if sh.k.cpu_online(cpu) else sh.k.current.cpu):
        return layered_steps.straight(sh, verb, name, rbc, args)


@stepped
def _write(sh, name, rbc, args):
    kv = parse_kv(args, ("cpu", "data", "bytes", "len", "count"))
    cpu, rb = _rb(sh, name, rbc, kv)
    data = payload_arg(kv, rbc.alloc_size, "the whole buffer")
    n = len(data)
    count = write_count(kv, n)
    data = shell_payload(rbc.header, data)      # (its length first under LTTng's header)
    dropped = {}
    done = 0
    for _ in sh.steps(count):           # Ctrl-C stops it between two records
        slot = yield from rbc.layer.write(rb, data, event_id=SHELL_WRITE)
        done += 1
        if slot < 0:
            dropped[CAUSES.get(slot, errno_name(slot))] = \
                dropped.get(CAUSES.get(slot, errno_name(slot)), 0) + 1
    out = f"cpu {cpu}: {done - sum(dropped.values())} of {done} record" \
          f"{'s' if done != 1 else ''} of {n} bytes written"
    if dropped:
        out += " (dropped: " + ", ".join(f"{v} {c}" for c, v in dropped.items()) + ")"
    return out + interrupted_text(done, count) + "\n"


@stepped
def _reserve(sh, name, rbc, args):
    kv = parse_kv(args, ("cpu", "data", "bytes", "len"))
    cpu, rb = _rb(sh, name, rbc, kv)
    if (name, cpu) in relay_state(sh).reserved:
        raise ScriptError(f"relay reserve: cpu {cpu} already holds a reservation in {name}")
    data = shell_payload(rbc.header, payload_arg(kv, rbc.alloc_size, "the whole buffer"))
    slot, tsc, token = yield from rbc.layer.reserve(rb, len(data))
    if slot < 0:
        return f"cpu {cpu}: record dropped ({CAUSES.get(slot, errno_name(slot))})\n"
    relay_state(sh).reserved[(name, cpu)] = (rb, slot, tsc, data, token)
    return f"cpu {cpu}: reserved {len(data)} bytes at offset {slot} (timestamp {tsc})\n"


@stepped
def _commit(sh, name, rbc, args):
    kv = parse_kv(args, ("cpu",))
    cpu, _ = _rb(sh, name, rbc, kv, writing=False)
    held = relay_state(sh).reserved.pop((name, cpu), None)
    if held is None:
        raise ScriptError(f"relay commit: cpu {cpu} holds no reservation in {name}")
    rb, slot, tsc, data, token = held
    yield from rbc.layer.commit(rb, slot, tsc, data, SHELL_WRITE, token)
    return f"cpu {cpu}: committed the record at offset {slot}\n"


@stepped
def _flush(sh, name, rbc, args):
    kv = parse_kv(args, ("cpu",))
    cpu, rb = _rb(sh, name, rbc, kv, writing=False)
    yield from rbc.layer.flush(rb)
    return ""


@stepped
def _consume(sh, name, rbc, args):
    kv = parse_kv(args, ("cpu", "count"), ("cpu",))
    cpu, rb = _rb(sh, name, rbc, kv, writing=False)
    count = arg_count(kv, "count", 1)
    lines = []
    for _ in sh.steps(count):
        c = yield from rbc.get_subbuf(rb)
        if c < 0:
            why = {-EAGAIN: "no sub-buffer delivered yet", -EBUSY: "one is held already",
                   -ENODATA: "finalized, nothing left"}[c]
            if not lines:
                raise CommandFailed(-c, f"relay consume: {why} ({errno_name(c)})")
            break
        h, records = read_packet(rb, c)
        lines.append(f"packet {h.packet_seq_num}: {len(records)} "
                     f"record{'' if len(records) == 1 else 's'}, {h.content_size // 8} of "
                     f"{h.packet_size // 8} bytes, time {h.timestamp_begin}..{h.timestamp_end}, "
                     f"events discarded {h.events_discarded}")
        yield from rbc.put_subbuf(rb, c)
    if sh.interrupted and len(lines) < count:
        lines.append(f"interrupted after {len(lines)} of {count}")
    return "".join(line + "\n" for line in lines)


def layered_show(sh, name, rbc, cpus):
    """Lines for relay show: each buffer's counters and sub-buffers."""
    lines = [f"  layer {rbc.layer.name}, {rbc.mode} mode, {rbc.scope} buffers"]
    for key, rb in rbc.buffers():
        if cpus is not None and key is not None and key not in cpus:
            continue
        c = dict(line.split() for line in buffer_counters(rb).splitlines())
        who = "global" if key is None else f"cpu {key}"
        lines.append(f"  {who}: offset {c['offset']}, consumed {c['consumed']}"
                     + (" (reader holds it)" if c["reader_holds"] != "0" else "")
                     + f"; lost full {c['records_lost_full']}, wrap "
                     f"{c['records_lost_wrap']}, big {c['records_lost_big']}, overrun "
                     f"{c['records_overrun']}")
        cells = [f"sb{i} cc={c[f'subbuf{i}_cc']} cc_sb={c[f'subbuf{i}_cc_sb']}"
                 for i in range(rbc.n_subbufs)]
        for i in range(0, len(cells), 3):
            lines.append("    " + "  ".join(f"{cell:<23}" for cell in cells[i:i + 3]).rstrip())
    return lines
