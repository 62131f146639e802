"""Fault injection (lib/fault-inject.c, mm/page_alloc.c, mm/failslab.c).

``FaultAttr`` keeps Linux's knobs: probability (percent), interval, times,
space, verbose, and for fail_page_alloc min-order and the ignore-gfp-* flags.
``node`` is an extension of kmodel: when it is >= 0 only allocations from that
node can fail.  The random stream comes from a seeded generator, so a run is
reproducible.
"""
import random

from kmodel.core.printk import KERN_NOTICE
from kmodel.mm.gfp import __GFP_HIGHMEM, __GFP_NOFAIL, __GFP_WAIT


class FaultAttr:
    """struct fault_attr plus the allocator-specific knobs."""

    def __init__(self, name, seed=0, ignore_gfp_wait=True):
        self.name = name
        self.probability = 0
        self.interval = 1
        self.times = 1
        self.space = 0
        self.verbose = 2
        self.task_filter = False
        self.ignore_gfp_wait = ignore_gfp_wait
        self.ignore_gfp_highmem = True
        self.min_order = 1
        self.node = -1
        self.count = 0
        self.failures = 0
        self.rng = random.Random(seed)

    def should_fail(self, size, log):
        """should_fail - mirrors lib/fault-inject.c:should_fail()."""
        if self.times == 0:
            return False
        if self.space > size:
            self.space -= size
            return False
        if self.interval > 1:
            self.count += 1
            if self.count % self.interval:
                return False
        if self.probability <= self.rng.randrange(100):
            return False
        if self.verbose:
            log.printk(KERN_NOTICE + "FAULT_INJECTION: forcing a failure.")
            log.printk(KERN_NOTICE + f"name {self.name}, interval {self.interval}, "
                       f"probability {self.probability}, space {self.space}, "
                       f"times {self.times}")
        if self.times != -1:
            self.times -= 1
        self.failures += 1
        return True


def should_fail_alloc_page(attr, gfp, order, nid, log):
    """should_fail_alloc_page - mirrors mm/page_alloc.c (plus the node filter)."""
    if order < attr.min_order or gfp & __GFP_NOFAIL:
        return False
    if attr.ignore_gfp_highmem and gfp & __GFP_HIGHMEM:
        return False
    if attr.ignore_gfp_wait and gfp & __GFP_WAIT:
        return False
    if attr.node >= 0 and attr.node != nid:
        return False
    return attr.should_fail(1 << order, log)


def should_failslab(attr, size, gfp, nid, log):
    """should_failslab - mirrors mm/failslab.c (plus the node filter)."""
    if gfp & __GFP_NOFAIL:
        return False
    if attr.ignore_gfp_wait and gfp & __GFP_WAIT:
        return False
    if attr.node >= 0 and attr.node != nid:
        return False
    return attr.should_fail(size, log)
