"""Hardirqs nest as in 2.6.29, in the explorer and in its scripts; with
CONFIG_KMODEL_HARDIRQS_IRQS_OFF=y (Linux 2.6.35 on) they do not.

Two hardirqs on CPU 0, each two steps long, searched exhaustively: on 2.6.29
some schedule has the second arrive while the first runs (a stack of two
hardirqs); with the option none does, and an IRQF_DISABLED handler is never
interrupted on either kernel.
"""
import io

import pytest

from kmodel.core.atomic import READ_ONCE, WRITE_ONCE, plain_long
from kmodel.cli.main import main
from kmodel.cpu.context import HARDIRQ, IRQF_DISABLED
from kmodel.cpu.explore import explore
from kmodel.kernel import boot

LATER = "CONFIG_KMODEL_HARDIRQS_IRQS_OFF=y"


def inc(c):
    v = yield from READ_ONCE(c)
    yield from WRITE_ONCE(c, v + 1)


class Depth:
    """The deepest stack of hardirqs CPU 0 had, over every step of every run."""

    def __init__(self):
        self.most = 0


def nesting_search(config, flags=0):
    k = boot("numa2", config=config)
    depth = Depth()

    def setup(world):
        c = plain_long(world.k, name="counter")
        world.task(0, inc, c, name="task")
        world.irq(0, inc, c, name="eth0", flags=flags)
        world.irq(0, inc, c, name="disk", flags=flags)
        return c

    def check(c, final):
        n = sum(ctx.kind == HARDIRQ for ctx in k.cpu_exec[0].stack)
        depth.most = max(depth.most, n)
        return None
    try:
        res = explore(setup, check, strategy="exhaustive", runs=100_000, bound=3, kernel=k)
    finally:
        k.shutdown()
    assert res.ok and res.complete
    return depth.most, res.runs


def test_a_hardirq_nests_in_a_hardirq_on_2_6_29():
    most, runs = nesting_search(())
    assert most == 2
    later_most, later_runs = nesting_search((LATER,))
    assert later_most == 1
    assert runs > later_runs            # the nested orders are schedules of their own


@pytest.mark.parametrize("config", [(), (LATER,)], ids=["2.6.29", "later"])
def test_an_irqf_disabled_handler_is_never_interrupted(config):
    assert nesting_search(config, flags=IRQF_DISABLED)[0] == 1


SCRIPT = """insmod ltt_relay_alloc
relay open trace subbuf_size=4k n_subbufs=4
task 0 relay write trace bytes=100
irq 0 relay write trace bytes=64
irq 0 relay write trace bytes=64
expect dmesg !~ WARNING
"""


def test_explore_scripts_irq_lines_nest_on_2_6_29(tmp_path):
    """The same script, exhaustively: the two irq lines nest on 2.6.29, so it
    has more schedules than with the option."""
    path = tmp_path / "two-irqs.kms"
    path.write_text(SCRIPT)
    runs = {}
    for name, extra in (("2.6.29", []), ("later", ["--config", LATER])):
        out = io.StringIO()
        assert main(["explore", str(path), "--strategy", "exhaustive", *extra], out=out) == 0
        runs[name] = int(out.getvalue().split("no failure in ")[1].split()[0])
    assert runs["2.6.29"] > runs["later"]
