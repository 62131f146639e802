"""The benchmark workloads: what is measured, on which machine, checked how.

``RelayBench`` is a kernel with one channel per design (DESIGNS).  The
builders below (``sequential``, ``sequential_read``, ``random_offsets``)
return a function that performs a fixed number of operations, and what lets
the caller check the result (the data written, or the buffer a read fills).
Modeled figures come from running it once on a kernel whose counters were
reset; the timing model makes them the same on any host.
"""
from kmodel.kernel import boot
from kmodel.relay.relay_alloc import ltt_relay_close
from kmodel.relay.relay_file import ltt_relay_open_debugfs

# backend label -> (backend, placement)
DESIGNS = {"pagelist": ("pagelist", "local"), "vmap": ("vmap", "local"),
           "vmap-opener": ("vmap", "opener")}
BUF_SIZE = 1 << 20                       # per CPU
SIZES = [8, 64, 512, 4096, 65536]
QUICK_SIZES = [64, 4096, 65536]
SWEEP_SIZES = [64 << 10, 1 << 20, 4 << 20, 16 << 20, 32 << 20]    # buffer per CPU
QUICK_SWEEP_SIZES = [1 << 20, 16 << 20]
# The hot path's goals, host time against the floor in the same run (the
# cost-model issue): (design, write size, limit).  At 64 KiB the floor is one
# copy of the 64 KiB.
HOT_PATH_GOALS = (("pagelist", 64, 1.35), ("vmap", 64, 1.45), ("pagelist", 4096, 2.0),
                  ("pagelist", 65536, 3.0), ("vmap", 65536, 2.0))


def writer_cpu(k):
    """The CPU that traces: the first online CPU of the last node (far from the
    opener, CPU 0, so that mainline placement shows)."""
    last = k.spec.nr_nodes - 1
    return min(c for c in k.cpu_online_mask if k.cpu_to_node(c) == last)


class RelayBench:
    """A kernel with the relay loaded and one channel per design."""

    def __init__(self, machine, buf_size=BUF_SIZE):
        self.k = boot(machine, maxcpus=None)
        assert self.k.modules.insmod("ltt_relay_alloc") == 0
        self.k.set_cpu(self.k.boot_cpu)                  # the opener
        self.chans = {}
        self.cpu = writer_cpu(self.k)
        for label, (backend, placement) in DESIGNS.items():
            self.chans[label], err = ltt_relay_open_debugfs(self.k, label, buf_size // 4, 4,
                                                            backend, placement)
            assert self.chans[label] is not None, (label, err)

    def buf(self, label):
        return self.chans[label].buf[self.cpu]

    def close(self):
        for chan in self.chans.values():
            ltt_relay_close(chan)
        self.k.shutdown()


def make_floor(size):
    """The floor: mask the offset, one slice assignment into a contiguous view."""
    view = memoryview(bytearray(size))
    mask = size - 1

    def floor(target, offset, src, length):
        offset &= mask
        view[offset:offset + length] = src
        return length

    def floor_read(target, offset, dest, length):
        offset &= mask
        dest[:length] = view[offset:offset + length]
        return length
    return floor, floor_read, view


def payload(length):
    """payload - length bytes of a fixed pattern: what every synthetic write
    writes (the benchmarks, the shell's relay write, explain and draw)."""
    return bytes((i * 7 + 1) & 0xFF for i in range(length))


def _stream(op, target, length, mem, nops, pointer):
    state = [_stream_start(target, pointer, length)]
    ring = _ring(target)

    def fn():
        off = state[0]
        for _ in range(nops):
            op(target, off, mem, length)
            off += length
            if off >= ring:
                off -= ring
        state[0] = off
    return fn


def _ring(target):
    """The bytes a stream goes round in target: its channel's sub-buffers (a
    layered 2.x overwrite buffer allocates a spare beyond them, which only the
    sub-buffer table addresses); the whole buffer for anything else."""
    chan = getattr(target, "chan", None)
    if chan is not None and getattr(chan, "n_subbufs", 0):
        return chan.subbuf_size * chan.n_subbufs
    return getattr(target, "alloc_size", 1 << 62)


def _stream_start(target, pointer, length):
    """Where a stream over buffer target starts: at the page its cache pointer
    (wpage or rpage) is on, rounded down to a multiple of length.  Starting
    behind it would walk back, and the patch's backward walks leave the cache
    pointer where it was: every access behind it would walk too, until the
    stream passed it (a benchmark round after another saw that as a first
    few rounds 30 times slower)."""
    off = getattr(getattr(target, pointer, None), "offset", 0)
    return off - off % length if off > 0 else 0


def sequential(write, target, length, nops=256):
    """fn doing nops sequential writes of length bytes, wrapping; (fn, data)."""
    data = payload(length)
    return _stream(write, target, length, data, nops, "wpage"), data


def sequential_read(read, target, size, nops=256):
    """fn doing nops sequential reads of size bytes into one buffer, wrapping;
    returns (fn, dest): dest holds what the last read returned."""
    dest = bytearray(size)
    return _stream(read, target, size, dest, nops, "rpage"), dest


def random_offsets(length, nops=256, size=BUF_SIZE, seed=1):
    """Offsets aligned to length, in a fixed pseudo-random order (a list walk)."""
    import random
    rng = random.Random(seed)
    slots = size // length
    return [rng.randrange(slots) * length for _ in range(nops)]


def boot_up_to_writer(machine, more=0):
    """A kernel of machine with only its CPUs up to the writer (and `more`
    after it) online, to keep host memory low; the relay loaded, the boot
    CPU (the opener) running."""
    from hw.topology import load_preset
    spec = load_preset(machine)
    present = sorted(spec.present_cpus)
    upto = next(i for i, c in enumerate(present)
                if spec.cpu_node[c] == spec.nr_nodes - 1) + 1 + more
    k = boot(machine, maxcpus=upto)
    try:
        assert k.modules.insmod("ltt_relay_alloc") == 0
    except BaseException:
        k.shutdown()
        raise
    k.set_cpu(k.boot_cpu)
    return k


def buffer_sweep(machine, sizes, write=4096):
    """Modeled cycles of a sequential write of `write` bytes against the buffer
    size per CPU, for each design: where the caches stop hiding the memory.
    Each buffer is written once whole (first touches: TLB, vmalloc faults),
    then measured over a second pass.  Only the CPUs up to the writer are
    brought up, and one channel is open at a time, to keep host memory low.
    Returns [{size, design, cycles_per_op, bytes_remote_per_op}]."""
    rows = []
    k = boot_up_to_writer(machine)
    try:
        cpu = writer_cpu(k)
        data = payload(write)
        for size in sizes:
            for label, (backend, placement) in DESIGNS.items():
                chan, err = ltt_relay_open_debugfs(k, label, size // 4, 4, backend, placement)
                assert chan is not None, (label, size, err)
                buf = chan.buf[cpu]
                with k.on_cpu(cpu):
                    for off in range(0, size, write):
                        buf.ops.write(buf, off, data, write)
                    t0 = k.timing.totals()          # (a reset would flush the TLB too)
                    for off in range(0, size, write):
                        buf.ops.write(buf, off, data, write)
                    t = k.timing.totals()
                ops = size // write
                rows.append({"case": "sweep-buffer-size", "machine": machine, "size": size,
                             "design": label,
                             "cycles_per_op": (t["cycles"] - t0["cycles"]) / ops,
                             "bytes_remote_per_op": (t["bytes_remote"] - t0["bytes_remote"]) / ops})
                ltt_relay_close(chan)
    finally:
        k.shutdown()
    return rows


CONSUMER_SIZES = [1 << 20, 16 << 20]        # buffer per CPU: fits the LLC, or not


def consumer_sweep(machine, sizes, write=4096):
    """Modeled cost of tracing with a consumer (kmodel.relay.accounting's
    coherence model): the writer (the first CPU of the last node) fills each
    sub-buffer with writes of `write` bytes, and the consumer reads it once
    delivered, on another CPU of the writer's node ("same node") or on CPU 0,
    the opener's ("opener's node").  Lap 1 starts from the opener's zeroing;
    lap 2 is the steady state: the writer takes back the lines the consumer
    read.  Only the CPUs up to the writer are up, one channel at a time.
    Returns [{size, design, consumer, first_lap, writer, consumer_cycles,
    c2c_lines, writeback_remote}] per `write` bytes (cycles) or per lap."""
    from kmodel.relay.accounting import consumer_read
    rows = []
    k = boot_up_to_writer(machine, more=1)
    last = k.spec.nr_nodes - 1
    try:
        w = writer_cpu(k)
        near = min(c for c in k.cpu_online_mask if k.cpu_to_node(c) == last and c != w)
        data = payload(write)
        tm = k.timing
        for size in sizes:
            for where, x in (("same node", near), ("opener's node", k.boot_cpu)):
                for label, (backend, placement) in DESIGNS.items():
                    chan, err = ltt_relay_open_debugfs(k, label, size // 4, 4, backend,
                                                       placement)
                    assert chan is not None, (label, size, err)
                    buf = chan.buf[w]
                    laps = []
                    for _ in range(2):
                        t0 = {cpu: tm.totals([cpu]) for cpu in (w, x)}
                        with k.on_cpu(w):
                            for sb in range(0, size, size // 4):
                                for off in range(sb, sb + size // 4, write):
                                    buf.ops.write(buf, off, data, write)
                                consumer_read(buf, sb, size // 4, x)
                        t1 = {cpu: tm.totals([cpu]) for cpu in (w, x)}
                        laps.append({key: {cpu: t1[cpu][key] - t0[cpu][key] for cpu in (w, x)}
                                     for key in ("cycles", "c2c_lines", "writeback_remote")})
                    ops = size // write
                    rows.append({"case": "consumer", "machine": machine, "size": size,
                                 "design": label, "consumer": where,
                                 "first_lap": laps[0]["cycles"][w] / ops,
                                 "writer": laps[1]["cycles"][w] / ops,
                                 "consumer_cycles": laps[1]["cycles"][x] / ops,
                                 "c2c_lines": laps[1]["c2c_lines"][w] + laps[1]["c2c_lines"][x],
                                 "writeback_remote": laps[1]["writeback_remote"][w]})
                    ltt_relay_close(chan)
    finally:
        k.shutdown()
    return rows
