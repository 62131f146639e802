"""The few libc calls the hardware model needs, through ctypes.

``mmap``/``munmap`` at chosen addresses (Python's mmap module cannot map at a
fixed address), ``memset``, and a memoryview over raw host memory.
"""
import ctypes
import mmap as _mmap
import os

_libc = ctypes.CDLL(None, use_errno=True)

_mmap_fn = _libc.mmap
_mmap_fn.restype = ctypes.c_void_p
_mmap_fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                     ctypes.c_int, ctypes.c_long]
_munmap_fn = _libc.munmap
_munmap_fn.restype = ctypes.c_int
_munmap_fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t]

_from_memory = ctypes.pythonapi.PyMemoryView_FromMemory
_from_memory.restype = ctypes.py_object
_from_memory.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int]
_PyBUF_WRITE = 0x200

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
    """memview - a writable memoryview (format 'B') of host memory at addr."""
    return _from_memory(addr, length, _PyBUF_WRITE)
