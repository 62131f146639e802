"""A small timing harness for `kmodel bench`: medians and IQRs of host time.

Host time is noisy on a shared machine, so every figure is the median of
several rounds, reported with its interquartile range, and compared with a
floor measured in the same run.
"""
import statistics
import time


def quantiles(xs):
    xs = sorted(xs)
    if len(xs) == 1:
        return xs[0], xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], statistics.median(xs), q[2]


def measure(fn, ops_per_call, rounds=15, min_time=0.002):
    """measure - (median ns/op, IQR ns/op) of fn(), which performs ops_per_call ops.

    Each round calls fn repeatedly for at least min_time seconds."""
    fn()                                            # warm up
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    reps = max(1, int(min_time / one))
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        samples.append((time.perf_counter() - t0) / (reps * ops_per_call) * 1e9)
    lo, med, hi = quantiles(samples)
    return med, hi - lo


def measure_ratio(fn, floor, ops_per_call, rounds=15, min_time=0.002):
    """measure_ratio - (median ns/op of fn, median ns/op of floor), their
    rounds taken in turn, so that a host that gets busier in the middle of
    the measurement slows both alike: the ratio of a shared machine."""
    fn()
    floor()
    reps = []
    for f in (fn, floor):
        t0 = time.perf_counter()
        f()
        reps.append(max(1, int(min_time / max(time.perf_counter() - t0, 1e-7))))
    samples = ([], [])
    for _ in range(rounds):
        for i, f in enumerate((fn, floor)):
            t0 = time.perf_counter()
            for _ in range(reps[i]):
                f()
            samples[i].append((time.perf_counter() - t0) / (reps[i] * ops_per_call) * 1e9)
    return quantiles(samples[0])[1], quantiles(samples[1])[1]
