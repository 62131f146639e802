"""The allocation interface under the relay (the patch author's "allocation layer").

A backend owns how a buffer's memory is allocated, freed, read and written.
Everything above it (ltt_relay_open, hotplug, files, kref lifetimes) calls only
these, so a new backend plugs in by subclassing and registering its name:

    alloc_buf(k, buf, nid)   allocate buf.alloc_size bytes for buf on node nid;
                             0 or -ENOMEM with nothing left allocated
    free_buf(k, buf)         give everything back
    write(buf, offset, src, len) / read(buf, offset, dest, len)
    read_get_page(buf, offset)    the buf_page holding offset
    offset_address(buf, offset)   a view from offset to the end of its page
    pages(buf)               (offset, page) pairs in buffer order, for pictures

Two variants may be given: ``patch_ops`` (how the 2009 patch ran, for
CONFIG_LTT_RELAY_ERRATA) and ``exact_ops`` (every access through the TLB
model, for CONFIG_KMODEL_EXACT_TLB).

``write`` and ``read`` are plain functions taking the buffer first, as the
C API does, so that a caller can hold one and call it without a dispatch.
"""

BACKENDS = {}


class RelayBackend:
    name = "?"
    contiguous = False          # one view of the whole buffer (vmap, static)
    patch_ops = None            # the ops as the 2009 patch ran them, if they differ
    exact_ops = None            # the ops with no fast path (CONFIG_KMODEL_EXACT_TLB)

    def alloc_buf(self, k, buf, nid):
        raise NotImplementedError

    def free_buf(self, k, buf):
        raise NotImplementedError

    def pages(self, buf):
        return [(d.offset, d.page) for d in buf.descs]


def register_backend(backend):
    BACKENDS[backend.name] = backend
    return backend


def get_backend(name):
    """get_backend - the backend registered under name, or None."""
    if not BACKENDS:
        # importing registers them
        import kmodel.relay.pagelist  # noqa: F401  (importing a backend registers it)
        import kmodel.relay.static  # noqa: F401
        import kmodel.relay.vmap  # noqa: F401
    return BACKENDS.get(name)
