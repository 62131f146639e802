"""Exhaustive interleavings per second, this tree against another checkout,
in one run: the same search (bound 2, 2 CPUs and a nested irq, 3 atomic
adds each) in alternating child processes, each tree on its own sys.path.

    python bench/exhaustive_vs.py OTHER_CHECKOUT [ROUNDS]

e.g. the tree before the straight forms and typed events:
    git worktree add /tmp/before 2ddcf98
    python bench/exhaustive_vs.py /tmp/before

Prints each round's rates, then the medians and their ratio (this / other).
The search is the same code in both trees: kmodel/perf/step_goals.py's
scenario, sent as source (it uses only primitives both trees have).
"""
import inspect
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from kmodel.perf import step_goals  # noqa: E402

# The search, as the child runs it: step_goals' own scenario (its source,
# which uses only primitives both trees have), then the timing loop.
SEARCH = "\n".join(inspect.getsource(f) for f in (
    step_goals.three_events, step_goals.setup_2cpu_irq, step_goals.check_total)) + r"""
import time
from kmodel.cpu.explore import explore
from kmodel.kernel import boot

k = boot("numa2")
explore(setup_2cpu_irq, check_total, strategy="exhaustive", runs=10**7, bound=2, kernel=k)
times = []
for _ in range(5):
    t0 = time.perf_counter()
    res = explore(setup_2cpu_irq, check_total, strategy="exhaustive", runs=10**7, bound=2,
                  kernel=k)
    times.append(time.perf_counter() - t0)
assert res.ok and res.complete
times.sort()
print(res.distinct / times[len(times) // 2])
"""


def rate(tree):
    env = dict(os.environ, PYTHONPATH=tree)
    r = subprocess.run([sys.executable, "-c", SEARCH], env=env, cwd=tree,
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        sys.exit(f"exhaustive_vs: the search failed in {tree}:\n{r.stderr}")
    return float(r.stdout)


def main(argv):
    if len(argv) < 2 or not os.path.isdir(os.path.join(argv[1], "kmodel")):
        sys.exit(__doc__)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    other = os.path.abspath(argv[1])
    rounds = int(argv[2]) if len(argv) > 2 else 3
    mine, theirs = [], []
    for i in range(rounds):
        mine.append(rate(here))
        theirs.append(rate(other))
        print(f"round {i + 1}: this tree {mine[-1]:,.0f}/s, {other} {theirs[-1]:,.0f}/s")
    a, b = statistics.median(mine), statistics.median(theirs)
    print(f"median: this tree {a:,.0f} interleavings/s, the other {b:,.0f}/s: {a / b:.2f}x")


if __name__ == "__main__":
    main(sys.argv)
