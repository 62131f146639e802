"""Files of the host that a user names: read with their size checked first.

Every file kmodel reads because a user named it (a script, a machine file, a
hotplug script, a crash region, a trace's streams, a replay token's file)
goes through ``read_regular_file``: it refuses what is not a regular file (a
FIFO would block for ever, /dev/zero would fill the memory), refuses a file
larger than the caller's limit before reading a byte of it, and reads in
bounded chunks, so that a file that grows while it is read cannot make the
read unbounded either.  The error is a ``HostFileError`` whose message names
the file and what is wrong, in the OS's words where the OS refused.
"""
import ctypes
import os
import stat

__all__ = ["HostFileError", "read_regular_file", "check_regular_file", "exchange", "CHUNK"]

CHUNK = 1 << 20


class HostFileError(ValueError):
    """A file a user named that cannot be read as asked; one line, with the path."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_regular_file(path: str, limit: int, what: str = "file") -> int:
    """check_regular_file - the size of path, a regular file of at most limit
    bytes; a HostFileError otherwise (nothing is opened for reading)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise HostFileError(f"{path}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise HostFileError(f"{path}: {_kind(st.st_mode)}, not a regular {what}")
    if st.st_size > limit:
        raise HostFileError(f"{path}: {st.st_size:,} bytes; a {what} has at most {limit:,}")
    return st.st_size


def read_regular_file(path: str, limit: int, what: str = "file") -> bytes:
    """read_regular_file - the bytes of path, a regular file of at most limit
    bytes (checked before reading, and again while reading in CHUNK pieces)."""
    check_regular_file(path, limit, what)
    # O_NONBLOCK: if the path was swapped for a FIFO after the check, the open
    # does not wait for a writer, and fstat below refuses it
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise HostFileError(f"{path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise HostFileError(f"{path}: {_kind(st.st_mode)}, not a regular {what}")
        parts, total = [], 0
        while True:
            chunk = os.read(fd, min(CHUNK, limit + 1 - total))
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise HostFileError(f"{path}: more than {limit:,} bytes; a {what} has at "
                                    f"most {limit:,}")
            parts.append(chunk)
        return b"".join(parts)
    except OSError as e:
        raise HostFileError(f"{path}: {e.strerror}") from None
    finally:
        os.close(fd)


_libc = ctypes.CDLL(None, use_errno=True)
_AT_FDCWD = -100
_RENAME_EXCHANGE = 1 << 1


def exchange(a: str, b: str) -> None:
    """exchange - swap the names a and b (two directories, say) in one step:
    renameat2(RENAME_EXCHANGE), so that no moment sees neither, nor both
    half-made.  Where the host lacks it, two renames through a third name
    (a crash between them leaves both, under a and that name)."""
    fn = getattr(_libc, "renameat2", None)
    if fn is not None:
        if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (22, 38):         # EINVAL, ENOSYS: no exchange here; else a real error
            raise OSError(err, os.strerror(err), b)
    spare = b + ".exchange"
    os.rename(b, spare)
    os.rename(a, b)
    os.rename(spare, a)
