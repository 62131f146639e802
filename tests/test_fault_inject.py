"""fail_page_alloc and failslab through their debugfs files, as a user drives them."""
import pytest

from kmodel.mm.gfp import GFP_ATOMIC, GFP_KERNEL, __GFP_NOWARN

FPA = "/sys/kernel/debug/fail_page_alloc/"
FS = "/sys/kernel/debug/failslab/"


def setup_fpa(k, **knobs):
    for name, value in knobs.items():
        k.fs.write(FPA + name.replace("_", "-"), str(value))


def test_defaults_are_linux_defaults(k):
    assert k.fs.read(FPA + "probability") == "0\n"
    assert k.fs.read(FPA + "times") == "1\n"
    assert k.fs.read(FPA + "ignore-gfp-wait") == "Y\n"
    assert k.fs.read(FPA + "min-order") == "1\n"
    assert k.fs.read(FPA + "node") == "-1\n"


def test_times_fails_exactly_that_many_then_succeeds(k):
    setup_fpa(k, probability=100, times=2, ignore_gfp_wait="N", min_order=0, verbose=1)
    results = [k.alloc_pages_node(0, GFP_KERNEL | __GFP_NOWARN, 0) for _ in range(4)]
    assert [r is None for r in results] == [True, True, False, False]
    assert k.fs.read(FPA + "times") == "0\n"
    assert k.log.text().count("FAULT_INJECTION: forcing a failure.") == 2
    for r in results[2:]:
        k.__free_page(r)
    assert k.page_alloc.allocated == {}


def failures(k, n, nid=0):
    """Allocate (and free) n single pages; which of them failed."""
    got = []
    for _ in range(n):
        p = k.alloc_pages_node(nid, GFP_KERNEL | __GFP_NOWARN, 0)
        got.append(p is None)
        if p:
            k.__free_page(p)
    return got


def test_interval_fails_every_nth(k):
    setup_fpa(k, probability=100, times=-1, interval=3, ignore_gfp_wait="N", min_order=0,
              verbose=0)
    assert failures(k, 9) == [False, False, True] * 3


def test_space_lets_that_many_bytes_through_first(k):
    # space counts in pages for fail_page_alloc (1 << order), bytes for failslab
    setup_fpa(k, probability=100, times=-1, space=3, ignore_gfp_wait="N", min_order=0,
              verbose=0)
    assert failures(k, 4) == [False, False, True, True]


def test_ignore_gfp_wait_and_min_order_filter(k):
    setup_fpa(k, probability=100, times=-1, verbose=0)
    # defaults: GFP_KERNEL waits (ignored), order 0 < min-order 1 (ignored)
    p = k.alloc_pages_node(0, GFP_KERNEL, 0)
    assert p is not None
    assert k.alloc_pages_node(0, GFP_ATOMIC | __GFP_NOWARN, 1) is None
    k.__free_page(p)


def test_node_filter_extension(k):
    setup_fpa(k, probability=100, times=-1, ignore_gfp_wait="N", min_order=0, node=1,
              verbose=0)
    p = k.alloc_pages_node(0, GFP_KERNEL, 0)
    assert p is not None and p.nid == 0
    assert k.alloc_pages_node(1, GFP_KERNEL | __GFP_NOWARN, 0) is None
    k.__free_page(p)


def test_probability_is_deterministic_under_a_seed(kernel_factory):
    def run(seed):
        k = kernel_factory("numa2", seed=seed)
        setup_fpa(k, probability=30, times=-1, ignore_gfp_wait="N", min_order=0, verbose=0)
        return failures(k, 40)
    a, b, c = run(1), run(1), run(2)
    assert a == b and a != c and 0 < sum(a) < 40


def test_failslab(k):
    k.fs.write(FS + "probability", "100")
    k.fs.write(FS + "ignore-gfp-wait", "N")
    k.fs.write(FS + "verbose", "0")
    assert k.kmalloc(64, GFP_KERNEL) is None
    obj = k.kmalloc(64, GFP_KERNEL)       # times was 1
    assert obj is not None
    k.kfree(obj)
    assert k.slab.live == {} and k.page_alloc.allocated == {}


@pytest.mark.parametrize("path, value", [(FPA + "probability", "lots"),
                                         (FPA + "min-order", "-1"),
                                         (FPA + "ignore-gfp-wait", "maybe")])
def test_bad_values_are_einval(k, path, value):
    from kmodel.fs.vfs import FsError
    with pytest.raises(FsError, match="Invalid argument"):
        k.fs.write(path, value)
