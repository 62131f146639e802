"""errno values, as include/uapi/asm-generic/errno-base.h numbers them.

The host is Linux, so Python's errno module has the same numbers; this module
gives them kernel-style access and turns them into names and messages.
"""
import errno as _errno
import os

EPERM = _errno.EPERM
ENOENT = _errno.ENOENT
EIO = _errno.EIO
E2BIG = _errno.E2BIG
EBADF = _errno.EBADF
EAGAIN = _errno.EAGAIN
ENOMEM = _errno.ENOMEM
EACCES = _errno.EACCES
EFAULT = _errno.EFAULT
EBUSY = _errno.EBUSY
EEXIST = _errno.EEXIST
ENODEV = _errno.ENODEV
ENOTDIR = _errno.ENOTDIR
EISDIR = _errno.EISDIR
EINVAL = _errno.EINVAL
ENOSPC = _errno.ENOSPC
ERANGE = _errno.ERANGE
EDEADLK = _errno.EDEADLK
ENOSYS = _errno.ENOSYS
ENAMETOOLONG = _errno.ENAMETOOLONG
ETIMEDOUT = _errno.ETIMEDOUT
ENOBUFS = _errno.ENOBUFS
ENODATA = _errno.ENODATA
ENXIO = _errno.ENXIO
ENOTTY = _errno.ENOTTY
ENOIOCTLCMD = 515                       # kernel-internal: "no such ioctl here"


def errno_name(err):
    """errno_name - 'EBUSY' for 16 or -16."""
    return _errno.errorcode.get(abs(err), f"E{abs(err)}")


def errno_value(name):
    """errno_value - 16 for 'EBUSY' (or '16'); ValueError if unknown."""
    n = str(name).strip().upper()
    if n.lstrip("-").isdigit():
        return abs(int(n))
    v = getattr(_errno, n, None)
    if not isinstance(v, int) or not n.startswith("E"):
        raise ValueError(f"unknown errno name {name!r}")
    return v


def strerror(err):
    """strerror - 'Device or resource busy' for 16 or -16."""
    return os.strerror(abs(err))
