"""kmodel explore SCRIPT|builtin:NAME: search a scenario's interleavings.

Two kinds of scenario:

- a built-in race (``kmodel explore --list``): Python contexts on atomics,
  irq flags and spinlocks, in a buggy and a ``-fixed`` version, and the
  locking layers' scenarios (kmodel.scenarios.layer_races, layer_laps);
- a script: shell commands, where these lines declare what runs concurrently
  (each command is one step; anything else is run in order, before or after):

      task CPU COMMAND...         a command for CPU's task (repeat: a sequence)
      irq CPU COMMAND...          a hardirq that arrives once on CPU
      softirq CPU COMMAND... / nmi CPU COMMAND...
      always EXPECTATION...       an expect checked after every step

  Lines before the first declaration set up each run (every run boots a new
  kernel); after the last one, other commands run at the end of each run
  (a flush), and ``expect`` lines check how it ended.  An EXPECTATION is
  what ``expect`` takes (``always leaks == 0``, ``always /proc/x ~ RE``); one
  that expect would refuse, or a path that is not there when it is checked,
  is a usage error naming the line (exit 2), as is an unknown command.

--coverage adds which yield points of the layers and the atomics the search
reached (kmodel.cpu.coverage), and a lap scenario's windows.  SIGINT and
SIGTERM stop the search between two steps, with what it searched so far.

Exit status: 0 no failure found, 1 a failure (its replay token, the steps
that led there and each CPU's contexts), 2 bad usage, 130 or 143 stopped by
SIGINT or SIGTERM.
"""
import argparse

from hw.topology import DEFAULT_PRESET, load_preset
from kmodel.cli.run import HeaderError, check_scenario_machine, load_script, parse_header
from kmodel.cli.bounds import IntIn
from kmodel.cli.command import command_table
from kmodel.cli.errors import CommandFailed, ExpectationFailed, ScriptError, UsageError
from kmodel.cli.expect import check_expectation, parse_expectation
from kmodel.cli.shell import Shell
from kmodel.cli.split import split_words
from kmodel.cpu.context import HARDIRQ, NMI, SOFTIRQ, TASK
from kmodel.cli.bounds import IntIn
from kmodel.cpu.explore import (DEFAULT_MAX_STEPS, LIMITS, STRATEGIES, Strategy, check_limits,
                                explore)
from kmodel.cpu.sched import ScheduleError
from kmodel.kernel import boot
from kmodel.cli.signals import StopSignals
from kmodel.core.step import Op
from kmodel.scenarios.layer_laps import LAP_SCENARIOS, layer_coverage, make_lap_scenario
from kmodel.scenarios.layer_races import LAYER_RACES, make_layer_race
from kmodel.scenarios.races import RACES, find_race, get_race
from kmodel.session import Session

DECLARATIONS = {"task": TASK, "irq": HARDIRQ, "softirq": SOFTIRQ, "nmi": NMI}
TRACE_LINES = 40
DEFAULT_RUNS = {Strategy.RANDOM: 1000, Strategy.PCT: 1000, Strategy.EXHAUSTIVE: 100_000}


class _Step:
    """What a script context yields: the command it is about to run."""
    __slots__ = ("name",)

    def __init__(self, text):
        self.name = text


def run_commands(sh, commands):
    """A context that runs shell commands: one step each, or step by step for
    a command that has steps (a write through a locking layer)."""
    for words in commands:
        yield (Op.RUN, _Step(" ".join(words)))
        cmd = sh.commands.get(words[0])
        try:
            if cmd is not None and cmd.steps is not None:
                yield from cmd.steps(sh, words[1:])
            else:
                sh.run_words(words)
        except CommandFailed:
            pass                        # refused, as a shell goes on after one


class ScriptScenario:
    """A script split into setup, declarations and final checks."""

    def __init__(self, text, name, machine=None, config=None, seed=None):
        lines = text.splitlines()
        try:
            opts = parse_header(lines[0]) if lines else {}
        except HeaderError as e:
            raise ScriptError(f"{name}: {e}") from None
        self.machine = machine or opts.get("machine", DEFAULT_PRESET)
        self.config = (opts.get("config") or []) + list(config or [])
        self.seed = seed if seed is not None else opts.get("seed", 0)
        self.name = name
        self.setup_lines, self.final_lines, self.always = [], [], []
        self.tasks, self.irqs = {}, []
        seen_decl = False
        for no, line in enumerate(lines, 1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            head = s.split(None, 1)[0]
            if head in ("always", "expect"):    # expect's words, kept as written
                words = s.split()
            else:
                try:
                    words = split_words(s)
                except ValueError as e:
                    raise ScriptError(f"{name}:{no}: cannot parse: {e}") from None
            if head in DECLARATIONS or head == "always":
                seen_decl = True
                if self.final_lines:
                    raise ScriptError(f"{name}:{no}: a declaration after the final "
                                      "checks; declare every context first")
                if head == "always":
                    self.always.append(self._expectation(no, s, "always"))
                    continue
                if len(words) < 3:
                    raise ScriptError(f"{name}:{no}: {head} CPU COMMAND...")
                try:
                    cpu = int(words[1])
                except ValueError:
                    raise ScriptError(f"{name}:{no}: {head}: bad CPU {words[1]!r}") from None
                if DECLARATIONS[head] is TASK:
                    self.tasks.setdefault(cpu, []).append(words[2:])
                else:
                    self.irqs.append((cpu, DECLARATIONS[head], words[2:]))
            elif seen_decl:
                if head == "expect":
                    self.final_lines.append(self._expectation(no, s, "expect"))
                elif head not in command_table():
                    raise ScriptError(f"{name}:{no}: unknown command {head!r} (try: help)")
                else:
                    self.final_lines.append((no, s, None))
            else:
                self.setup_lines.append((no, s))
        if not self.tasks and not self.irqs:
            raise ScriptError(f"{name}: declares no task or interrupt to interleave "
                              "(task CPU COMMAND..., irq CPU COMMAND...)")
        self.sh = None

    def _expectation(self, no, line, head):
        """(line number, line, Expectation) of an always or final line: what
        follows its head is expect's arguments (an always line may repeat the
        word expect), refused as expect refuses them."""
        rest = line[len(head):].strip()
        if head == "always" and rest.split(None, 1)[:1] == ["expect"]:
            rest = rest[len("expect"):].strip()
        try:
            return no, line, parse_expectation(rest.split(None, 2))
        except ScriptError as e:
            raise ScriptError(f"{self.name}:{no}: {line!r}: {e}") from None

    def boot(self):
        """A new kernel for a run, on a new session (the last run's is closed)."""
        self.close()
        self.sh = Shell(self.machine, self.config, self.seed)
        return self.sh.k

    def close(self):
        if self.sh is not None:
            self.sh.close()
            self.sh = None

    def _exec(self, no, line):
        try:
            self.sh.execute(line)
        except CommandFailed:
            pass
        except ScriptError as e:
            raise ScheduleError(f"{self.name}:{no}: error: {e}") from None

    def setup(self, world):
        for no, line in self.setup_lines:
            self._exec(no, line)
        for cpu, cmds in sorted(self.tasks.items()):
            world.task(cpu, run_commands, self.sh, cmds, name=f"sh/{cpu}")
        for cpu, kind, words in self.irqs:
            world.irq(cpu, run_commands, self.sh, [words], name=words[0], kind=kind)
        self.oopses = len(self.sh.k.bug.oopses)
        return self

    def check(self, state, final):
        oopses = self.sh.k.bug.oopses
        if len(oopses) > self.oopses:
            return f"kernel oops: {oopses[-1]}"
        checks = self.always + (self.final_lines if final else [])
        for no, line, exp in checks:
            if exp is None:                 # a command the end runs before its checks
                self._exec(no, line)
                continue
            try:
                check_expectation(self.sh, exp)
            except ExpectationFailed as e:
                return f"{self.name}:{no}: {line}: {e}"
            except ScriptError as e:        # cannot be checked: the script is wrong
                raise ScheduleError(f"{self.name}:{no}: {line!r}: {e}") from None
        return None


class _Scenario:
    """What the arguments name: setup and check, the kernel (a booted one, on
    a session that close ends, or a function that boots one per run), and
    the windows its coverage report names."""

    def __init__(self, setup, check, kernel, close, windows=()):
        self.setup, self.check, self.kernel, self.close = setup, check, kernel, close
        self.windows = list(windows)


def _builtin(name):
    return name[len("builtin:"):] if name.startswith("builtin:") else None


def _scenario(args):
    builtin = _builtin(args.script)
    if builtin in LAYER_RACES or builtin in LAP_SCENARIOS:
        sess = Session(args.machine or DEFAULT_PRESET, config=args.config or ())
        try:
            sess.k.modules.insmod("ltt_relay_alloc")
        except BaseException:
            sess.close()
            raise
        sc = make_layer_race(builtin) or make_lap_scenario(builtin)
        return _Scenario(sc.setup, sc.check, sess.k, lambda: (sc.close(), sess.close()),
                         getattr(sc, "windows", list)())
    if builtin is not None and get_race(builtin):
        setup, check = get_race(builtin)
        race = find_race(builtin)
        if args.config:
            raise UsageError("--config applies to scripts; the built-in races boot "
                             "a plain kernel")
        machine = args.machine or race.machine or DEFAULT_PRESET
        if race.fresh_kernel:
            load_preset(machine)            # a bad name fails here, once
            return _Scenario(setup, check, lambda: boot(machine), lambda: None)
        sess = Session(machine)
        return _Scenario(setup, check, sess.k, sess.close)
    text, display = load_script(args.script)
    if display.startswith("builtin:"):
        check_scenario_machine(text, display, args.machine)
    sc = ScriptScenario(text, display, args.machine, args.config, args.seed_kernel)
    return _Scenario(sc.setup, sc.check, sc.boot, sc.close)


def list_builtins(out):
    for name in RACES:
        out.write(f"builtin:{name:<22} {RACES[name].title}\n")
    out.write("  (each also as builtin:NAME-fixed)\n")
    for name, (_, option, title) in LAYER_RACES.items():
        out.write(f"builtin:{name:<22} {title}\n")
    out.write("  (fixed; --config OPTION=y restores the bug: "
              + ", ".join(o for _, o, _ in LAYER_RACES.values() if o) + ")\n")
    for name, entry in LAP_SCENARIOS.items():
        out.write(f"builtin:{name:<22} {entry[-1]}\n")
    out.write("  (a reader polls while writers go round the buffer; --coverage shows "
              "what a search reached)\n")
    out.write("\nscripts: see docs/concurrency.md\n")


def cmd_explore(args, out):
    from kmodel.cli.explore_jobs import explore_split, parallel
    from kmodel.perf.executor import SchedulerError, check_scheduler
    try:
        check_scheduler(args.scheduler)
    except SchedulerError as e:
        raise UsageError(str(e)) from None
    if args.list:
        list_builtins(out)
        return 0
    if args.script is None:
        raise UsageError("explore: which scenario? (a script, builtin:NAME, or --list)")
    if args.strategy not in STRATEGIES:
        raise UsageError(f"unknown strategy {args.strategy!r} (strategies: "
                         f"{', '.join(STRATEGIES)})")
    if args.stacks and not args.replay:
        raise UsageError("--stacks goes with --replay TOKEN")
    runs = args.runs if args.runs is not None else DEFAULT_RUNS[Strategy(args.strategy)]
    try:                                # the search's size, before anything boots
        check_limits(runs=runs, max_steps=args.max_steps)
    except ScheduleError as e:
        raise UsageError(str(e)) from None
    cover = layer_coverage() if args.coverage else None
    with StopSignals() as stop:
        sc = _scenario(args)
        if not args.replay:
            out.write(f"explore {args.script}: {_how(args)}\n")
            out.flush()
        try:
            if parallel(args):
                try:
                    res = explore_split(args, sc, runs, _scenario, stop, cover)
                except SchedulerError as e:     # (unreachable: before any run there)
                    raise UsageError(str(e)) from None
            else:
                res = explore(sc.setup, sc.check, strategy=args.strategy, runs=runs,
                              seed=args.seed, bound=args.bound, depth=args.depth,
                              replay=args.replay, kernel=sc.kernel,
                              max_steps=args.max_steps, stacks=args.stacks, coverage=cover,
                              stop=stop.requested)
        except ScheduleError as e:
            raise UsageError(str(e)) from None
        finally:
            sc.close()
    rc = report(res, args, out, stop.name)
    if cover is not None:
        out.writelines(line + "\n" for line in cover.report(sc.windows))
    return stop.exit_status if res.interrupted else rc


def _how(args):
    strategy = Strategy(args.strategy)
    if strategy is Strategy.EXHAUSTIVE:
        return f"exhaustive, preemption bound {args.bound}"
    return f"{strategy}, seed {args.seed}" + (
        f", depth {args.depth}" if strategy is Strategy.PCT else "")


def report(res, args, out, stopped_by=None):
    """The result, after the header line cmd_explore wrote (a replay writes its
    own); stopped_by, the signal that interrupted the search."""
    f = res.failure
    strategy = Strategy(args.strategy)
    if args.replay:
        out.write(f"replay of {args.script}: {res.steps} steps\n")
        out.writelines(line + "\n" for line in res.trace)
    searched = (f"{res.runs:,} runs ({res.steps:,} steps, {res.distinct:,} distinct "
                "interleavings)")
    if res.interrupted:
        out.write(f"interrupted by {stopped_by} after {searched}; no failure in them\n")
        return 0
    cost = res.cost
    cost_line = (f"modeled cost of the run: {cost['cycles']:,} cycles, "
                 f"{cost['atomics']} atomics, {cost['line_transfers']} line transfers, "
                 f"{cost['irq_flag_ops']} irq flag operations\n")
    if f is None:
        if args.replay:
            out.write("no failure in this schedule\n" + cost_line)
            return 0
        done = ("every schedule within the bound ran" if res.complete else
                "the search stopped at --runs" if strategy is Strategy.EXHAUSTIVE
                else "")
        out.write(f"no failure in {searched}" + (f"; {done}" if done else "") + "\n")
        return 0
    out.write(f"FAILED in run {f.run + 1} after {f.steps} steps: {f.message}\n")
    if not args.replay:
        config = "".join(f" --config {c}" for c in args.config or ())
        machine = f" --machine {args.machine}" if args.machine else ""
        out.write(f"replay: kmodel explore {args.script}{machine}{config} --replay "
                  f"{f.token}\n")
        trace = f.trace
        if len(trace) > TRACE_LINES:
            out.write(f"steps (the last {TRACE_LINES} of {len(trace)}):\n")
            trace = trace[-TRACE_LINES:]
        else:
            out.write("steps:\n")
        out.writelines(line + "\n" for line in trace)
    if f.stacks:
        out.write("contexts when it failed:\n")
        out.writelines(f"  {line}\n" for line in f.stacks)
    oops = [line for line in f.dmesg if "BUG" in line or line.startswith(" ")]
    if oops:
        out.write("dmesg:\n")
        out.writelines(f"  {line}\n" for line in oops)
    out.write(cost_line)
    return 1


def add_parser(sub):
    """add_parser - add ``kmodel explore SCRIPT|builtin:NAME`` to sub, the subparsers of
    kmodel's top-level parser (kmodel.cli.main)."""
    s = sub.add_parser("explore", help="search a scenario's interleavings for a failure")
    s.add_argument("script", nargs="?", help="a script or builtin:NAME")
    s.add_argument("--list", action="store_true", help="the built-in races")
    s.add_argument("--strategy", default="random", choices=[str(x) for x in STRATEGIES],
                   metavar="|".join(STRATEGIES))
    s.add_argument("--runs", type=IntIn(*LIMITS["runs"]), help="runs at most (default 1000; "
                   "exhaustive 100000)")
    s.add_argument("--bound", type=IntIn(*LIMITS["bound"]), default=2,
                   help="exhaustive: preemptions per schedule (default 2)")
    s.add_argument("--depth", type=IntIn(*LIMITS["depth"]), default=3,
                   help="pct: bug depth (default 3)")
    s.add_argument("--seed", type=IntIn(*LIMITS["seed"]), default=0,
                   help="the strategy's seed")
    s.add_argument("--replay", metavar="TOKEN", help="run the schedule of a token")
    s.add_argument("--stacks", action="store_true", help="with --replay: each CPU's "
                   "contexts after every step")
    s.add_argument("--coverage", action="store_true", help="report which yield points of "
                   "the layers and atomics the search reached")
    s.add_argument("--max-steps", type=IntIn(*LIMITS["max_steps"]), default=DEFAULT_MAX_STEPS,
                   help=argparse.SUPPRESS)
    s.add_argument("--machine", "-m", metavar="PRESET")
    s.add_argument("--config", action="append", metavar="CONFIG_X=y")
    s.add_argument("--jobs", type=IntIn(1, 1024), help="local worker processes for the runs (default: "
                   "one process; the same result)")
    s.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="the runs on a Dask "
                   "cluster (pip install 'kmodel[cluster]'; the same result)")
    s.set_defaults(func=cmd_explore, seed_kernel=None)

