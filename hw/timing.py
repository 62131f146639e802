"""The deterministic timing model: what the emulated hardware would spend.

Modeled cost is kept apart from host time.  Every figure here is an integer
counter that depends only on what the emulated CPUs did, so the same workload
gives the same numbers on any host.

The model, in one paragraph: a tracer's buffer accesses are sequential
streams, and a stream costs bandwidth, not one latency a line.  Where a
stream is served from is decided by its working set: the bytes the CPU
touches between two visits to the same line, which for a ring written
cyclically is the buffer, plus the CPU's other buffers touched in the same
period (kmodel.relay.accounting).  A working set that fits ``cache_kib``'s L1,
L2 or LLC is served from that level at one core's ``stream_gbps`` for it,
whatever node the pages sit on; a larger one comes from DRAM at the bandwidth
of the SLIT distance to the pages' node.  Dependent loads (a list walk
chasing ``buf_page``s) cost latency instead: ``cache_cycles`` of the level
that holds the walked structures, or the DRAM latency (``dram_ns``) of their
node when they do not fit the LLC.  Each data access also looks up the dTLB
(hw.tlb) at the page size of the mapping it goes through: the kernel linear
map uses the largest page size the CPU has, vmap areas use 4 KiB pages.  An
STLB hit costs ``stlb_hit_cycles``; a miss costs ``page_walk_cycles``.
Everything else (vmalloc faults, notifier calls) is counted and charged a
fixed number of cycles from the preset's table.  docs/model.md sets the
model's predictions beside published figures.

Atomics and irq flags (for execution contexts): an atomic operation costs
``atomic_cycles`` (a LOCK-prefixed read-modify-write on a line in the CPU's own
cache), a ``local_t`` operation ``local_op_cycles`` (the same instruction without
LOCK), and either one more ``line_transfer_ns`` at the SLIT distance to the CPU
that last owned the line when it comes from another CPU: a contended line moves.
A line has one owner (no shared state is modeled: a read from another CPU moves
it too, which is pessimistic for read-mostly lines).  ``local_irq_save`` and
``local_irq_restore`` cost ``irq_save_cycles`` and ``irq_restore_cycles``.

Streamed data: users of the model report their bytes per node with
``stream()`` (or fold them in later, through a flusher that ``totals()``
calls first), with the working set they run in.  The bytes are summed by
where they are served, and cost ``bytes x cpu_ghz / GB/s`` cycles for each
level, computed when totals are read: so it does not matter how the bytes
were batched.  Lines are still counted per node (ceil(bytes / 64)), for the
statistics.
Structure accesses that are assumed cache-hot (the buffer's own metadata) are
counted in ``meta_lines`` per node and cost no cycles.

A reserved region that must survive a reboot (the pmem backend) is mapped as
``pmem_memtype`` says, as pstore/ramoops maps its region by its ``mem_type``:
``wb`` (cached, like RAM: the stream above), ``wc`` (write-combining, ramoops's
default: a line goes out as one posted write, ``wc_line_ns``, and no line is
read for ownership), or ``uc`` (uncached: each 8-byte access is a memory
access of its own, 8 a line at the node's DRAM latency).  ``region_stream()``
charges them.  Reads of a wc or uc region are charged as writes are, which
flatters them (a load from wc memory is uncached); the tracer only writes
there, and crash extraction reads the file, not the region.
"""
from collections import deque
from dataclasses import dataclass, fields

from hw.clock import Clock
from hw.tlb import DTLB, SIZES, SHIFTS

CACHE_LINE_SHIFT = 6
LEVELS = ("L1", "L2", "LLC")


def _int_key(k, what):
    try:
        return int(k)
    except ValueError:
        raise ValueError(f"{what}: {k!r} is neither a cache level ({', '.join(LEVELS)}) "
                         f"nor a SLIT distance") from None


@dataclass(frozen=True)
class TimingTable:
    """The numbers of one machine preset (each commented with its source there)."""
    cpu_ghz: float
    dram_ns: dict               # SLIT distance -> DRAM load latency, ns
    tlb: dict                   # page size ('4K','2M','1G') -> L1 dTLB entries
    stlb_entries: int
    stlb_sizes: tuple           # page sizes the STLB holds
    stlb_hit_cycles: int
    page_walk_cycles: int
    vmalloc_lazy_sync: bool     # vmalloc mappings reach other page tables by faults
    vmalloc_fault_cycles: int
    notifier_call_cycles: int
    local_op_cycles: int = 6    # non-LOCK read-modify-write on an owned line
    atomic_cycles: int = 18     # LOCK'd read-modify-write on an owned line
    irq_save_cycles: int = 3    # pushf; cli
    irq_restore_cycles: int = 20  # push; popf
    line_transfer_ns: dict = None  # SLIT distance -> ns to move a line to this CPU
    cache_kib: dict = None      # 'L1', 'L2' (per core), 'LLC' (per node or CCX) -> KiB
    cache_cycles: dict = None   # level -> load-to-use latency of a dependent load, cycles
    stream_gbps: dict = None    # level, or SLIT distance for DRAM -> one core's copy GB/s
    pmem_memtype: str = "wc"    # how a reserved (persistent) region is mapped: wb, wc, uc
    wc_line_ns: float = 6.4     # one 64-byte line through write-combining buffers

    @classmethod
    def from_doc(cls, doc, distances):
        if not isinstance(doc, dict):
            raise ValueError(f"timing = {doc!r}: must be a table ([timing])")
        unknown = sorted(set(doc) - {f.name for f in fields(cls)})
        if unknown:                             # a typo must not fall back to a default
            raise ValueError(f"unknown key(s) {', '.join(unknown)} (known: "
                             f"{', '.join(f.name for f in fields(cls))})")

        def num(key, default, kind=int, hi=1e9):
            v = doc.get(key, default)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= hi:
                raise ValueError(f"{key} = {v!r} is not a number in 0..{hi:g}")
            return kind(v)

        def table(key, default):
            t = doc.get(key, default)
            if not isinstance(t, dict):
                raise ValueError(f"{key} = {t!r}: must be a table of distance = ns")
            return t
        dram = {}
        for k, v in table("dram_ns", {"10": 90}).items():
            try:
                dram[int(k)] = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"dram_ns: bad entry {k!r} = {v!r}") from None
            if not 0 < dram[int(k)] <= 1e6:
                raise ValueError(f"dram_ns: {k!r} = {v!r} must be more than 0 ns "
                                 "(and at most 1 ms)")
        missing = sorted(d for d in distances if d not in dram)
        if missing:
            raise ValueError(f"dram_ns has no latency for SLIT distance(s) {missing}")
        tlb = dict(table("tlb", {"4K": 64, "2M": 32}))
        for s, n in tlb.items():
            if s not in SIZES or not isinstance(n, int) or n < 0:
                raise ValueError(f"tlb: bad entry {s!r} = {n!r} (sizes: {', '.join(SIZES)})")
        stlb_sizes = doc.get("stlb_sizes", ["4K", "2M"])
        if not isinstance(stlb_sizes, list):
            raise ValueError(f"stlb_sizes = {stlb_sizes!r}: must be a list of page sizes")
        stlb_sizes = tuple(stlb_sizes)
        if any(s not in SIZES for s in stlb_sizes):
            raise ValueError(f"stlb_sizes: {list(stlb_sizes)} (sizes: {', '.join(SIZES)})")
        xfer = {}
        for k, v in table("line_transfer_ns", {}).items():
            try:
                xfer[int(k)] = float(v)
            except (TypeError, ValueError):
                raise ValueError(f"line_transfer_ns: bad entry {k!r} = {v!r}") from None
            if not 0 <= xfer[int(k)] <= 1e6:
                raise ValueError(f"line_transfer_ns: {k!r} = {v!r} must be 0..1e6 ns")
        for d in distances:
            xfer.setdefault(d, dram[d])     # default: a line costs a memory access
        lazy = doc.get("vmalloc_lazy_sync", False)
        if not isinstance(lazy, bool):
            raise ValueError(f"vmalloc_lazy_sync = {lazy!r}: must be true or false")
        caches = {}
        for key, default in (("cache_kib", {"L1": 32, "L2": 256, "LLC": 4096}),
                             ("cache_cycles", {"L1": 4, "L2": 12, "LLC": 40})):
            t = table(key, default)
            if set(t) != set(LEVELS) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1e7
                    for v in t.values()):
                raise ValueError(f"{key} = {t!r}: needs L1, L2 and LLC, each a positive number")
            caches[key] = {lv: int(t[lv]) for lv in LEVELS}
        if not caches["cache_kib"]["L1"] <= caches["cache_kib"]["L2"] <= \
                caches["cache_kib"]["LLC"]:
            raise ValueError("cache_kib: the levels must grow (L1 <= L2 <= LLC)")
        gbps = {}
        for k, v in table("stream_gbps", {"L1": 64, "L2": 32, "LLC": 16, **{
                str(d): 8 * 10 / d for d in distances}}).items():
            key = k if k in LEVELS else _int_key(k, "stream_gbps")
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 < v <= 1e4:
                raise ValueError(f"stream_gbps: {k!r} = {v!r} must be more than 0 GB/s")
            gbps[key] = float(v)
        missing = [x for x in list(LEVELS) + sorted(distances) if x not in gbps]
        if missing:
            raise ValueError(f"stream_gbps has no figure for {missing}")
        memtype = doc.get("pmem_memtype", "wc")
        if memtype not in ("wb", "wc", "uc"):
            raise ValueError(f"pmem_memtype = {memtype!r}: wb, wc or uc")
        ghz = num("cpu_ghz", 2.0, float, hi=20)
        if ghz <= 0:
            raise ValueError(f"cpu_ghz = {ghz!r}: must be more than 0")
        return cls(cpu_ghz=ghz, dram_ns=dram, tlb=tlb,
                   stlb_entries=num("stlb_entries", 1536),
                   stlb_sizes=stlb_sizes,
                   stlb_hit_cycles=num("stlb_hit_cycles", 9),
                   page_walk_cycles=num("page_walk_cycles", 30),
                   vmalloc_lazy_sync=lazy,
                   vmalloc_fault_cycles=num("vmalloc_fault_cycles", 2000),
                   notifier_call_cycles=num("notifier_call_cycles", 20),
                   local_op_cycles=num("local_op_cycles", 6),
                   atomic_cycles=num("atomic_cycles", 18),
                   irq_save_cycles=num("irq_save_cycles", 3),
                   irq_restore_cycles=num("irq_restore_cycles", 20),
                   line_transfer_ns=xfer, pmem_memtype=memtype,
                   cache_kib=caches["cache_kib"], cache_cycles=caches["cache_cycles"],
                   stream_gbps=gbps,
                   wc_line_ns=num("wc_line_ns", 6.4, float, hi=1e6))

    def line_cycles(self, distance):
        """Cycles charged for one cache line at a SLIT distance (rounded)."""
        return int(round(self.dram_ns[distance] * self.cpu_ghz))

    def transfer_cycles(self, distance):
        """Cycles to move a cache line from another CPU at a SLIT distance."""
        return int(round(self.line_transfer_ns[distance] * self.cpu_ghz))

    @property
    def linear_map_size(self):
        """Index into hw.tlb.SIZES of the page size the linear map uses."""
        return 2 if self.tlb.get("1G") else 1


class CpuCost:
    """Modeled counters of one emulated CPU.  Plain integers: cheap to bump.
    ``held`` is not a counter: the pages whose lines this CPU's zeroing left
    dirty in its caches, oldest first (TimingModel.zeroed)."""
    __slots__ = ("cpu", "nid", "line_cycles", "cycles", "bytes", "lines", "stream_bytes", "served",
                 "meta_lines", "tlb_lookups", "tlb_misses", "stlb_hits", "last_vpn", "dtlb",
                 "vmalloc_faults", "walk_steps", "list_iters", "notifier_calls", "ops",
                 "atomics", "line_transfers", "irq_flag_ops", "c2c_lines", "writeback",
                 "held", "held_bytes", "served_cycles",
                 "clock_idle", "clock_pending", "tsc_skew")     # (the last three: hw.clock)

    def __init__(self, cpu, nid, line_cycles, dtlb, nr_nodes):
        self.cpu = cpu
        self.nid = nid
        self.line_cycles = line_cycles      # row: cycles per line by target node
        self.dtlb = dtlb
        self.bytes = [0] * nr_nodes
        self.lines = [0] * nr_nodes
        self.stream_bytes = [0] * nr_nodes
        self.served = [0] * (nr_nodes + len(LEVELS))   # streamed bytes by where they
        self.meta_lines = [0] * nr_nodes                # are served: DRAM of each node,
        self.writeback = [0] * nr_nodes                 # then L1, L2, LLC
        self.held = deque()
        self.held_bytes = 0
        self.reset()

    def reset(self):
        self.cycles = 0
        zeros = [0] * len(self.bytes)       # in place: the hot paths hold these lists
        self.bytes[:] = zeros
        self.lines[:] = zeros
        self.stream_bytes[:] = zeros
        self.meta_lines[:] = zeros
        self.writeback[:] = zeros
        self.served[:] = [0] * len(self.served)
        self.served_cycles = 0.0    # the served bytes' cycles, summed as they come
        self.tlb_lookups = [0, 0, 0]
        self.tlb_misses = [0, 0, 0]
        self.stlb_hits = [0, 0, 0]
        self.last_vpn = [-1, -1, -1]
        self.vmalloc_faults = 0
        self.walk_steps = 0
        self.list_iters = 0
        self.notifier_calls = 0
        self.ops = 0
        self.atomics = 0
        self.line_transfers = 0
        self.irq_flag_ops = 0
        self.c2c_lines = 0
        self.dtlb.flush()


class TimingModel:
    """timing model of one machine: a CpuCost per possible CPU and the rules."""

    def __init__(self, spec):
        self.table = t = spec.timing
        self.spec = spec
        self.nr_nodes = n = spec.nr_nodes
        self.line_cycles = [[t.line_cycles(spec.distance[a][b]) for b in range(n)]
                            for a in range(n)]
        stlb_sizes = {SIZES.index(s) for s in t.stlb_sizes}
        self.cpus = {}
        for cpu, nid in spec.cpu_node.items():
            self.cpus[cpu] = CpuCost(cpu, nid, self.line_cycles[nid],
                                     DTLB(t.tlb, t.stlb_entries, stlb_sizes), n)
        self.stlb_hit_cycles = t.stlb_hit_cycles
        self.page_walk_cycles = t.page_walk_cycles
        self.linear_size = t.linear_map_size
        self.linear_shift = SHIFTS[self.linear_size]
        self.flushers = []          # called by totals()/reset() to fold deferred counts
        self.transfer_cycles = [[t.transfer_cycles(spec.distance[a][b]) for b in range(n)]
                                for a in range(n)]
        # the cache model: where a stream is served, at what cost per byte
        self.level_bytes = [t.cache_kib[lv] << 10 for lv in LEVELS]
        self.level_load = [t.cache_cycles[lv] for lv in LEVELS]
        self.serve_cpb = [[t.cpu_ghz / t.stream_gbps[spec.distance[a][b]] for b in range(n)]
                          + [t.cpu_ghz / t.stream_gbps[lv] for lv in LEVELS] for a in range(n)]
        self.clock = Clock(self)    # modeled time, read from these counters (hw.clock)

    # --- charging -----------------------------------------------------------
    def mem(self, c, nid, paddr, n):
        """mem - CPU cost c touches n bytes at physical address paddr on node nid."""
        lines = ((paddr + n - 1) >> CACHE_LINE_SHIFT) - (paddr >> CACHE_LINE_SHIFT) + 1
        c.bytes[nid] += n
        c.lines[nid] += lines
        c.cycles += lines * c.line_cycles[nid]

    def tlb(self, c, size_idx, vpn):
        """tlb - CPU cost c looks up virtual page vpn of page size SIZES[size_idx]."""
        c.tlb_lookups[size_idx] += 1
        self.tlb_probe(c, size_idx, vpn)

    def tlb_probe(self, c, size_idx, vpn):
        """tlb_probe - the hit/miss side of a lookup whose count is kept elsewhere."""
        self.tlb_probe_range(c, size_idx, vpn, 1)

    def level_of(self, ws):
        """level_of - the cache level (0 L1, 1 L2, 2 LLC) that holds a working set
        of ws bytes, or None when it spills to DRAM."""
        lb = self.level_bytes
        if ws <= lb[0]:
            return 0
        if ws <= lb[1]:
            return 1
        if ws <= lb[2]:
            return 2
        return None

    def tlb_probe_range(self, c, size_idx, first, n):
        """tlb_probe_range - the hit/miss side of looking up vpns first ..
        first+n-1 in that order (a stream's page changes): the CPU's most
        recent entry is a hit with no LRU change, the rest go to the DTLB."""
        if n <= 0:
            return
        last_vpn = c.last_vpn
        if last_vpn[size_idx] == first:     # the MRU entry: a hit, no LRU change
            first += 1
            n -= 1
            if not n:
                return
        last_vpn[size_idx] = first + n - 1
        hits, walks = c.dtlb.lookup_range(size_idx, first, n)
        if hits:
            c.stlb_hits[size_idx] += hits
            c.cycles += hits * self.stlb_hit_cycles
        if walks:
            c.tlb_misses[size_idx] += walks
            c.cycles += walks * self.page_walk_cycles

    def stream(self, c, nid, n, ws=None):
        """stream - n bytes of a sequential run on node nid, in a working set of
        ws bytes (the bytes the CPU touches between two visits to a line; None:
        cold, from DRAM).  See the module doc."""
        c.bytes[nid] += n
        c.stream_bytes[nid] += n
        if ws is None:                  # (_served_by, inline: at every fold of a page)
            i = nid
        else:
            lv = self.level_of(ws)
            i = nid if lv is None else self.nr_nodes + lv
        c.served[i] += n
        c.served_cycles += n * self.serve_cpb[c.nid][i]     # (for the clock: hw.clock)

    def _served_by(self, nid, ws):
        """Where a stream on node nid in a working set of ws bytes is served, as
        an index of CpuCost.served: the node's DRAM (nid), or L1, L2, LLC."""
        lv = None if ws is None else self.level_of(ws)
        return nid if lv is None else self.spec.nr_nodes + lv

    def stream_cpb(self, cpu_nid, nid, ws=None):
        """stream_cpb - cycles a byte of a stream on node nid in a working set
        of ws bytes, from a CPU on node cpu_nid (what stream() charges)."""
        return self.serve_cpb[cpu_nid][self._served_by(nid, ws)]

    def stream_cost(self, cpu_nid, nid, n, ws=None):
        """stream_cost - (cycles, where) of a stream alone, for explanations."""
        i = self._served_by(nid, ws)
        where = f"DRAM N{nid}" if i == nid else LEVELS[i - self.spec.nr_nodes]
        gbps = self.table.cpu_ghz / self.serve_cpb[cpu_nid][i]
        return int(round(n * self.serve_cpb[cpu_nid][i])), f"{where}, {gbps:g} GB/s"

    # --- coherence: where a buffer page's lines are ---------------------------
    def holds(self, nbytes):
        """holds - does a CPU's cache keep the lines of a set of nbytes (a buffer
        written round and round) from one lap to the next: does it fit the LLC?"""
        return nbytes <= self.level_bytes[2]

    def fetch(self, c, nid, n, holder=None):
        """fetch - c takes n bytes of lines on node nid that it does not hold:
        from memory (holder None: DRAM at the distance to nid), or from the
        cache of holder, another CPU's CpuCost.  A transfer from a cache goes
        through the line's home node, so it is charged the bandwidth of the
        farther of the holder's node and the home node: the LLC's when both
        are c's own node, the DRAM stream at that distance otherwise (an
        estimate: the lines cross the same link as remote memory).  Counted as
        c2c_lines."""
        c.bytes[nid] += n
        c.stream_bytes[nid] += n
        if holder is not None:
            c.c2c_lines += (n + (1 << CACHE_LINE_SHIFT) - 1) >> CACHE_LINE_SHIFT
        i = self._fetched_by(c.nid, nid, holder)
        c.served[i] += n
        c.served_cycles += n * self.serve_cpb[c.nid][i]

    def _fetched_by(self, cpu_nid, nid, holder):
        """Where a fetch is served, as an index of CpuCost.served (see fetch)."""
        if holder is None:
            return nid
        dist = self.spec.distance[cpu_nid]
        far = nid if dist[nid] >= dist[holder.nid] else holder.nid
        return self.spec.nr_nodes + 2 if far == cpu_nid else far

    def fetch_cost(self, cpu_nid, nid, n, holder=None):
        """fetch_cost - (cycles, where) of a fetch alone, for explanations."""
        i = self._fetched_by(cpu_nid, nid, holder)
        gbps = self.table.cpu_ghz / self.serve_cpb[cpu_nid][i]
        if holder is None:
            where = f"DRAM N{i}"
        elif i < self.spec.nr_nodes:      # at the farther of the holder's and the home's
            where = f"CPU {holder.cpu}'s cache on N{holder.nid} (home N{nid})"
        else:
            where = f"CPU {holder.cpu}'s cache, in this CPU's LLC"
        return int(round(n * self.serve_cpb[cpu_nid][i])), f"{where}, {gbps:g} GB/s"

    def zeroed(self, c, pages, size):
        """zeroed - c cleared these pages (objects with holder, dirty and nid),
        size bytes each, in this order (__GFP_ZERO, or a memset): their lines
        are dirty in c's caches, and those zeroed more than an LLC ago have
        been written back to their home node (counted in writeback)."""
        held = c.held
        cap = self.level_bytes[2]
        for p in pages:
            p.holder = c
            p.dirty = True
            held.append(p)
            c.held_bytes += size
            while c.held_bytes > cap:
                old = held.popleft()
                c.held_bytes -= size
                if old.holder is c and old.dirty:
                    old.holder = None
                    old.dirty = False
                    c.writeback[old.nid] += size

    def dep_load(self, c, nid, ws):
        """dep_load - cycles of one dependent load (a pointer chased) of a line on
        node nid in a working set of ws bytes: the cache level's latency, or the
        DRAM latency at the SLIT distance when the set is larger than the LLC."""
        lv = self.level_of(ws)
        return c.line_cycles[nid] if lv is None else self.level_load[lv]

    def region_stream(self, c, nid, n, ws=None):
        """region_stream - n bytes streamed to the reserved region on node nid,
        by its memory type (see the module doc)."""
        memtype = self.table.pmem_memtype
        if memtype == "wb":
            self.stream(c, nid, n, ws)
            return
        c.bytes[nid] += n
        lines = (n + (1 << CACHE_LINE_SHIFT) - 1) >> CACHE_LINE_SHIFT
        c.lines[nid] += lines
        if memtype == "wc":
            c.cycles += int(round(lines * self.table.wc_line_ns * self.table.cpu_ghz))
        else:                                   # uc: 8-byte accesses, each to memory
            c.cycles += lines * 8 * c.line_cycles[nid]

    def linear(self, c, nid, paddr, n):
        """linear - an access of n bytes through the kernel linear map."""
        self.tlb(c, self.linear_size, paddr >> self.linear_shift)
        self.mem(c, nid, paddr, n)

    def vmalloc_fault(self, c):
        c.vmalloc_faults += 1
        c.cycles += self.table.vmalloc_fault_cycles

    def walk(self, c, iterations, nid, ws):
        """walk - a list walk of that many iterations, each a dependent load of the
        next element (on node nid, in a working set of ws bytes); steps beyond the
        first count as walk_steps (a sequential page change takes one iteration)."""
        c.list_iters += iterations
        c.walk_steps += iterations - 1
        c.cycles += iterations * self.dep_load(c, nid, ws)

    def atomic(self, c, line, locked=True):
        """atomic - CPU cost c does a read-modify-write on a cache line: LOCK'd
        (an atomic) or not (a local_t operation).  See line_access."""
        c.atomics += 1
        c.cycles += self.table.atomic_cycles if locked else self.table.local_op_cycles
        o = line.line_owner             # line_access, written out (every atomic: the hot path)
        if o is not None and o is not c:
            c.line_transfers += 1
            c.cycles += self.transfer_cycles[c.nid][o.nid]
        line.line_owner = c

    def line_transfer(self, c, o):
        """line_transfer - the part of line_access that charges: c takes a line
        CPU cost o had (for callers that test the owner inline, READ_ONCE and
        WRITE_ONCE: their common case, a line c has already, makes no call)."""
        c.line_transfers += 1
        c.cycles += self.transfer_cycles[c.nid][o.nid]

    def line_access(self, c, line):
        """line_access - c touches a shared line (any object with a line_owner
        attribute: the CpuCost that last had it, or None).  A line another CPU
        had is transferred first; then c owns it."""
        o = line.line_owner
        if o is not None and o is not c:
            c.line_transfers += 1
            c.cycles += self.transfer_cycles[c.nid][o.nid]
        line.line_owner = c

    def irq_flags(self, c, restore):
        """irq_flags - local_irq_save (restore=False) or local_irq_restore."""
        c.irq_flag_ops += 1
        c.cycles += self.table.irq_restore_cycles if restore else self.table.irq_save_cycles

    def notifier_call(self, c):
        c.notifier_calls += 1
        c.cycles += self.table.notifier_call_cycles

    # --- reading ------------------------------------------------------------
    def flush(self):
        for fn in self.flushers:
            fn()
        self.clock.folded()

    def reset(self):
        self.flush()
        for c in self.cpus.values():
            c.reset()
        self.clock.reset()

    def _cycles(self, c):
        """A CPU's cycles: those charged, and its streamed bytes at the cost
        of where each was served."""
        cycles = c.cycles
        if any(c.served):
            cpb = self.serve_cpb[c.nid]
            for i, nbytes in enumerate(c.served):
                if nbytes:
                    cycles += int(round(nbytes * cpb[i]))
        return cycles

    def summary(self):
        """summary - cycles, atomics, line transfers and irq flag operations
        summed over every CPU: what totals() gives of them, for the explorer,
        which reads them after every run."""
        self.flush()
        cycles = atomics = transfers = flag_ops = 0
        for c in self.cpus.values():
            cycles += self._cycles(c)
            atomics += c.atomics
            transfers += c.line_transfers
            flag_ops += c.irq_flag_ops
        return {"cycles": cycles, "atomics": atomics, "line_transfers": transfers,
                "irq_flag_ops": flag_ops}

    def totals(self, cpus=None):
        """totals - a dict of counters summed over cpus (default: all)."""
        self.flush()
        n = self.spec.nr_nodes
        out = {"cycles": 0, "ops": 0, "bytes_local": 0, "bytes_remote": 0,
               "bytes_by_node": [0] * n, "lines_by_node": [0] * n,
               "meta_lines_local": 0, "meta_lines_remote": 0,
               "vmalloc_faults": 0, "walk_steps": 0, "list_iters": 0, "notifier_calls": 0,
               "atomics": 0, "line_transfers": 0, "irq_flag_ops": 0, "c2c_lines": 0,
               "writeback_local": 0, "writeback_remote": 0}
        for s in SIZES:
            out[f"tlb_lookups_{s}"] = 0
            out[f"tlb_misses_{s}"] = 0
            out[f"stlb_hits_{s}"] = 0
        for cpu in (self.cpus if cpus is None else cpus):
            c = self.cpus[cpu]
            out["cycles"] += self._cycles(c)
            out["ops"] += c.ops
            for nid in range(n):
                slines = (c.stream_bytes[nid] + (1 << CACHE_LINE_SHIFT) - 1) >> CACHE_LINE_SHIFT
                out["bytes_by_node"][nid] += c.bytes[nid]
                out["lines_by_node"][nid] += c.lines[nid] + slines
                out["bytes_local" if nid == c.nid else "bytes_remote"] += c.bytes[nid]
                out["meta_lines_local" if nid == c.nid else "meta_lines_remote"] += \
                    c.meta_lines[nid]
                out["writeback_local" if nid == c.nid else "writeback_remote"] += \
                    c.writeback[nid]
            out["vmalloc_faults"] += c.vmalloc_faults
            out["walk_steps"] += c.walk_steps
            out["list_iters"] += c.list_iters
            out["notifier_calls"] += c.notifier_calls
            out["atomics"] += c.atomics
            out["line_transfers"] += c.line_transfers
            out["irq_flag_ops"] += c.irq_flag_ops
            out["c2c_lines"] += c.c2c_lines
            for i, s in enumerate(SIZES):
                out[f"tlb_lookups_{s}"] += c.tlb_lookups[i]
                out[f"tlb_misses_{s}"] += c.tlb_misses[i]
                out[f"stlb_hits_{s}"] += c.stlb_hits[i]
        return out
