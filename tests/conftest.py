"""Shared fixtures: kernels booted on small machines, shut down after each test."""
import pytest

from hw.topology import parse_machine
from kmodel.kernel import Kernel, boot

# A tiny two-node machine whose node sizes are not multiples of the largest
# buddy block, so that zone edges and unaligned starts are exercised.
TINY_TOML = """
name = "tiny"
distance = [[10, 20], [20, 10]]
[[nodes]]
memory = "1036K"
cpus = "0-1"
[[nodes]]
memory = "520K"
cpus = "2-3"
hotplug_cpus = "4"
[timing]
cpu_ghz = 2.0
dram_ns = { "10" = 100, "20" = 150 }
"""

# A three-node machine whose nodes hold several blocks of the largest buddy
# order (1024 pages with MAX_ORDER 11) and runs of smaller blocks at their
# edges.  No node's size is a multiple of 1024 pages (3085, 3515, 3640); node
# 1 starts at an odd PFN (3085) and node 2 at one aligned to 8 pages only
# (6600).  Node 0 ends on an odd PFN, node 1 with an order-3 block that
# fits exactly, and node 2 with a top-order block that does (at 10240).
# Node 0 holds three top-order blocks, node 1 two, node 2 three.  Node 1's
# zonelist is 1, 0, 2: a tie of distances, broken by node id.
BUDDY_TOML = """
name = "buddy"
distance = [[10, 20, 30], [20, 10, 20], [30, 20, 10]]
[[nodes]]
memory = "12340K"
cpus = "0"
[[nodes]]
memory = "14060K"
cpus = "1"
[[nodes]]
memory = "14560K"
cpus = "2"
[timing]
cpu_ghz = 2.0
dram_ns = { "10" = 100, "20" = 150, "30" = 200 }
"""


@pytest.fixture
def kernel_factory():
    made = []

    def make(machine="numa2", **kw):
        k = boot(machine, **kw)
        made.append(k)
        return k
    yield make
    for k in made:
        k.shutdown()


@pytest.fixture
def k(kernel_factory):
    return kernel_factory("numa2")


@pytest.fixture
def tiny_spec():
    return parse_machine(TINY_TOML, source="tiny")


@pytest.fixture
def buddy_spec():
    return parse_machine(BUDDY_TOML, source="buddy")


@pytest.fixture
def tiny(tiny_spec):
    k = Kernel(tiny_spec)
    yield k
    k.shutdown()


@pytest.fixture
def relay_sh():
    """A shell on the default machine with ltt_relay_alloc loaded."""
    from kmodel.cli.shell import Shell
    sh = Shell()
    sh.execute("insmod ltt_relay_alloc")
    yield sh
    sh.close()


@pytest.fixture
def deadline():
    """deadline(seconds, why): a test that blocks or runs on past seconds fails
    with TimeoutError(why) instead of hanging the suite (SIGALRM interrupts
    even an open() waiting on a FIFO)."""
    import signal
    old = signal.getsignal(signal.SIGALRM)

    def arm(seconds, why):
        def stuck(signum, frame):
            raise TimeoutError(why)
        signal.signal(signal.SIGALRM, stuck)
        signal.alarm(seconds)
    yield arm
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)
