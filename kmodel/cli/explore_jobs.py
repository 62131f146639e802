"""kmodel explore --jobs N / --scheduler tcp://HOST:PORT: a search split over
the executor (kmodel.perf.executor).

Run i of a random search has a chooser of its own (seed, i); of a PCT search
too, once run 0 has measured the run length.  So the runs split into chunks
of consecutive indices, each run by a worker on a kernel of its own (the
worker builds the scenario from the command's words); the chunks come back
in order and merge as the one search would have gone: up to and with the
first failure (kmodel.cpu.explore.merge_chunks), whose trace is replayed
here.  The exhaustive search runs its first schedule here; each schedule
prefix that branches off it is the root of a subtree, searched depth first
by a worker, and the subtrees in that order are the search in one process.
The result (runs, steps, distinct schedules, whether the search was
complete, the failure and its token, the last run's cost) is the one of the
search in one process, and so is --coverage's report: each record carries
its run's counts (kmodel.cpu.coverage.Coverage.take_run), added here in the
search's order.
"""
import argparse
from contextlib import nullcontext
from functools import partial

from kmodel.cli.signals import Stopped

from kmodel.cpu.explore import (Strategy, exhaustive_chunk, exhaustive_root, merge_chunks,
                                replay_failure, sample_chunk)
from kmodel.perf.executor import run_map, workers_for
from kmodel.scenarios.layer_laps import layer_coverage

CHUNK_RUNS = 2000
WORDS = ("script", "machine", "config", "seed_kernel", "strategy", "seed", "depth",
         "bound", "max_steps", "coverage")


def parallel(args):
    """parallel - does args ask for a search split over the executor?"""
    return (args.jobs not in (None, 1) or args.scheduler) and not args.replay


def explore_chunk(item, words, est, build):
    """explore_chunk - one worker's chunk, on the scenario build(words) makes
    from the command's words: runs of a random or PCT search (item: their
    indices), or an exhaustive search's subtree (item: (prefix, runs)):
    kmodel.cpu.explore.sample_chunk or exhaustive_chunk."""
    sc = build(words)
    cover = layer_coverage() if words.coverage else None     # a run's counts in each record
    try:
        if Strategy(words.strategy) is Strategy.EXHAUSTIVE:
            prefix, runs = item
            return exhaustive_chunk(sc.setup, sc.check, prefix, runs, words.bound, sc.kernel,
                                    words.max_steps, cover)
        return sample_chunk(sc.setup, sc.check, words.strategy, words.seed, words.depth, est,
                            item, sc.kernel, words.max_steps, cover), True
    finally:
        sc.close()


def explore_split(args, sc, runs, build, stop=None, coverage=None):
    """explore_split - the ExploreResult of the search args asks for, its runs
    in chunks on the executor; sc is the scenario, built here, for the first
    run and the failure's replay; build(words) builds it in a worker (a
    module-level function: it is pickled by name).  stop (a StopSignals): a
    signal while the workers run ends them at once, and the result is the
    chunks done until then, interrupted (the chunk a worker was in is not
    counted), as the search in one process stops between two runs.
    coverage (a Coverage, --coverage): each worker counts its runs one at a
    time and sends each run's counts with its record; they are added here in
    the search's order (merge_chunks), so the report is the one of the
    search in one process, for any number of workers."""
    words = argparse.Namespace(**{w: getattr(args, w, None) for w in WORDS})
    strategy = Strategy(args.strategy)
    est = None
    if strategy is Strategy.EXHAUSTIVE:
        # the first run here; each schedule prefix that branches off it is a
        # subtree, and the subtrees in that order are the search
        root, prefixes = exhaustive_root(sc.setup, sc.check, args.bound, sc.kernel,
                                         args.max_steps, _counter(coverage))
        first = [root]
        items = [(p, runs) for p in prefixes]
    else:
        first = []
        if strategy is Strategy.PCT:        # run 0 measures the run length
            first = sample_chunk(sc.setup, sc.check, args.strategy, args.seed, args.depth,
                                 None, [0], sc.kernel, args.max_steps, _counter(coverage))
            est = first[0][0]
        start = len(first)
        n = workers_for(args.jobs, runs) if not args.scheduler else 8
        # four chunks a worker, of at most CHUNK_RUNS runs: a long search
        # reports the chunks done when a signal stops it
        size = max(1, min(CHUNK_RUNS, -(-(runs - start) // (4 * n))))
        items = [range(i, min(i + size, runs)) for i in range(start, runs, size)]
    done = [first] if first else []
    wholes = []
    interrupted = False
    if not (first and first[0][2] is not None) and runs > len(first):
        taken = len(first)
        try:
            with stop.raising() if stop is not None else nullcontext():
                for chunk, whole in run_map(partial(explore_chunk, words=words, est=est,
                                                    build=build),
                                            items, args.jobs, args.scheduler):
                    done.append(chunk)
                    wholes.append(whole)
                    taken += len(chunk)
                    if (chunk and chunk[-1][2] is not None) or taken >= runs:
                        break
        except Stopped:
            interrupted = True
    complete = (strategy is Strategy.EXHAUSTIVE and len(wholes) == len(items) and all(wholes)
                and not interrupted)
    res = merge_chunks(args.strategy, done, runs, complete, coverage)
    res.interrupted = interrupted and res.failure is None
    return replay_failure(res, sc.setup, sc.check, sc.kernel, args.max_steps)


def _counter(coverage):
    """A Coverage of the same sources as coverage, to count the runs made here
    one at a time (their counts go into coverage with the workers' ones, in
    order), or None."""
    return layer_coverage() if coverage is not None else None
