"""kmodel explain record SIZE: one record through a locking layer, step by step.

The record is written by the layer's own code (``layer.write``, the generator
the explorer interleaves), run as the task of its CPU and stepped one
operation at a time, with nothing else running: the normal path.  Each step
is one yield, the operation it announced (a READ_ONCE, a local_cmpxchg, a
copy...), what it returned (the note the atomics leave on the context), and
its modeled cost.  The narrative is read off the operation and the counter it
names; nothing here decides what the layer does.
"""
import re
import textwrap
from dataclasses import dataclass

from kmodel.cli.errors import UsageError
from kmodel.core.step import BLOCKING
from kmodel.relay.packet import HDR, REC, record_size

# counters named as the layer names them: offset, consumed, commit_hot[i].cc,
# commit_hot[i].seq, commit_cold[i].cc_sb, records_lost_*, a lock
COUNTER = re.compile(r"(commit_hot|commit_cold)\[(\d+)\]\.(cc_sb|cc|seq)")
ADDS = ("local_add", "atomic_long_add")
CMPXCHGS = ("local_cmpxchg", "cmpxchg")
MAX_BEFORE = 4096               # records written first, at most
MAX_BEFORE_BYTES = 64 << 20     # and their payloads, in all


@dataclass
class Step:
    op: str                 # what the context announced: READ_ONCE, local_cmpxchg, copy...
    name: str               # the object it works on
    note: object            # what the operation returned (None for a copy, a lock)
    cycles: int             # its modeled cost
    offset: int             # the buffer's write offset after it


def step_record(k, rbc, rb, payload):
    """step_record - write one record through the channel's layer on rb's
    CPU, one step at a time; (its Steps, the slot or -errno it returned)."""
    ctx = k.current
    gen = rbc.layer.write(rb, payload, 1)
    steps = []
    before = k.timing.totals()["cycles"]        # what runs before the first yield
    pending = next(gen)                         # counts in the first step
    while pending is not None:
        kind, obj = pending
        op = kind.label             # the primitive's name, as a trace prints it
        if kind in BLOCKING or ctx.blocked_on is not None:
            raise UsageError(f"the record's {op} waits for another context: not the normal "
                             "path this command shows")
        ctx.note = None
        try:
            pending = gen.send(None)
            ret = None
        except StopIteration as e:
            pending, ret = None, e.value
        now = k.timing.totals()["cycles"]
        steps.append(Step(op, getattr(obj, "name", type(obj).__name__), ctx.note,
                          now - before, rb.offset.counter))
        before = now
    return steps, ret


class Narrator:
    """What each step means, for a record of rsize bytes reserved at o_begin."""

    def __init__(self, rbc, rsize, offset0, mode):
        self.S, self.A = rbc.subbuf_size, rbc.alloc_size
        self.rsize = rsize
        self.mode = mode
        self.offset_reads = 0
        self.copied = False
        self.o_begin = offset0
        self.begin = offset0            # where the sub-buffer it enters starts
        self.reserved = None            # the new offset, once the reservation is made

    def sb(self, pos):
        return (pos // self.S) % (self.A // self.S)

    def fits(self, o):
        off = o % self.S
        left = self.S - off
        self.begin = o + left if off and off + self.rsize > self.S else o
        if off == 0:
            return (f"sub-buffer {self.sb(o)} starts here: its packet header "
                    f"({HDR} bytes) goes first")
        if off + self.rsize > self.S:
            return (f"{left} bytes left in sub-buffer {self.sb(o)}: the record ({self.rsize}) "
                    f"closes it with {left} bytes of padding and starts sub-buffer "
                    f"{self.sb(o + left)}")
        return f"sub-buffer {self.sb(o)} +{off}: {left} bytes left, the record fits"

    def say(self, s, nxt=None):
        """What step s means; nxt is the step after it (or None)."""
        if (s.op == "READ_ONCE" and nxt is not None and nxt.op == "WRITE_ONCE"
                and nxt.name == s.name):
            return f"load {s.name}, to store it back changed (the lock makes the pair atomic)"
        m = COUNTER.fullmatch(s.name)
        field = m.group(3) if m else None
        idx = int(m.group(2)) if m else None
        if s.name == "offset":
            return self._offset(s)
        if s.name == "consumed":
            return self._consumed(s)
        if s.op == "copy":
            self.copied = True
            return (f"copy the record into its slot with ltt_relay_write: a {REC}-byte "
                    "header (time, size, id), then the payload")
        if field == "cc":
            return self._cc(s, idx)
        if field == "seq":
            return "seq := cc, so that a reader of a crashed kernel sees what is committed"
        if field == "cc_sb":
            return self._cc_sb(s, idx)
        if s.name.startswith("records_"):
            return f"the record is dropped, and counted in {s.name}"
        if s.op == "spin_lock":
            return "interrupts off (local_irq_save), then the buffer's lock: no writer comes in"
        if s.op == "spin_unlock":
            return "unlock, and interrupts back on (local_irq_restore)"
        return ""

    def _offset(self, s):
        if s.op in CMPXCHGS or s.op == "WRITE_ONCE":
            new = s.offset
            self.reserved = new
            how = (f"if it is still {self.o_begin} (it is: nobody came between)"
                   if s.op in CMPXCHGS else "a plain store: the lock keeps everyone out")
            return f"reserve: offset {self.o_begin} -> {new}, {how}"
        self.offset_reads += 1
        if self.reserved is not None:
            return "the offset, read again"
        if self.offset_reads == 1 or s.note != self.o_begin:
            self.o_begin = s.note
            return f"where the record goes: {self.fits(s.note)}"
        return ("unchanged: no nested writer moved it since the first read "
                "(else start over, lttng-modules 0fdec686)")

    def _consumed(self, s):
        if s.op in CMPXCHGS:
            return ("overwrite: push the reader past the oldest sub-buffer; its records "
                    "are lost (records_overrun)")
        free = "is free" if (self.begin - (s.note & ~(self.S - 1))) < self.A else \
            "holds data the reader has not taken"
        full = ("in discard mode a full buffer drops the record: records_lost_full"
                if self.mode == "discard" else "in overwrite mode the writer would push the "
                "reader on")
        return f"the reader is at {s.note}: the sub-buffer entered {free} ({full})"

    def _cc(self, s, idx):
        v = s.note % self.S
        if not self.copied and v == 0:
            return f"commit the padding that closes sub-buffer {idx}: cc = {s.note}, a full lap"
        if not self.copied and v == HDR:
            return f"commit sub-buffer {idx}'s packet header ({HDR} bytes): cc = {s.note}"
        full = ", a full lap: deliver" if v == 0 else ""
        return f"commit the record: cc of sub-buffer {idx} = {s.note}{full}"

    def _cc_sb(self, s, idx):
        if s.op == "READ_ONCE" and self.reserved is None:
            ok = "yes" if s.note % self.S == 0 else "no: a writer from a lap ago is in it"
            return (f"the sub-buffer entered: was its last lap delivered (cc_sb a multiple "
                    f"of {self.S})? {ok}")
        if s.op in CMPXCHGS or (s.op == "WRITE_ONCE" and s.note % self.S == 1):
            return (f"sub-buffer {idx} is complete: take its delivery, cc_sb -> "
                    f"{s.note + 1 if s.op in CMPXCHGS else s.note} (one committer wins), "
                    "and write the packet's end fields")
        return f"delivered: cc_sb = {s.note}, and the reader may take sub-buffer {idx}"


def _row(n, s, text):
    """One step: the operation and what it returned, its cycles; then what it
    means, wrapped at 77 columns."""
    what = f"{s.op}({s.name})" if s.op != "copy" else "copy"
    if s.note is not None:
        what += f" = {s.note}"
    head = f"{n:2d}. {what}"
    out = f"{head:<58}{s.cycles:>12,} cycles\n"
    if text:
        out += textwrap.fill(text, 77, initial_indent="    ", subsequent_indent="    ") + "\n"
    return out


def counters_line(rb):
    cc = " ".join(str(c.cc.counter) for c in rb.commit_hot)
    cc_sb = " ".join(str(c.counter) for c in rb.commit_cold)
    return (f"offset {rb.offset.counter}, consumed {rb.consumed.counter}; "
            f"cc: {cc}; cc_sb: {cc_sb}")


def explain_record(k, rbc, rb, size, mode, out):
    """explain_record - write a record of size bytes on rb, step by step, to out."""
    before = k.timing.totals()
    o0 = rb.offset.counter
    out.write(f"before: {counters_line(rb)}\n")
    rsize = record_size(size)
    out.write(f"record: {REC}-byte header + {size} bytes, packed: {rsize} bytes\n\n")
    steps, ret = step_record(k, rbc, rb, bytes(size))
    narrator = Narrator(rbc, rsize, o0, mode)
    for n, s in enumerate(steps, 1):
        out.write(_row(n, s, narrator.say(s, steps[n] if n < len(steps) else None)))
    after = k.timing.totals()
    where = f"slot {ret}" if ret >= 0 else f"dropped ({ret})"
    out.write(f"\nafter: {counters_line(rb)}\n")
    d = {key: after[key] - before[key] for key in ("cycles", "atomics", "irq_flag_ops")}
    out.write(f"the record: {where}; {len(steps)} steps, {d['cycles']:,} cycles, "
              f"{d['atomics']} atomics, {d['irq_flag_ops']} irq flag operations\n"
              "(a step's cycles are what the model charges while it runs: its atomic, and\n"
              "the bytes it writes: a packet header or end fields, the copy, a TLB miss)\n")


def add_record_options(p):
    """The options of ``kmodel explain record``."""
    from kmodel.cli.bounds import IntIn, SizeIn
    from kmodel.relay.layer import layer_names
    from kmodel.cli.bounds import CPU
    from kmodel.relay.rb_config import DEFAULT_ERA, Era, Mode, Scope
    p.add_argument("size", type=SizeIn(1, 1 << 20), help="the record's payload, in bytes")
    p.add_argument("--layer", choices=layer_names(), default="lockless")
    p.add_argument("--mode", choices=[str(m) for m in Mode], default="discard")
    p.add_argument("--era", choices=[str(e) for e in Era], default=str(DEFAULT_ERA),
                   help="whose ring buffer: 2.x (default) or 2009, the seed's time "
                        "(docs/layers.md, Eras)")
    p.add_argument("--scope", choices=[str(s) for s in Scope], default="per-cpu",
                   help="a buffer per CPU, or one global buffer every CPU writes")
    p.add_argument("--records-before", type=IntIn(0, MAX_BEFORE), default=0, metavar="N",
                   help="records written first (they move the offset)")
    p.add_argument("--before-size", type=SizeIn(1, 1 << 20), metavar="SIZE",
                   help="the payload of each of them (default: SIZE)")
    p.add_argument("--before-cpu", type=CPU, metavar="CPU",
                   help="the CPU that writes them (--scope global only; default --cpu)")


def open_layered(args):
    """open_layered - boot, open one layered channel, write the records asked
    for first; (k, rbc, the CPU's buffer)."""
    from kmodel.api import RelayError, open_channel
    from kmodel.cli.setup_channel import channel_defaults, check_host_size
    from kmodel.cpu.sched import run_now
    from kmodel.kernel import boot
    channel_defaults(args)
    args.before_size = args.before_size or args.size
    if args.before_cpu is not None and args.scope != "global":
        raise UsageError("--before-cpu: only a global buffer is written by another CPU "
                         "(a per-CPU buffer's local_t counters are its own CPU's)")
    if args.records_before * args.before_size > MAX_BEFORE_BYTES:
        raise UsageError(f"--records-before {args.records_before} x --before-size "
                         f"{args.before_size}: more than {MAX_BEFORE_BYTES >> 20} MiB of "
                         "records written first")
    from hw.topology import load_preset
    check_host_size(args.subbuf_size * args.n_subbufs, len(load_preset(args.machine).present_cpus))
    k = boot(args.machine, config=args.config or ())
    try:
        k.modules.insmod("ltt_relay_alloc")
        try:
            rbc = open_channel(k, "chan", args.subbuf_size, args.n_subbufs,
                               backend=args.backend, placement=args.placement,
                               layer=args.layer, mode=args.mode, scope=args.scope,
                               era=args.era)
        except RelayError as e:
            raise UsageError(e.reason) from None
        writer = args.cpu if args.before_cpu is None else args.before_cpu
        for cpu in {args.cpu, writer}:
            if not k.cpu_online(cpu):
                raise UsageError(f"CPU {cpu} is not online (online CPUs: "
                                 f"{k.cpu_online_mask.cpulist()})")
        rb = rbc.buf_for(args.cpu)
        k.set_cpu(writer)
        for _ in range(args.records_before):
            run_now(k, rbc.layer.write(rb, bytes(args.before_size), 1))
        k.set_cpu(args.cpu)
        return k, rbc, rb
    except BaseException:
        k.shutdown()
        raise

