"""kmodel explore --jobs N / --scheduler tcp://HOST:PORT: a random or PCT
search split over the executor (kmodel.perf.executor).

Run i of a random search has a chooser of its own (seed, i); of a PCT search
too, once run 0 has measured the run length.  So the runs split into chunks
of consecutive indices, each run by a worker on a kernel of its own (the
worker builds the scenario from the command's words); the chunks come back
in order and merge as the one search would have gone: up to and with the
first failure (kmodel.cpu.explore.merge_chunks), whose trace is replayed
here.  The result (runs, steps, distinct schedules, the failure and its
token, the last run's cost) is the one of the search in one process.
The exhaustive search is not split (it runs in one process).
"""
import argparse
from functools import partial

from kmodel.cpu.explore import Strategy, merge_chunks, replay_failure, sample_chunk
from kmodel.perf.executor import run_map, workers_for

WORDS = ("script", "machine", "config", "seed_kernel", "strategy", "seed", "depth",
         "max_steps")


def parallel(args):
    """parallel - does args ask for a search split over the executor?"""
    return (args.jobs not in (None, 1) or args.scheduler) and not args.replay and \
        Strategy(args.strategy) is not Strategy.EXHAUSTIVE


def explore_chunk(indices, words, est, build):
    """explore_chunk - one worker's chunk: the scenario build(words) makes from
    the command's words, runs indices (kmodel.cpu.explore.sample_chunk)."""
    sc = build(words)
    try:
        return sample_chunk(sc.setup, sc.check, words.strategy, words.seed, words.depth, est,
                            indices, sc.kernel, words.max_steps)
    finally:
        sc.close()


def explore_split(args, sc, runs, build):
    """explore_split - the ExploreResult of the search args asks for, its runs
    in chunks on the executor; sc is the scenario, built here, for PCT's
    first run and the failure's replay; build(words) builds it in a worker
    (a module-level function: it is pickled by name)."""
    words = argparse.Namespace(**{w: getattr(args, w, None) for w in WORDS})
    est = None
    first = []
    if Strategy(args.strategy) is Strategy.PCT:
        first = sample_chunk(sc.setup, sc.check, args.strategy, args.seed, args.depth, None,
                             [0], sc.kernel, args.max_steps)
        est = first[0][1]
    start = len(first)
    n = workers_for(args.jobs, runs) if not args.scheduler else 8
    size = max(1, -(-(runs - start) // (4 * n)))
    chunks = [list(range(i, min(i + size, runs))) for i in range(start, runs, size)]
    done = [first] if first else []
    if not (first and first[0][3] is not None):
        for chunk in run_map(partial(explore_chunk, words=words, est=est, build=build), chunks,
                             args.jobs, args.scheduler):
            done.append(chunk)
            if chunk and chunk[-1][3] is not None:
                break
    res = merge_chunks(args.strategy, done)
    return replay_failure(res, sc.setup, sc.check, sc.kernel, args.max_steps)
