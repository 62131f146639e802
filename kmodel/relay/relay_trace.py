"""The relay's tracepoints (the include/trace/events/ header of the relay).

Every backend fires the same ones, on its slow paths:

    relay_lookup(buf, which, page, offset)   a page lookup starts from a cached
                                             page (which: WPAGE, RPAGE, HPAGE0/1)
    relay_walk(buf, forward)                 the lookup walks the list
    relay_lookup_done(buf, which, page)      it found page (None: it did not)
    relay_cache(buf, which, page)            a cache pointer now points at page
    relay_tlb(buf, idx)                      a TLB lookup for page idx starts
    relay_tlb_done(buf, idx)                 ... and is charged (hit, miss, fault)
    relay_copy(buf, idx, poff, nbytes, write)  bytes copied to or from page idx

An access that stays on its stream's cached page (the fast path) fires none.
``relay_paged`` is enabled while any of them has a probe: the backends'
written-out page turns and runs are taken only while it is not, so that a
probe sees every lookup, walk and page an access makes.
"""
from kmodel.core.tracepoint import DEFINE_TRACE, static_key_any

trace_relay_lookup = DEFINE_TRACE("relay_lookup")
trace_relay_walk = DEFINE_TRACE("relay_walk")
trace_relay_lookup_done = DEFINE_TRACE("relay_lookup_done")
trace_relay_cache = DEFINE_TRACE("relay_cache")
trace_relay_tlb = DEFINE_TRACE("relay_tlb")
trace_relay_tlb_done = DEFINE_TRACE("relay_tlb_done")
trace_relay_copy = DEFINE_TRACE("relay_copy")

relay_paged = static_key_any(trace_relay_lookup, trace_relay_walk, trace_relay_lookup_done,
                             trace_relay_cache, trace_relay_tlb, trace_relay_tlb_done,
                             trace_relay_copy)
