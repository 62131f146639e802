"""A trace directory on disk: what may be written, what --force may replace,
and how a new trace takes an old one's place without a moment when neither
is whole.

The rules (docs/guarantees.md):

- A new trace is written beside its destination, in a hidden directory of
  the same parent (``.NAME.kmodel-XXXXXXXX``), and put in place only once it
  is complete (``NewTrace.commit``).  A run that fails or is stopped before
  that removes it, and the destination is as it was.
- The destination may be a name that does not exist yet, or an empty
  directory.  A directory that holds anything is replaced only with
  ``--force``, and only if it holds a kmodel trace and nothing else: a
  ``metadata`` file that says it is kmodel's, stream files, and an
  ``index`` directory of their index files (ctf_index.py), and the
  ``snapshot-TICK`` traces ``--snapshot-at`` writes in it.  Anything
  else in it (a crash region a user kept there, a file of their own) makes
  the command refuse, naming it, before anything runs.
- The replacement is one exchange of the two names (hw.hostfile.exchange),
  then the old trace is removed.
- A session directory (``trace record --session``) is laid out as LTTng lays
  out a kernel session: the trace in ``SESSION/kernel/`` (lttng-tools'
  ``DEFAULT_KERNEL_TRACE_DIR``), its index in ``SESSION/kernel/index/``.
  ``--force`` replaces a session that holds a kmodel trace in ``kernel/``
  and nothing else, whether or not the new one is a session.
"""
import os
import re
import shutil
import stat
import tempfile

from hw.hostfile import HostFileError, exchange, read_regular_file
from kmodel.consumer.metadata_channel import MetadataError, metadata_file_text

__all__ = ["TraceDirError", "check_destination", "NewTrace", "KMODEL_TRACE_MARK",
           "KERNEL_TRACE_DIR", "session_trace"]

# What a kmodel trace's metadata says of itself (ctf.py writes it in env).
KMODEL_TRACE_MARK = re.compile(r'\btracer_name\s*=\s*"kmodel"|\bkmodel_trace\s*=\s*1\s*;')
STREAM_FILE = re.compile(r"channel0_(\d+|global)")
INDEX_FILE = re.compile(r"channel0_(\d+|global)\.idx")
SNAPSHOT_DIR = re.compile(r"snapshot-\d+")
METADATA_LIMIT = 1 << 20
KERNEL_TRACE_DIR = "kernel"             # a session's kernel domain (lttng-tools' defaults.h)


class TraceDirError(ValueError):
    """A destination that cannot be written or replaced; the message says why."""


def session_trace(path: str) -> str:
    """session_trace - the trace directory of path: path/kernel if path is a
    session directory (no metadata of its own, a kernel/ that has one, as
    ``trace record --session`` and LTTng lay out a kernel session), else
    path itself."""
    kernel = os.path.join(path, KERNEL_TRACE_DIR)
    if not os.path.lexists(os.path.join(path, "metadata")) and \
            os.path.isdir(kernel) and not os.path.islink(kernel) and \
            os.path.lexists(os.path.join(kernel, "metadata")):
        return kernel
    return path


def _why_not_a_trace(path: str) -> str | None:
    """Why directory path is not a kmodel trace and nothing else, or None
    (a session directory holding one in kernel/ and nothing else is one)."""
    names = os.listdir(path)
    if session_trace(path) != path:
        foreign = sorted(n for n in names if n != KERNEL_TRACE_DIR)
        if foreign:
            return _foreign(foreign, "a kmodel session")
        return _why_not_a_trace(os.path.join(path, KERNEL_TRACE_DIR))
    if "metadata" not in names:
        return "it holds no metadata file: not a trace"
    try:
        text, _ = metadata_file_text(read_regular_file(os.path.join(path, "metadata"),
                                                       METADATA_LIMIT, "metadata"))
    except (HostFileError, MetadataError) as e:     # (text, or packets: metadata_channel.py)
        return str(e)
    if not KMODEL_TRACE_MARK.search(text.decode(errors="replace")):
        return "its metadata is not a kmodel trace's"
    foreign = sorted(n for n in names if n not in ("metadata", "index") and
                     not STREAM_FILE.fullmatch(n) and not SNAPSHOT_DIR.fullmatch(n))
    for n in names:                     # trace record --snapshot-at's: traces of their own
        if SNAPSHOT_DIR.fullmatch(n):
            sub = os.path.join(path, n)
            if os.path.islink(sub) or not os.path.isdir(sub) or _why_not_a_trace(sub):
                foreign.append(n)
    if "index" in names:                # the streams' index files (ctf_index.py)
        idx = os.path.join(path, "index")
        if os.path.islink(idx) or not os.path.isdir(idx):
            foreign.append("index")
        else:
            foreign += sorted(f"index/{n}" for n in os.listdir(idx)
                              if not INDEX_FILE.fullmatch(n))
    if foreign:
        return _foreign(foreign, "a kmodel trace")
    return None


def _foreign(names: list[str], what: str) -> str:
    return (f"it holds {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}, "
            f"which {'is' if len(names) == 1 else 'are'} not part of {what}")


def check_destination(path: str, force: bool) -> None:
    """check_destination - whether a trace may be written to path (before
    anything runs): a TraceDirError saying why not."""
    if not path:                        # (abspath would make it the working directory)
        raise TraceDirError("an empty path names no directory")
    parent = os.path.dirname(os.path.abspath(path)) or "/"
    if not os.path.isdir(parent):
        raise TraceDirError(f"{path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise TraceDirError(f"{path}: {parent} is not a directory this user can write")
    if not os.path.lexists(path):
        return
    if os.path.islink(path) or not os.path.isdir(path):
        raise TraceDirError(f"{path}: exists and is not a directory")
    if not os.listdir(path):
        return
    if not force:
        raise TraceDirError(f"{path}: exists and is not empty (give --force to replace the "
                            "kmodel trace in it)")
    why = _why_not_a_trace(path)
    if why:
        raise TraceDirError(f"{path}: not replaced: {why} (--force replaces only a kmodel "
                            "trace)")


def _empty_dir(path: str) -> bool:
    return os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class NewTrace:
    """A trace being written for path: in ``tmp`` until ``commit`` puts it in
    place; ``abort`` (or leaving a with-block on an exception) removes it."""

    def __init__(self, path: str, force: bool):
        check_destination(path, force)
        self.given, self.force = path, force
        self.path = os.path.abspath(path)
        parent, name = os.path.split(self.path)
        try:
            self.tmp = tempfile.mkdtemp(prefix=f".{name}.kmodel-", dir=parent)
            # a directory as mkdir makes it (mkdtemp's is 0700), or with the
            # mode and owner of the one it replaces (a setgid bit, a group)
            st = os.stat(self.path) if os.path.isdir(self.path) else None
            if st is None:
                os.chmod(self.tmp, 0o777 & ~_umask())
            else:
                try:
                    os.chown(self.tmp, st.st_uid, st.st_gid)
                except PermissionError:
                    pass                # (not ours to give away: the mode still is)
                os.chmod(self.tmp, stat.S_IMODE(st.st_mode))
        except OSError as e:
            raise TraceDirError(f"{path}: {e.strerror}") from None
        self.done = False

    def commit(self) -> None:
        """commit - put the new trace in place of path: a rename where nothing
        is, or over an empty directory; an exchange with an old trace, which
        is then removed.  What is at path is checked again first, as when the
        run began: a directory that appeared there meanwhile, or an old trace
        that now holds something else, is not touched; the new trace is then
        kept where it was written, and the TraceDirError says where."""
        if os.path.lexists(self.path) and not _empty_dir(self.path):
            try:
                check_destination(self.given, self.force)
            except TraceDirError as e:
                self.done = True            # (kept: the caller's abort leaves it)
                raise TraceDirError(f"{e}; it changed while the trace was written, which "
                                    f"is kept in {self.tmp}") from None
            exchange(self.tmp, self.path)
            shutil.rmtree(self.tmp)         # (the old trace, now under the hidden name)
        else:
            os.rename(self.tmp, self.path)
        self.done = True

    def abort(self) -> None:
        """abort - remove what was written; path is as it was."""
        if not self.done:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.done = True

    def __enter__(self) -> "NewTrace":
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()
