"""kmodel trace record: a workload and a consumer, and a CTF trace on disk.

Time goes in ticks.  In each tick every online CPU produces ``rate`` events
through the channel's locking layer: scheduler switches from its task,
interrupt entry and exit from a hardirq nested on it, and now and then a
large event that spans pages.  Then the consumer takes up to
``consumer_rate`` delivered sub-buffers from each CPU's buffer (all of them
when it is None) and splices each, as it is, onto that CPU's stream file,
``channel0_<cpu>`` (splice.py).  A hotplug script runs its commands at the
ticks it names.  At the end every buffer is flushed and drained, so that the
trace holds every event that was not counted lost.

The events are drawn from a seeded generator: the same options give the same
trace, byte for byte.
"""
import os
import random
import zlib
from dataclasses import dataclass, field

from kmodel.consumer.ctf import EVENT_CLASSES, encode, metadata, read_trace
from kmodel.consumer.splice import splice_subbuf
from kmodel.cpu.context import HARDIRQ, context_enter, context_exit
from kmodel.cpu.sched import run_now
from kmodel.relay.layer_channel import ring_buffer_close, ring_buffer_open
from kmodel.relay.packet import HDR, REC
from kmodel.relay.rb_config import SwitchMode

CLASS = {c.name: c for c in EVENT_CLASSES}


@dataclass
class RecordOptions:
    machine: str = None
    events: int = None              # per CPU; or
    duration: int = None            # ticks
    rate: int = 16                  # events per CPU per tick
    layer: str = "lockless"
    mode: str = "discard"
    backend: str = "pagelist"
    subbuf_size: int = 16384
    n_subbufs: int = 4
    consumer_rate: int = None       # sub-buffers per CPU per tick; None: all delivered
    hotplug: list = field(default_factory=list)     # (tick, shell command)
    seed: int = 0
    config: tuple = ()
    consumer: str = "splice"        # or "mmap": a consumer in another process
    cmdline: str = ""               # the boot's, e.g. reserve_mem= for --backend pmem
    pmem: str = None                # the host file behind that region


@dataclass
class CpuStats:
    produced: int = 0
    read: int = 0
    lost_full: int = 0
    lost_wrap: int = 0
    lost_big: int = 0
    overrun: int = 0
    packets: int = 0

    @property
    def lost(self):
        return self.lost_full + self.lost_wrap + self.lost_big + self.overrun


class Recorder:
    def __init__(self, opts, outdir, progress=None, keep=False):
        self.opts = opts
        self.expected = {} if keep else None    # cpu -> {seq: (name, values)}
        self.outdir = outdir
        self.progress = progress
        self.rng = random.Random(opts.seed)
        self.seq = {}                   # cpu -> next event number
        self.files = {}                 # cpu -> stream file fd
        self.spliced = 0                # bytes moved by sendfile
        self.calls = 0
        self.server = self.proc = None  # the mmap consumer's socket and process

    # --- the workload ---------------------------------------------------------------
    def _event(self, on_cpu, name, **values):
        """Write one event on on_cpu through the layer (the current context)."""
        cpu = on_cpu
        cls = CLASS[name]
        values["seq"] = self.seq.get(cpu, 0)
        self.seq[cpu] = values["seq"] + 1
        if self.expected is not None:
            self.expected.setdefault(cpu, {})[values["seq"]] = (name, dict(values))
        rb = self.rbc.buf_for(cpu)
        run_now(self.k, self.rbc.layer.write(rb, encode(cls, values), cls.id))

    def _tick_cpu(self, cpu):
        rng = self.rng
        k = self.k
        big = self.rbc.subbuf_size - HDR - REC - 16
        with k.on_cpu(cpu):
            for _ in range(self.opts.rate):
                r = rng.random()
                if r < 0.7:
                    self._event(cpu, "sched_switch", prev_tid=rng.randrange(1, 4096),
                                next_tid=rng.randrange(1, 4096), prev_state=rng.randrange(3),
                                cpu=cpu)
                elif r < 0.93:
                    irq = rng.randrange(16, 64)
                    ctx = context_enter(k, cpu, HARDIRQ, f"irq{irq}")
                    try:
                        self._event(cpu, "irq_handler_entry", irq=irq, vector=irq + 32)
                        self._event(cpu, "irq_handler_exit", irq=irq, ret=1)
                    finally:
                        context_exit(k, ctx)
                else:
                    n = rng.randrange(100, min(big, 3 * 4096))
                    data = bytes(rng.getrandbits(8) for _ in range(n))
                    self._event(cpu, "blob", len=n, crc=zlib.crc32(data), data=data)

    # --- the consumer --------------------------------------------------------------
    def _stream(self, cpu):
        fd = self.files.get(cpu)
        if fd is None:
            fd = self.files[cpu] = os.open(os.path.join(self.outdir, f"channel0_{cpu}"),
                                           os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        return fd

    def consume(self, limit=None):
        k = self.k
        S = self.rbc.subbuf_size
        for cpu, rb in sorted(self.rbc.bufs.items()):
            taken = 0
            while limit is None or taken < limit:
                c = run_now(k, self.rbc.get_subbuf(rb))
                if c < 0:
                    break
                moved, calls = splice_subbuf(k, rb.rbuf, c, S, self._stream(cpu))
                self.spliced += moved
                self.calls += calls
                run_now(k, self.rbc.put_subbuf(rb, c))
                taken += 1

    def _start_consumer(self):
        import subprocess
        import sys
        import tempfile
        from kmodel.consumer.mmap_server import ConsumerServer
        self.sockdir = tempfile.mkdtemp(prefix="kmodel-consumer-")
        self.server = ConsumerServer(self.k, self.rbc, os.path.join(self.sockdir, "sock"))
        self.proc = subprocess.Popen([sys.executable, "-m", "kmodel.consumer.mmap_consumer",
                                      self.server.path, self.outdir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.server.wait_for_consumer(self.proc, timeout=60)

    def _consume_tick(self, limit):
        if self.server is None:
            self.consume(limit)
            return
        n = len(self.rbc.bufs)
        # A get and a put a packet: with no limit, enough to drain every buffer
        # once, plus a get each that finds none (a consumer polls; an unbounded
        # tick would serve its polling for ever and the workload never resume).
        per_cpu = limit if limit is not None else self.rbc.n_subbufs + 1
        self.server.serve(max_requests=2 * n * per_cpu, wait=0.02 if limit is None else 0.005)

    def _finish_consumer(self):
        """Serve the consumer process until it has drained every buffer."""
        if self.server is None:
            return
        import time
        deadline = time.monotonic() + 120
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise ValueError("the consumer process did not finish in 120 s")
            self.server.serve(max_requests=10**6, wait=0.05)
        err = self.proc.stderr.read().decode(errors="replace").strip()
        if self.proc.returncode != 0:
            raise ValueError(f"the consumer process failed: {err}")

    # --- a run ---------------------------------------------------------------------
    def run(self):
        from kmodel.cli.shell import Shell
        o = self.opts
        sh = Shell(o.machine, list(o.config), o.seed, o.cmdline, o.pmem) if o.machine else \
            Shell(config=list(o.config), seed=o.seed, cmdline=o.cmdline, pmem=o.pmem)
        self.k = k = sh.k
        try:
            k.modules.insmod("ltt_relay_alloc")
            self.rbc, err = ring_buffer_open(k, "trace", o.subbuf_size, o.n_subbufs,
                                             o.backend, "local", o.layer, o.mode, "per-cpu")
            if self.rbc is None:
                why = [line for line in k.log.lines() if "ltt_relay" in line or
                       "ring_buffer" in line]
                raise ValueError(why[-1] if why else f"the channel cannot be opened ({err})")
            with open(os.path.join(self.outdir, "metadata"), "w") as f:
                f.write(metadata())
            if o.consumer == "mmap":
                self._start_consumer()
            script = sorted(o.hotplug)
            tick = 0
            while True:
                while script and script[0][0] <= tick:
                    sh.execute(script.pop(0)[1])
                online = list(k.for_each_online_cpu())
                if o.duration is not None and tick >= o.duration:
                    break
                if o.events is not None and all(self.seq.get(c, 0) >= o.events
                                                for c in online):
                    break
                for cpu in online:
                    if o.events is None or self.seq.get(cpu, 0) < o.events:
                        self._tick_cpu(cpu)
                self._consume_tick(o.consumer_rate)
                tick += 1
                if self.progress and tick % 16 == 0:
                    self.progress(f"[tick {tick}] {sum(self.seq.values())} events, "
                                  f"{self.spliced >> 10} KiB spliced")
            for _ in range(2):          # the second time, room for a packet of losses
                with k.on_cpu(k.boot_cpu):
                    for rb in self.rbc.bufs.values():
                        run_now(k, self.rbc.layer.flush(rb, SwitchMode.FLUSH))
                self._consume_tick(None)
            self._finish_consumer()
            self.ticks = tick
            return self._stats()
        finally:
            for fd in self.files.values():
                os.close(fd)
            if self.server is not None:
                if self.proc.poll() is None:
                    self.proc.kill()
                    self.proc.wait()
                self.server.close()
                os.rmdir(self.sockdir)
            if getattr(self, "rbc", None) is not None:
                ring_buffer_close(self.rbc, "trace")
            sh.close()

    def _stats(self):
        stats = {}
        for cpu, rb in sorted(self.rbc.bufs.items()):
            stats[cpu] = CpuStats(produced=rb.book.produced,
                                  lost_full=rb.records_lost_full.counter,
                                  lost_wrap=rb.records_lost_wrap.counter,
                                  lost_big=rb.records_lost_big.counter,
                                  overrun=rb.records_overrun.counter)
        for name, packets in read_trace(self.outdir).items():
            for p in packets:
                st = stats.setdefault(p.cpu, CpuStats())
                st.read += len(p.events)
                st.packets += 1
        return stats


def parse_hotplug(text, name="hotplug script"):
    """parse_hotplug - [(tick, command)] from lines 'TICK COMMAND...' ('#' comments)."""
    out = []
    for no, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        tick, _, cmd = s.partition(" ")
        try:
            t = int(tick)
        except ValueError:
            raise ValueError(f"{name}:{no}: expected 'TICK COMMAND', got {s!r}") from None
        if t < 0 or not cmd.strip():
            raise ValueError(f"{name}:{no}: expected 'TICK COMMAND', got {s!r}")
        out.append((t, cmd.strip()))
    return out

