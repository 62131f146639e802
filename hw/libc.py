"""The few libc calls the hardware model needs, through ctypes.

``mmap``/``munmap`` at chosen addresses (Python's mmap module cannot map at a
fixed address), ``memset``, and a memoryview over raw host memory.
"""
import ctypes
import mmap as _mmap
import os
import sys

_libc = ctypes.CDLL(None, use_errno=True)

_mmap_fn = _libc.mmap
_mmap_fn.restype = ctypes.c_void_p
_mmap_fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                     ctypes.c_int, ctypes.c_long]
_munmap_fn = _libc.munmap
_munmap_fn.restype = ctypes.c_int
_munmap_fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


PROT_NONE = _mmap.PROT_NONE if hasattr(_mmap, "PROT_NONE") else 0
PROT_RW = _mmap.PROT_READ | _mmap.PROT_WRITE
MAP_SHARED = _mmap.MAP_SHARED
MAP_PRIVATE = _mmap.MAP_PRIVATE
MAP_ANONYMOUS = _mmap.MAP_ANONYMOUS
MAP_FIXED = 0x10
MAP_NORESERVE = 0x4000
MAP_FAILED = ctypes.c_void_p(-1).value

memset = ctypes.memset


def mmap(addr, length, prot, flags, fd=-1, offset=0):
    """mmap - libc mmap(2); raises OSError on failure, returns the address."""
    a = _mmap_fn(addr, length, prot, flags, fd, offset)
    if a is None or a == MAP_FAILED:
        err = ctypes.get_errno()
        raise OSError(err, f"mmap: {os.strerror(err)}")
    return a


def munmap(addr, length):
    """munmap - libc munmap(2); raises OSError on failure."""
    if _munmap_fn(addr, length) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"munmap: {os.strerror(err)}")


def memview(addr, length):
    """memview - a writable memoryview (format 'B') of host memory at addr.

    Its exporter is a ctypes array over the memory, and every view sliced
    from it (a page's, a buffer's) keeps a reference to that array: so
    unmap_view can tell whether any view of the memory is still alive."""
    arr = (ctypes.c_ubyte * length).from_address(addr)
    return memoryview(arr).cast("B")


# Mappings whose owner closed them while a view sliced from them was alive:
# (the ctypes array the views hold, address, length), unmapped once no view is.
_still_viewed = []


def unmap_view(view, addr, length):
    """unmap_view - release view (from memview) and munmap the memory behind it,
    unless a view sliced from it is still alive somewhere (a buffer a program
    kept after its kernel shut down): then the memory stays mapped until the
    last such view is gone, and a later call unmaps it.  A view that outlived
    its mapping would make the next access a segfault of the whole process."""
    _still_viewed.append((view.obj, addr, length))
    view.release()
    unmap_unviewed()


def unmap_unviewed():
    """unmap_unviewed - munmap every closed mapping that no view uses any more."""
    keep = []
    while _still_viewed:
        arr, addr, length = _still_viewed.pop()
        # the references: the tuple just popped is gone, so: arr here and
        # getrefcount's argument; any more is a live view's managed buffer
        if sys.getrefcount(arr) > 2:
            keep.append((arr, addr, length))
        else:
            del arr
            munmap(addr, length)
    _still_viewed.extend(keep)


def still_viewed():
    """still_viewed - how many closed mappings a live view keeps mapped."""
    return len(_still_viewed)
