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

Replay tokens: ``kx2-`` then base64 of the run's choice indices (varints,
zlib, whose Adler-32 checksum catches a damaged token).  Replaying one runs
the same steps in the same order, so the trace and the modeled cost are the
same; a token that was damaged, or that does not fit the scenario (a choice
past the enabled entities, a run that goes on after its last choice or ends
before it), is refused with the reason.  A token is untrusted input, so its
work is bounded before it is done: at most ``max_steps`` choices, each below
2^21 (three varint bytes), so at most 3 * max_steps bytes once inflated
(zlib.decompressobj with max_length: a small token that inflates to
megabytes is refused after that many), and a text no longer than such a
schedule's can be.  The version in the prefix changes when the scheduler's
rules change what a choice index picks: ``kx1-`` tokens were made before
hardirqs nested as in 2.6.29, and are refused with that reason.

A search can be asked to stop (``stop``, a function the explorer calls
between runs and every 1,024 steps): it then returns what it searched so
far, with ``interrupted`` set; the run it stopped in is not counted.
"""
import base64
import random
import zlib
from dataclasses import dataclass, field
from enum import StrEnum

from kmodel.cpu.sched import Run, RunFailed, ScheduleError, SearchStopped, World, run_cost


class Strategy(StrEnum):
    """How the explorer chooses schedules (the words of --strategy)."""
    RANDOM = "random"
    PCT = "pct"
    EXHAUSTIVE = "exhaustive"


STRATEGIES = tuple(Strategy)
TOKEN_PREFIX = "kx2-"
# Tokens of earlier schedulers, whose indices may now pick other contexts:
OLD_TOKENS = {"kx1-": "before hardirqs nested as in 2.6.29 (a hardirq may now arrive on "
                      "top of another, so the same indices can pick other contexts)"}
MAX_CHOICE_BYTES = 3                    # a choice index is below 2^21
MAX_CHOICE = (1 << 7 * MAX_CHOICE_BYTES) - 1
DEFAULT_MAX_STEPS = 100_000
# The range of each of explore's numbers, and a cap on a search's work (runs x
# steps a run): checked by explore() before a run, and taken by the command
# line's options (kmodel/cli/explore_cmd.py).  The cap lets the most runs go at
# the default steps a run (an exhaustive search given runs=10**7 as "until
# every schedule is seen", as kmodel bench's is), not more.
LIMITS = {"runs": (1, 10_000_000), "bound": (0, 1000), "depth": (1, 64),
          "max_steps": (1, 1_000_000), "seed": (0, (1 << 32) - 1)}
MAX_SEARCH_STEPS = 1_000_000_000_000


def check_limits(**values):
    """check_limits - each of explore's numbers (runs=, bound=, ...) a whole
    number in its LIMITS range, and runs x max_steps within MAX_SEARCH_STEPS;
    a ScheduleError names the first that is not."""
    for name, v in values.items():
        lo, hi = LIMITS[name]
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise ScheduleError(f"--{name.replace('_', '-')} {v!r}: must be a whole number "
                                f"in {lo:,}..{hi:,}")
    work = values.get("runs", 1) * values.get("max_steps", 1)
    if work > MAX_SEARCH_STEPS:
        raise ScheduleError(f"--runs {values['runs']:,} x --max-steps "
                            f"{values['max_steps']:,} = {work:,} steps: at most "
                            f"{MAX_SEARCH_STEPS:,} a search")


# --- choosers -------------------------------------------------------------------
class RandomChooser:
    """Any enabled context, uniformly.  The scheduler's loop draws itself
    (draw: the same random() and the same arithmetic as choose)."""

    def __init__(self, seed, run):
        self.draw = random.Random(f"random:{seed}:{run}").random

    def choose(self, step, enabled, last):
        return int(self.draw() * len(enabled))


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
        if not 0 <= c <= MAX_CHOICE:
            raise ValueError(f"a choice index must lie in 0..{MAX_CHOICE}, not {c}")
        while c >= 0x80:
            raw.append((c & 0x7F) | 0x80)
            c >>= 7
        raw.append(c)
    body = zlib.compress(bytes(raw), 9)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(body).decode().rstrip("=")


def token_caps(max_choices):
    """(characters, inflated bytes): the most a token of at most max_choices
    choices can take, written and inflated (the deflated size at most zlib's
    compressBound of the inflated one, as zlib's compress.c computes it)."""
    raw = MAX_CHOICE_BYTES * max_choices
    deflated = raw + (raw >> 12) + (raw >> 14) + (raw >> 25) + 13
    return len(TOKEN_PREFIX) + (deflated + 2) // 3 * 4, raw


def decode_token(token, max_choices=DEFAULT_MAX_STEPS):
    """decode_token - the choice list of a token of at most max_choices
    choices; ScheduleError if it is damaged, or larger than such a token can
    be (checked before its text is decoded, and while it inflates)."""
    for old, why in OLD_TOKENS.items():
        if isinstance(token, str) and token.startswith(old):
            raise ScheduleError(f"replay token {token[:24]}...: made by an older kmodel, {why}; "
                                "find the failure again with the same --strategy and --seed "
                                f"(its token now starts {TOKEN_PREFIX!r})")
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
        raise ScheduleError(f"replay token {str(token)[:40]!r} does not start with "
                            f"{TOKEN_PREFIX!r}")
    max_chars, max_raw = token_caps(max_choices)
    if len(token) > max_chars:
        raise ScheduleError(f"replay token is too long: {len(token):,} characters, more "
                            f"than the {max_chars:,} a schedule of max_steps "
                            f"{max_choices:,} can take")
    text = token[len(TOKEN_PREFIX):]
    try:
        blob = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise ScheduleError("replay token is corrupt: not base64") from None
    z = zlib.decompressobj()
    try:
        raw = z.decompress(blob, max_raw + 1)
    except zlib.error:
        raise ScheduleError("replay token is corrupt: its checksum or contents do not "
                            "match") from None
    if len(raw) > max_raw:
        raise ScheduleError(f"replay token inflates to more than {max_raw:,} bytes, the "
                            f"most that max_steps {max_choices:,} choices take: refused")
    if not z.eof or z.unused_data:
        raise ScheduleError("replay token is corrupt: it is cut short or has bytes after "
                            "its end")
    return _varints(raw, max_choices)


def _varints(raw, max_choices):
    out, cur, shift = [], 0, 0
    for b in raw:
        if shift >= 7 * MAX_CHOICE_BYTES:
            raise ScheduleError(f"replay token is corrupt: a choice index above "
                                f"{MAX_CHOICE:,}")
        cur |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            out.append(cur)
            cur, shift = 0, 0
    if shift:
        raise ScheduleError("replay token is corrupt: it ends inside a number")
    if len(out) > max_choices:
        raise ScheduleError(f"replay token holds {len(out):,} choices, more than max_steps "
                            f"{max_choices:,}")
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
    interrupted: bool = False   # stop() asked the search to end before it was done
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


def _one_run(kernels, setup, check, chooser, max_steps, trace, stacks=False, cover=None,
             stop=None):
    """Run once: (Run, failure message or None, cost, dmesg lines).  cover, a
    Coverage, counts the yield points the run reaches; stop() true stops the
    run between two steps (SearchStopped)."""
    k = kernels.get()
    try:
        k.timing.reset()
        seq = k.log.seq
        world = World(k)
        state = setup(world)
        r = Run(k, world, chooser, check, state, max_steps, trace, stacks, cover, stop)
        msg = None
        if cover is not None:
            cover.start_run()
        try:
            r.run()
        except RunFailed as e:
            msg = str(e)
        if cover is not None:
            cover.end_run()
        return r, msg, run_cost(k), list(k.log.since(seq))
    finally:
        kernels.put(k)


def explore(setup, check=None, strategy=Strategy.RANDOM, runs=100, seed=0, bound=2, depth=3,
            replay=None, kernel=None, max_steps=DEFAULT_MAX_STEPS, stacks=False,
            coverage=None, stop=None):
    """explore - run a scenario under many schedules; stop at the first failure.

    setup(world) declares the entities (world.task, world.irq) on world.k and
    returns a state; check(state, final) returns a message when an invariant
    does not hold (after every step with final False, at the end with final
    True), else None.  kernel is a booted Kernel shared by every run (setup
    must build fresh state each time), or a callable that boots a new one per
    run (kmodel.api.explore boots one when given none).  With replay=TOKEN, that one
    schedule runs, with its trace (and with stacks=True, every CPU's context
    stack after each step).  coverage, a kmodel.cpu.coverage.Coverage, counts
    the yield points and windows the search's runs reach.  stop, a function,
    ends the search when it returns true (asked between runs and every 1,024
    steps; the result says interrupted).  Returns an ExploreResult."""
    if strategy not in STRATEGIES:
        raise ScheduleError(f"unknown strategy {strategy!r} (strategies: "
                            f"{', '.join(STRATEGIES)})")
    strategy = Strategy(strategy)
    check_limits(runs=runs, bound=bound, depth=depth, max_steps=max_steps, seed=seed)
    choices = decode_token(replay, max_steps) if replay is not None else None
    kernels = _Kernels(kernel)
    res = ExploreResult("replay" if replay is not None else str(strategy))
    seen = set()

    def once(chooser, run_index, trace=False):
        if stop is not None and stop():
            raise SearchStopped()
        r, msg, cost, dmesg = _one_run(kernels, setup, check, chooser, max_steps, trace,
                                       stacks, coverage, stop)
        res.runs += 1
        res.steps += r.steps
        res.cost = cost
        seen.add(tuple(r.choices))
        res.distinct = len(seen)
        if msg is not None:
            res.failure = Failure(run_index, encode_token(r.choices), msg, r.steps,
                                  r.trace or [], r.stacks, dmesg, cost)
        return r

    try:
        if choices is not None:
            _replay(once, choices, res)
            return res
        if strategy is Strategy.EXHAUSTIVE:
            _exhaustive(once, runs, bound, res)
        else:
            _sample(once, strategy, runs, seed, depth, res)
    except SearchStopped:
        res.interrupted = True
        return res
    if res.failure is not None:         # its trace, by replaying its token
        failure = res.failure
        r, _, _, _ = _one_run(kernels, setup, check,
                              ReplayChooser(decode_token(failure.token, max_steps)), max_steps,
                              True)
        failure.trace = r.trace
    return res


def _replay(once, choices, res):
    """The one run of a token, which must use every choice it has and no more."""
    r = once(ReplayChooser(choices), 0, trace=True)
    if r.steps != len(choices):
        how = "failed" if res.failure is not None else "ended"
        res.failure = None
        raise ScheduleError(f"replay token does not fit this scenario: it has "
                            f"{len(choices)} steps, the run {how} after {r.steps}")
    res.trace = r.trace


def _sample(once, strategy, runs, seed, depth, res):
    """random and pct: runs runs, each under a chooser of its own."""
    est = None
    for i in range(runs):
        r = once(_sample_chooser(strategy, seed, i, depth, est), i)
        est = est or r.steps
        if res.failure:
            break


def _exhaustive(once, runs, bound, res, root=()):
    """Depth first over the schedules within the preemption bound, from the
    schedule prefix root (the whole search: the empty prefix)."""
    stack = [list(root)]
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
        stack.extend(reversed(_branches(prefix, chooser, bound)))
    res.complete = True


def _branches(prefix, chooser, bound):
    """The prefixes of the schedules that branch off a run of prefix (its
    chooser's log) within the bound, in the search's order."""
    made = [entry[1] for entry in chooser.log]
    branches = []
    for step in range(len(prefix), len(chooser.log)):
        enabled, chosen, pre, going = chooser.log[step]
        for j, e in enumerate(enabled):
            if j != chosen and pre + (going is not None and e is not going) <= bound:
                branches.append(made[:step] + [j])
    return branches


# --- a search in chunks, for an executor (kmodel.perf.executor via the CLI) --------
def _sample_chooser(strategy, seed, i, depth, est):
    """The chooser of run i of a random or PCT search, as _sample makes it."""
    if strategy is Strategy.RANDOM:
        return RandomChooser(seed, i)
    if i == 0:                          # PCT's first run measures the run length
        return PrefixChooser([])
    return PCTChooser(seed, i, depth, est)


def sample_chunk(setup, check, strategy, seed, depth, est, indices, kernel,
                 max_steps=DEFAULT_MAX_STEPS, coverage=None):
    """sample_chunk - runs indices of a random or PCT search (est: PCT's run
    length, from run 0), as explore would run them, stopping after the first
    that fails: [(steps, choices, message or None, cost, dmesg, coverage)]
    (coverage: a Coverage given counts each run, and the record keeps the
    run's counts, Coverage.take_run; else None).  One chunk of a search split
    over workers; merge_chunks puts them together."""
    strategy = Strategy(strategy)
    kernels = _Kernels(kernel)
    out = []
    for i in indices:
        _, rec = _record(kernels, setup, check, _sample_chooser(strategy, seed, i, depth, est),
                         max_steps, coverage)
        out.append(rec)
        if rec[2] is not None:
            break
    return out


def _record(kernels, setup, check, chooser, max_steps, cover=None):
    r, msg, cost, dmesg = _one_run(kernels, setup, check, chooser, max_steps, False,
                                   cover=cover)
    return r, (r.steps, tuple(r.choices), msg, cost, dmesg,
               cover.take_run() if cover is not None else None)


def exhaustive_root(setup, check, bound, kernel, max_steps=DEFAULT_MAX_STEPS, coverage=None):
    """exhaustive_root - the exhaustive search's first run (the empty prefix):
    (its record, the prefixes that branch off it, in the search's order).
    Each prefix's subtree is a chunk (exhaustive_chunk); in that order they
    are the search.  coverage: as sample_chunk's."""
    chooser = PrefixChooser([])
    _, rec = _record(_Kernels(kernel), setup, check, chooser, max_steps, coverage)
    return rec, _branches([], chooser, bound)


def exhaustive_chunk(setup, check, prefix, runs, bound, kernel, max_steps=DEFAULT_MAX_STEPS,
                     coverage=None):
    """exhaustive_chunk - the exhaustive search under prefix, depth first as
    explore runs it, at most runs, stopping after the first failure:
    (records, whether the subtree was all run).  coverage: as sample_chunk's."""
    kernels = _Kernels(kernel)
    res = ExploreResult(str(Strategy.EXHAUSTIVE))
    out = []

    def once(chooser, i, trace=False):
        _, rec = _record(kernels, setup, check, chooser, max_steps, coverage)
        out.append(rec)
        if rec[2] is not None:
            res.failure = True
    _exhaustive(once, runs, bound, res, prefix)
    return out, res.complete


def merge_chunks(strategy, chunks, runs=None, complete=False, coverage=None):
    """merge_chunks - the ExploreResult of a search's chunks (lists of
    sample_chunk's or exhaustive_chunk's records, in the search's order):
    what explore returns for the same runs, up to and with the first failure,
    at most runs of them; complete: every chunk ran its whole subtree (the
    exhaustive search).  Its failure's trace is not replayed (the caller
    does, with the failure's token).  coverage, a Coverage, counts the
    records' runs it merges (Coverage.add_run), in the search's order."""
    res = ExploreResult(str(Strategy(strategy)))
    seen = set()
    total = sum(len(c) for c in chunks)
    res.complete = complete and (runs is None or total <= runs)
    for chunk in chunks:
        for steps, choices, msg, cost, dmesg, counted in chunk:
            if runs is not None and res.runs >= runs:
                return res
            if coverage is not None:
                coverage.add_run(counted)
            i = res.runs
            res.runs += 1
            res.steps += steps
            res.cost = cost
            seen.add(choices)
            res.distinct = len(seen)
            if msg is not None:
                res.failure = Failure(i, encode_token(list(choices)), msg, steps, [], [],
                                      dmesg, cost)
                res.complete = False
                return res
    return res


def replay_failure(res, setup, check, kernel, max_steps=DEFAULT_MAX_STEPS):
    """replay_failure - fill in the trace of res's failure by replaying its token."""
    if res.failure is not None:
        r, _, _, _ = _one_run(_Kernels(kernel), setup, check,
                              ReplayChooser(decode_token(res.failure.token, max_steps)),
                              max_steps, True)
        res.failure.trace = r.trace
    return res
