"""The interleaving explorer: many runs of one scenario, each under a schedule
chosen by a strategy, with a replay token for any failure.

Strategies (each a *chooser* that picks an index in the enabled list):

- ``random``: uniform among the enabled entities, seeded per run.
- ``pct``: probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi
  and Nagarakatte, ASPLOS 2010).  Each entity gets a random priority above
  ``depth``; the highest enabled one runs; at depth-1 random steps (out of the
  steps a run takes, measured by a first run) the running entity drops to a
  priority below all others.  A bug that needs d ordering constraints is found
  with probability at least 1/(n k^(d-1)) per run.
- ``exhaustive``: every schedule with at most ``bound`` preemptions, as CHESS
  does (Musuvathi and Qadeer, PLDI 2007).  A preemption is choosing another
  entity while the one that ran last is still enabled; an interrupt arriving
  on top of a running context is one.  It is a depth-first search that replays
  each schedule from the start (stateless model checking).

Replay tokens: ``kx1-`` then base64 of the run's choice indices (varints,
zlib, whose Adler-32 checksum catches a damaged token).  Replaying one runs the same steps in the same order, so the
trace and the modeled cost are the same; a token that was damaged, or that
does not fit the scenario, is refused with the reason.
"""
import base64
import random
import zlib
from dataclasses import dataclass, field
from enum import StrEnum

from kmodel.cpu.sched import Run, RunFailed, ScheduleError, World, run_cost


class Strategy(StrEnum):
    """How the explorer chooses schedules (the words of --strategy)."""
    RANDOM = "random"
    PCT = "pct"
    EXHAUSTIVE = "exhaustive"


STRATEGIES = tuple(Strategy)
TOKEN_PREFIX = "kx1-"


# --- choosers -------------------------------------------------------------------
class RandomChooser:
    def __init__(self, seed, run):
        self.random = random.Random(f"random:{seed}:{run}").random

    def choose(self, step, enabled, last):
        return int(self.random() * len(enabled))


class PCTChooser:
    def __init__(self, seed, run, depth, est_steps):
        self.rng = rng = random.Random(f"pct:{seed}:{run}")
        self.depth = depth
        self.prio = {}
        k = max(est_steps, depth)
        self.change = {s: i for i, s in
                       enumerate(sorted(rng.sample(range(k), depth - 1)))}

    def _prio(self, e):
        p = self.prio.get(e.eid)
        if p is None:
            p = self.prio[e.eid] = self.depth + self.rng.random()
        return p

    def choose(self, step, enabled, last):
        best = max(range(len(enabled)), key=lambda i: self._prio(enabled[i]))
        i = self.change.get(step)
        if i is not None:
            self.prio[enabled[best].eid] = i        # below every initial priority
            best = max(range(len(enabled)), key=lambda j: self._prio(enabled[j]))
        return best


class PrefixChooser:
    """Follows a prefix of choices, then never preempts: the one that ran last
    goes on while it can, else the first enabled.  Logs what exhaustive search
    needs to branch: each step's enabled entities, choice and preemptions."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.preemptions = 0
        self.log = []

    def choose(self, step, enabled, last):
        going = last is not None and last in enabled    # could go on: not preempted
        if step < len(self.prefix):
            i = self.prefix[step]
        elif going:
            i = enabled.index(last)
        else:
            i = 0
        self.log.append((enabled, i, self.preemptions, last if going else None))
        if going and enabled[i] is not last:
            self.preemptions += 1
        return i


class ReplayChooser:
    def __init__(self, choices):
        self.choices = choices

    def choose(self, step, enabled, last):
        if step >= len(self.choices):
            raise ScheduleError(f"replay token does not fit this scenario: it ends at step "
                                f"{len(self.choices)} but the run goes on")
        i = self.choices[step]
        if i >= len(enabled):
            raise ScheduleError(f"replay token does not fit this scenario: step {step + 1} "
                                f"chooses entity #{i} of {len(enabled)} enabled")
        return i


# --- tokens ---------------------------------------------------------------------
def encode_token(choices):
    raw = bytearray()
    for c in choices:
        while c >= 0x80:
            raw.append((c & 0x7F) | 0x80)
            c >>= 7
        raw.append(c)
    body = zlib.compress(bytes(raw), 9)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(body).decode().rstrip("=")


def decode_token(token):
    """decode_token - the choice list of a token; ScheduleError if it is damaged."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
        raise ScheduleError(f"replay token {str(token)[:40]!r} does not start with "
                            f"{TOKEN_PREFIX!r}")
    text = token[len(TOKEN_PREFIX):]
    try:
        blob = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise ScheduleError("replay token is corrupt: not base64") from None
    try:
        raw = zlib.decompress(blob)
    except zlib.error:
        raise ScheduleError("replay token is corrupt: its checksum or contents do not "
                            "match") from None
    out, cur, shift = [], 0, 0
    for b in raw:
        cur |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            out.append(cur)
            cur, shift = 0, 0
    if shift:
        raise ScheduleError("replay token is corrupt: it ends inside a number")
    return out


# --- results --------------------------------------------------------------------
@dataclass
class Failure:
    run: int                    # which run (0-based) found it
    token: str
    message: str
    steps: int
    trace: list                 # the steps of the failing schedule, one line each
    stacks: list                # each CPU's contexts when it failed
    dmesg: list                 # what the kernel logged during the run
    cost: dict


@dataclass
class ExploreResult:
    strategy: str
    runs: int = 0
    steps: int = 0
    distinct: int = 0           # distinct interleavings (choice sequences) run
    complete: bool = False      # exhaustive: every schedule within the bound was run
    failure: Failure = None
    trace: list = field(default_factory=list)   # replay: the run's steps
    cost: dict = field(default_factory=dict)    # modeled cost of the last run

    @property
    def ok(self):
        return self.failure is None


# --- the explorer ---------------------------------------------------------------
class _Kernels:
    """A kernel for each run: one shared kernel, or a new one from a factory
    (whose kernels are shut down after their run)."""

    def __init__(self, kernel):
        if kernel is None:
            raise ScheduleError("explore needs a kernel: a booted one, or a function that "
                                "boots one per run (kmodel.api.explore boots one for you)")
        self.factory = kernel if callable(kernel) and not hasattr(kernel, "cpu_exec") \
            else None
        self.shared = None if self.factory else kernel

    def get(self):
        return self.factory() if self.factory else self.shared

    def put(self, k):
        if self.factory:
            k.shutdown()


def _one_run(kernels, setup, check, chooser, max_steps, trace, stacks=False):
    """Run once: (Run, failure message or None, cost, dmesg lines)."""
    k = kernels.get()
    try:
        k.timing.reset()
        seq = k.log.seq
        world = World(k)
        state = setup(world)
        r = Run(k, world, chooser, check, state, max_steps, trace, stacks)
        msg = None
        try:
            r.run()
        except RunFailed as e:
            msg = str(e)
        return r, msg, run_cost(k), list(k.log.since(seq))
    finally:
        kernels.put(k)


def explore(setup, check=None, strategy=Strategy.RANDOM, runs=100, seed=0, bound=2, depth=3,
            replay=None, kernel=None, max_steps=100_000, stacks=False):
    """explore - run a scenario under many schedules; stop at the first failure.

    setup(world) declares the entities (world.task, world.irq) on world.k and
    returns a state; check(state, final) returns a message when an invariant
    does not hold (after every step with final False, at the end with final
    True), else None.  kernel is a booted Kernel shared by every run (setup
    must build fresh state each time), or a callable that boots a new one per
    run (kmodel.api.explore boots one when given none).  With replay=TOKEN, that one
    schedule runs, with its trace (and with stacks=True, every CPU's context
    stack after each step).  Returns an ExploreResult."""
    if strategy not in STRATEGIES:
        raise ScheduleError(f"unknown strategy {strategy!r} (strategies: "
                            f"{', '.join(STRATEGIES)})")
    strategy = Strategy(strategy)
    for name, v, lo in (("runs", runs, 1), ("bound", bound, 0), ("depth", depth, 1)):
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise ScheduleError(f"--{name} {v!r}: must be a whole number >= {lo}")
    choices = decode_token(replay) if replay is not None else None
    kernels = _Kernels(kernel)
    res = ExploreResult("replay" if replay is not None else str(strategy))
    seen = set()

    def once(chooser, run_index, trace=False):
        r, msg, cost, dmesg = _one_run(kernels, setup, check, chooser, max_steps, trace,
                                       stacks)
        res.runs += 1
        res.steps += r.steps
        res.cost = cost
        seen.add(tuple(r.choices))
        res.distinct = len(seen)
        if msg is not None:
            res.failure = Failure(run_index, encode_token(r.choices), msg, r.steps,
                                  r.trace or [], r.stacks, dmesg, cost)
        return r

    if choices is not None:
        r = once(ReplayChooser(choices), 0, trace=True)
        if r.steps < len(choices) and res.failure is None:
            raise ScheduleError(f"replay token does not fit this scenario: it has "
                                f"{len(choices)} steps, the run ended after {r.steps}")
        res.trace = r.trace
        return res
    if strategy is Strategy.EXHAUSTIVE:
        _exhaustive(once, runs, bound, res)
    else:
        est = None
        for i in range(runs):
            if strategy is Strategy.RANDOM:
                chooser = RandomChooser(seed, i)
            elif est is None:           # PCT's first run measures the run length
                chooser = PrefixChooser([])
            else:
                chooser = PCTChooser(seed, i, depth, est)
            r = once(chooser, i)
            est = est or r.steps
            if res.failure:
                break
    if res.failure is not None:         # its trace, by replaying its token
        failure = res.failure
        r, _, _, _ = _one_run(kernels, setup, check,
                              ReplayChooser(decode_token(failure.token)), max_steps, True)
        failure.trace = r.trace
    return res


def _exhaustive(once, runs, bound, res):
    stack = [[]]
    i = 0
    while stack:
        if i >= runs:
            return
        prefix = stack.pop()
        chooser = PrefixChooser(prefix)
        once(chooser, i)
        i += 1
        if res.failure:
            return
        made = [entry[1] for entry in chooser.log]
        branches = []
        for step in range(len(prefix), len(chooser.log)):
            enabled, chosen, pre, going = chooser.log[step]
            for j, e in enumerate(enabled):
                if j != chosen and pre + (going is not None and e is not going) <= bound:
                    branches.append(made[:step] + [j])
        stack.extend(reversed(branches))
    res.complete = True
