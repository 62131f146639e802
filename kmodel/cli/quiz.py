"""kmodel quiz TOPIC [-s SEED] [-c]: exercises, in the manner of OSTEP's homework.

It echoes its parameters, prints a problem with '?' where the answers go, and
with -c prints the answers.  The same seed gives the same problem.  Every
answer comes from running the emulator on the problem, never from a second
implementation of the rules.
"""
import random
import textwrap

from hw import PAGE_SIZE
from hw.topology import DEFAULT_PRESET, parse_machine
from kmodel.cli.bounds import SEED
from kmodel.cli.errors import UsageError
from kmodel.cpu.actions import CPU_DOWN_PREPARE, CPU_UP_PREPARE, action_name
from kmodel.cpu.notifier import NOTIFY_OK, notifier_block
from kmodel.core.errno import ENOMEM, errno_name
from kmodel.kernel import Kernel, boot
from kmodel.mm.gfp import GFP_KERNEL, GFPF_NOWARN
from kmodel.core.tracepoint import tracing
from kmodel.relay.relay_trace import trace_relay_copy
from kmodel.relay.relay_alloc import (ltt_relay_offset_address, ltt_relay_open, ltt_relay_read,
                                      ltt_relay_write)


def _relay(machine, subbuf, n):
    k = boot(machine)
    k.modules.insmod("ltt_relay_alloc")
    chan = ltt_relay_open(k, "q", None, subbuf, n, None)
    return k, chan


def _pages(buf):
    return {id(d): i for i, d in enumerate(buf.descs)}


class Topic:
    name = ""
    summary = ""

    def __init__(self, seed):
        self.rng = random.Random(seed)


class WalkTopic(Topic):
    name = "walk"
    summary = "which pages a write touches, on which nodes, and how many walk steps it takes"

    def setup(self):
        r = self.rng
        self.n_pages = r.choice([4, 8, 16])
        self.start = r.randrange(self.n_pages)
        size = self.n_pages * PAGE_SIZE
        self.length = r.choice([16, 100, 700, 3000, 6000])
        self.offset = r.randrange(0, size - self.length) // 8 * 8
        self.cpu = r.choice([1, 5])
        return [("machine", DEFAULT_PRESET), ("buffer", f"{self.n_pages} pages, pagelist"),
                ("cpu", self.cpu), ("wpage before", f"page {self.start}"),
                ("write", f"{self.length} bytes at offset {self.offset:#x}")]

    def problem(self):
        return ["A write arrives; the cache pointer wpage points at the page given above.",
                "The lookup wraps the distance into half the buffer either way.",
                "  1. Which pages does the write touch, in order?",
                "  2. On which node are they?",
                "  3. How many walk steps (list iterations beyond the first) does it take?",
                "  4. Which page does wpage point at afterwards?"]

    def solve(self):
        k, chan = _relay(DEFAULT_PRESET, PAGE_SIZE, self.n_pages)
        try:
            buf = chan.buf[self.cpu]
            buf.wpage = buf.descs[self.start]             # as if a write had left it there
            idx = _pages(buf)
            order = []                  # the pages, as the relay_copy tracepoint saw them
            t0 = k.timing.totals()["walk_steps"]
            with tracing({trace_relay_copy: lambda b, i, *rest: order.append(i)}):
                ltt_relay_write(buf, self.offset, bytes(self.length), self.length)
            if not order:               # no event: the fast path, on the cached page
                order = [idx[id(buf.wpage)]]
            touched = order
            steps = k.timing.totals()["walk_steps"] - t0
            nodes = sorted({buf.descs[i].nid for i in touched})
            return [", ".join(f"page {i}" for i in order),
                    ", ".join(f"node {n}" for n in nodes),
                    str(steps), f"page {idx[id(buf.wpage)]}"]
        finally:
            k.shutdown()


class CacheTopic(Topic):
    name = "cache"
    summary = "where the four cache pointers are after a sequence of accesses"

    def setup(self):
        r = self.rng
        self.n_pages = 8
        self.subbuf = 2 * PAGE_SIZE
        self.ops = []
        for _ in range(r.randint(3, 5)):
            kind = r.choice(["write", "read", "header"])
            off = r.randrange(self.n_pages * PAGE_SIZE) // 64 * 64
            self.ops.append((kind, off))
        return [("machine", DEFAULT_PRESET), ("buffer", "8 pages, 4 sub-buffers of 2 pages"),
                ("accesses", "; ".join(f"{k} {o:#x}" for k, o in self.ops))]

    def problem(self):
        return ["All pointers start at page 0.  write uses wpage, read uses rpage, header",
                "(ltt_relay_offset_address) uses hpage[odd sub-buffer], starting over from",
                "wpage when its page does not hold the offset.  Each access is 64 bytes.",
                "  1. wpage?", "  2. rpage?", "  3. hpage[0]?", "  4. hpage[1]?"]

    def solve(self):
        k, chan = _relay(DEFAULT_PRESET, self.subbuf, self.n_pages * PAGE_SIZE // self.subbuf)
        try:
            buf = chan.buf[0]
            for kind, off in self.ops:
                if kind == "write":
                    ltt_relay_write(buf, off, bytes(64), 64)
                elif kind == "read":
                    ltt_relay_read(buf, off, bytearray(64), 64)
                else:
                    ltt_relay_offset_address(buf, off)
            idx = _pages(buf)
            return [f"page {idx[id(p)]}" for p in (buf.wpage, buf.rpage, buf.hpage[0],
                                                   buf.hpage[1])]
        finally:
            k.shutdown()


BUDDY_MACHINE = """
name = "quiz-16"
[[nodes]]
memory = "64K"
cpus = "0"
"""


def free_pages(k, page, order):
    """__free_pages, from module level (a method's body would mangle the name)."""
    k.__free_pages(page, order)


class BuddyTopic(Topic):
    name = "buddy"
    summary = "buddy splits and merges for a sequence of allocations and frees"

    def setup(self):
        r = self.rng
        self.ops = []
        live = []                       # allocation numbers not yet freed
        made = 0
        for _ in range(r.randint(4, 6)):
            if live and r.random() < 0.4:
                self.ops.append(("free", live.pop(r.randrange(len(live)))))
            else:
                self.ops.append(("alloc", r.choice([0, 0, 1, 2])))
                live.append(made)
                made += 1
        return [("machine", "one node of 16 pages (PFN 0-15), one free block of order 4"),
                ("operations", "; ".join(f"alloc order {a}" if op == "alloc" else
                                         f"free allocation #{a + 1}" for op, a in self.ops))]

    def problem(self):
        return ["Allocation takes the smallest free block that fits (the most recently freed",
                "first) and splits it, giving back upper halves; freeing merges with free",
                "buddies.  Allocations are numbered #1, #2, ... in the order made.  After",
                "each step: the PFN an allocation returns, and the number of free blocks",
                "of each order 0 1 2 3 4 (as /proc/buddyinfo counts them)."] + \
            [f"  {i + 1}. {self._opname(op, a)}?" for i, (op, a) in enumerate(self.ops)]

    def _opname(self, op, a):
        return f"alloc order {a}" if op == "alloc" else f"free #{a + 1}"

    def solve(self):
        k = Kernel(parse_machine(BUDDY_MACHINE, source="quiz"))
        try:
            live = []
            answers = []
            for op, a in self.ops:
                if op == "alloc":
                    p = k.alloc_pages_node(0, GFP_KERNEL | GFPF_NOWARN, a)
                    live.append((p, a))
                    got = f"pfn {p.pfn}" if p else "fails"
                else:
                    p, order = live[a]
                    if p is not None:
                        free_pages(k, p, order)
                    got = "-"
                # /proc/buddyinfo: "Node 0, zone   Normal   n0 n1 n2 ..."
                counts = " ".join(k.fs.read("/proc/buddyinfo").split()[4:9])
                answers.append(f"{got}; free blocks {counts}")
            return answers
        finally:
            k.shutdown()


class HotplugTopic(Topic):
    name = "hotplug"
    summary = "what hotplug operations return, and which notifiers see which actions"
    ERRNO = "CONFIG_KMODEL_HOTPLUG_ERRNO=y"

    def setup(self):
        r = self.rng
        self.fail_prio = r.choice([30, 20, 10])
        self.fail_action = r.choice([CPU_UP_PREPARE, CPU_DOWN_PREPARE])
        self.cpu = r.randrange(1, 4)
        self.errno = r.random() < 0.4
        self.ops = [("down", self.cpu), ("up", self.cpu)]
        if self.fail_action == CPU_DOWN_PREPARE:
            self.ops = [("down", self.cpu)]
        kernel = (f"{self.ERRNO}: a failed operation returns the notifier's errno, as Linux "
                  "does since 2.6.35" if self.errno else
                  "2.6.29: a failed operation returns -EINVAL, whatever the notifier said")
        return [("machine", "uma (CPUs 0-3)"), ("kernel", kernel),
                ("notifiers", "A prio 30, B prio 20, C prio 10 (higher first)"),
                ("failure", f"the notifier at prio {self.fail_prio} fails "
                            f"{action_name(self.fail_action)} for want of memory"),
                ("operations", ", ".join(f"cpu_{o}({c})" for o, c in self.ops))]

    def problem(self):
        return ["cpu_down sends CPU_DOWN_PREPARE, then CPU_DYING (on the dying CPU),",
                "CPU_DEAD, and CPU_POST_DEAD once the hotplug lock is released; cpu_up",
                "sends CPU_UP_PREPARE, then CPU_STARTING (on the new CPU) and CPU_ONLINE.",
                "A PREPARE that fails stops the chain: the notifiers that had succeeded",
                "(those called before the failing one) hear CPU_UP_CANCELED or",
                "CPU_DOWN_FAILED; the failing one and those after it hear nothing more."] + \
            [f"  {i + 1}. cpu_{o}({c}) returns?" for i, (o, c) in enumerate(self.ops)] + \
            [f"  {len(self.ops) + i + 1}. actions seen by {n}?" for i, n in enumerate("ABC")]

    def solve(self):
        k = boot("uma", config=[self.ERRNO] if self.errno else [])
        try:
            seen = {n: [] for n in "ABC"}
            for n, prio in zip("ABC", (30, 20, 10)):
                def cb(nb, action, cpu, n=n, prio=prio):
                    seen[n].append(action_name(action))
                    if prio == self.fail_prio and action == self.fail_action:
                        return k.hotplug.notifier_error(-ENOMEM)
                    return NOTIFY_OK
                k.register_cpu_notifier(notifier_block(cb, prio, name=n))
            rets = []
            for op, cpu in self.ops:
                ret = k.cpu_down(cpu) if op == "down" else k.cpu_up(cpu)
                rets.append(f"-{errno_name(ret)}" if ret else "0")
            return rets + [", ".join(seen[n]) or "nothing" for n in "ABC"]
        finally:
            k.shutdown()


class PlacementTopic(Topic):
    name = "placement"
    summary = "the modeled cost of a write under node-local and mainline placement"

    def setup(self):
        r = self.rng
        self.machine = r.choice([DEFAULT_PRESET, "xeon-2s-skylake", "nehalem-2009"])
        self.length = r.choice([64, 256, 1024, 4096])
        self.offset = r.randrange(16) * 256
        # a buffer that fits the caches, or (where the machine has the memory) one
        # four times the largest last-level cache of the presets here
        self.pages = r.choice([4, 4096]) if self.machine != DEFAULT_PRESET else 4
        return [("machine", self.machine), ("backend", f"vmap ({self.pages} pages per CPU)"),
                ("write", f"{self.length} bytes at offset {self.offset:#x} by the first CPU "
                          "of the last node; the channel was opened on CPU 0 (node 0)")]

    def problem(self):
        return ["CPU 0 zeroed every page when it opened the channel, so a line's first",
                "touch takes it from where that left it: CPU 0's cache for the last",
                "LLC's worth zeroed, memory for the rest.  From another CPU's cache, a",
                "line goes through its home node, at the DRAM bandwidth of the farther of",
                "the two nodes (the LLC's when both are the writer's); from memory, at the",
                "DRAM bandwidth of its node's distance.  A page's first touch also misses",
                "the 4 KiB TLB: a page walk.  kmodel machine show PRESET prints every",
                "figure (docs/model.md has the rules).",
                "  1. modeled cycles with placement=local?",
                "  2. modeled cycles with placement=opener (mainline relay)?",
                "  3. remote bytes with placement=opener?"]

    def solve(self):
        out = []
        remote = 0
        for placement in ("local", "opener"):
            k = boot(self.machine)
            try:
                k.modules.insmod("ltt_relay_alloc")
                chan = ltt_relay_open(k, "q", None, PAGE_SIZE * self.pages // 4, 4, None,
                                      backend="vmap", placement=placement)
                cpu = min(c for c in k.cpu_online_mask
                          if k.cpu_to_node(c) == k.spec.nr_nodes - 1)
                k.timing.reset()
                ltt_relay_write(chan.buf[cpu], self.offset, bytes(self.length), self.length)
                t = k.timing.totals()
                out.append(f"{t['cycles']:,}")
                remote = t["bytes_remote"]
            finally:
                k.shutdown()
        return out + [str(remote)]


class InterleaveTopic(Topic):
    name = "interleave"
    summary = "a task and an interrupt (or two CPUs) share a counter: what one schedule does"

    def setup(self):
        from kmodel.scenarios.races import RACES
        r = self.rng
        self.race = r.choice(["lost-update", "local-remote", "cmpxchg-loop"])
        self.fixed = r.random() < 0.3
        self.sched_seed = r.randrange(1000)
        return [("machine", DEFAULT_PRESET), ("scenario", f"{self.race}"
                                       f"{'-fixed' if self.fixed else ''}: "
                                       f"{RACES[self.race].title}"),
                ("schedule", f"random, seed {self.sched_seed}")]

    def _run(self, k):
        from kmodel.cpu.explore import RandomChooser
        from kmodel.cpu.sched import Run, World
        from kmodel.scenarios.races import RACES
        world = World(k)
        state = RACES[self.race].setup(world, self.fixed)
        run = Run(k, world, RandomChooser(self.sched_seed, 0), trace=True)
        run.run()
        return state, run

    def problem(self):
        import re
        k = boot(DEFAULT_PRESET)
        try:
            state, run = self._run(k)
        finally:
            k.shutdown()
        self.state = state
        steps = [re.sub(r" = [^;]*", "", line) for line in run.trace]
        return (["The scheduler ran these steps, in this order (each does the one",
                 "operation named; '= value' is left out):"] + steps +
                ["", f"  {state.var.name} at the end?",
                 "  was an update lost (yes/no)?",
                 "  schedules with at most 1 preemption (exhaustive, bound 1)?"])

    def solve(self):
        from kmodel.cpu.explore import explore
        from kmodel.scenarios.races import get_race
        setup, check = get_race(self.race + ("-fixed" if self.fixed else ""))
        k = boot(DEFAULT_PRESET)
        try:
            res = explore(setup, check, strategy="exhaustive", runs=10**6, bound=1,
                          kernel=k)
            n = res.runs if res.complete else f"more than {res.runs}"
            if not res.ok:          # stops at the first failure: count them all
                res = explore(setup, None, strategy="exhaustive", runs=10**6, bound=1,
                              kernel=k)
                n = res.runs
        finally:
            k.shutdown()
        v = self.state.var.counter
        return [v, "yes" if v != self.state.want else "no", n]


TOPICS = {t.name: t for t in (WalkTopic, CacheTopic, BuddyTopic, HotplugTopic, PlacementTopic,
                              InterleaveTopic)}


def cmd_quiz(args, out):
    if args.topic is None:
        out.write("topics:\n" + "".join(f"  {n:<10} {t.summary}\n" for n, t in TOPICS.items()))
        out.write("\nkmodel quiz TOPIC [-s SEED] [-c]\n")
        return 0
    cls = TOPICS.get(args.topic)
    if cls is None:
        raise UsageError(f"no quiz topic {args.topic!r} (topics: {', '.join(TOPICS)})")
    t = cls(args.seed)
    params = t.setup()
    out.write(f"ARG topic {args.topic}\nARG seed {args.seed}\n")
    for key, value in params:
        out.write("\n".join(textwrap.wrap(f"ARG {key} {value}", 78,
                                          subsequent_indent="    ")) + "\n")
    out.write("\n")
    questions = t.problem()
    answers = t.solve() if args.compute else None
    qi = 0
    for line in questions:
        if line.startswith("  ") and line.rstrip().endswith("?"):
            out.write(f"{line}  {answers[qi] if answers else '?'}\n")
            qi += 1
        else:
            out.write(line + "\n")
    if not args.compute:
        out.write("\n(run again with -c for the answers)\n")
    return 0


def add_parser(sub):
    """add_parser - add ``kmodel quiz [TOPIC]`` to sub, the subparsers of
    kmodel's top-level parser (kmodel.cli.main)."""
    s = sub.add_parser("quiz", help="exercises with answers (-c), OSTEP style")
    s.add_argument("topic", nargs="?", help="walk, cache, buddy, hotplug, placement")
    s.add_argument("-s", "--seed", type=SEED, default=0)
    s.add_argument("-c", "--compute", action="store_true", help="print the answers")
    s.set_defaults(func=cmd_quiz)
