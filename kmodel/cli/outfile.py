"""Files a command writes where the user says (-o, --json, --markdown, --plot).

Two rules, for every such file:

- It is checked before the command's work starts (``check_output``): not a
  directory, not an existing file unless --force, in a directory where a file
  can really be made (tried, not asked of os.access, which says yes to root
  on a read-only place).  A long run never ends in an output it cannot write.
- It is written atomically (``write_output``): to a new file beside it, then
  renamed over it, so that a run stopped halfway, or a full disk, leaves the
  old file (or none), never half of one.  Without --force the rename does not
  replace a file that appeared during the run (a hard link, which fails when
  the name is taken).

What the host refuses (no space left, a read-only file system) is a
``HostError`` in the OS's words: exit 2, never a traceback.
"""
import errno
import os
import stat
import tempfile

from kmodel.cli.errors import HostError, UsageError

__all__ = ["check_output", "write_output"]


def _beside(path):
    """A new, empty file in path's directory, for the output to go to first."""
    d, base = os.path.split(os.path.abspath(path))
    return tempfile.mkstemp(dir=d, prefix=f".{base}.", suffix=".part")


def check_output(path, option, force):
    """check_output - refuse an output path the command could not write at
    the end (a UsageError or HostError naming option and path)."""
    where = f"{option} {path}"
    if not path:                        # ("" is no file: abspath would make it the cwd)
        raise UsageError(f"{option}: an empty path names no file")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise HostError(f"{where}: {e.strerror}") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{where}: is a directory (name a file in it)")
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{where}: exists and is not a regular file")
        if not force:
            raise UsageError(f"{where}: exists (give --force to replace it)")
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise UsageError(f"{where}: {d}: {os.strerror(errno.ENOENT)}")
    try:
        fd, tmp = _beside(path)
    except OSError as e:
        raise HostError(f"{where}: {e.strerror}") from None
    os.close(fd)
    os.unlink(tmp)


def write_output(path, data, option, force, make=None):
    """write_output - write data (bytes or str) to path atomically, or, with
    make, call make(tmp) to write the new file at tmp (e.g. savefig).  Without
    force an existing path is not replaced.  A HostError in the OS's words if
    the host refuses; the new file is then removed (kept, and named, only when
    the path was taken during the run)."""
    where = f"{option} {path}"
    try:
        fd, tmp = _beside(path)
    except OSError as e:
        raise HostError(f"{where}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            if make is None:
                f.write(data.encode() if isinstance(data, str) else data)
                f.flush()
                os.fsync(f.fileno())
        if make is not None:
            make(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        if force:
            os.replace(tmp, path)
            return
        if not _link(tmp, path):
            raise HostError(f"{where}: appeared during the run; not replaced without "
                            f"--force (the output is in {tmp})")
        if os.path.lexists(tmp):        # (a file system without hard links renamed it)
            os.unlink(tmp)
    except HostError:
        raise
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise HostError(f"{where}: {e.strerror}") from None
        raise


def _link(tmp, path):
    """Give tmp the name path unless it is taken: False if it is."""
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    if os.path.lexists(path):       # a file system without hard links
        return False
    os.replace(tmp, path)
    return True


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
