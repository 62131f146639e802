"""A pseudo-filesystem tree: directories and show/store files.

Files work as sysfs attributes do: ``show()`` returns the whole text, and
``store(text)`` returns the number of bytes taken or a negative errno.  User
paths are Linux's own (``/proc/buddyinfo``, ``/sys/devices/system/cpu/online``).
``read``/``write`` are what a user's ``cat`` and ``echo`` reach; they raise
:class:`FsError` with the errno a shell would report.
"""
from kmodel.core.errno import EACCES, EINVAL, EISDIR, ENOENT, ENOTDIR, ENOTTY, strerror

POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP = 0x1, 0x2, 0x4, 0x8, 0x10
S_IRUSR = 0o400
S_IWUSR = 0o200
S_IRUGO = 0o444


class FsError(Exception):
    """A failed file operation: errno and path, worded like a shell's error."""

    def __init__(self, errno, path):
        self.errno = abs(errno)
        self.path = path
        super().__init__(f"{path}: {strerror(self.errno)}")


def d_path(node):
    """d_path - the absolute path of a file or directory."""
    parts = []
    while node is not None and node.name:
        parts.append(node.name)
        node = node.parent
    return "/" + "/".join(reversed(parts))


class PseudoFile:
    __slots__ = ("name", "show", "store", "mode", "private", "parent", "fops")
    path = d_path

    def __init__(self, name, show, store, mode, private=None, fops=None):
        self.name = name
        self.show = show
        self.store = store
        self.mode = mode
        self.private = private
        self.parent = None
        self.fops = fops


class PseudoDir:
    __slots__ = ("name", "children", "parent")

    def __init__(self, name, parent=None):
        self.name = name
        self.children = {}
        self.parent = parent

    path = d_path


def _split(path):
    if not path.startswith("/"):
        raise FsError(EINVAL, path)
    return [p for p in path.split("/") if p]


class PseudoFS:
    def __init__(self):
        self.root = PseudoDir("")

    def lookup(self, path):
        """lookup - the file or directory at path, or None."""
        node = self.root
        for part in _split(path):
            if not isinstance(node, PseudoDir):
                return None
            node = node.children.get(part)
            if node is None:
                return None
        return node

    def mkdir(self, path, parent=None):
        """mkdir - make (or find) a directory; parents are made as needed."""
        node = parent or self.root
        for part in _split(path) if parent is None else [p for p in path.split("/") if p]:
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = PseudoDir(part, node)
            elif not isinstance(child, PseudoDir):
                raise FsError(ENOTDIR, path)
            node = child
        return node

    def create_file(self, path, show=None, store=None, mode=None, private=None,
                    parent=None, fops=None):
        """create_file - a file at path (relative to parent if given)."""
        head, _, name = path.rstrip("/").rpartition("/")
        d = self.mkdir(head or "/", None) if parent is None else (
            self.mkdir(head, parent) if head else parent)
        if mode is None:
            mode = (S_IRUGO if show else 0) | (S_IWUSR if store else 0)
        f = PseudoFile(name, show, store, mode, private, fops)
        f.parent = d
        d.children[name] = f
        return f

    def remove(self, node):
        """remove - unlink a file or a directory (recursively)."""
        if node is not None and node.parent is not None:
            node.parent.children.pop(node.name, None)
            node.parent = None

    # --- what a user's shell reaches ------------------------------------------
    def open(self, path):
        """open - a handle on a file; fops.open runs now, fops.release at close()."""
        node = self.lookup(path)
        if node is None:
            raise FsError(ENOENT, path)
        if isinstance(node, PseudoDir):
            raise FsError(EISDIR, path)
        h = FileHandle(self, node, path)
        op = getattr(node.fops, "open", None)
        if op is not None:
            ret = op(node, h)
            if ret < 0:
                raise FsError(-ret, path)
        return h

    def read(self, path):
        h = self.open(path)
        try:
            return h.read()
        finally:
            h.close()

    def write(self, path, text):
        node = self.lookup(path)
        if node is None:
            raise FsError(ENOENT, path)
        if isinstance(node, PseudoDir):
            raise FsError(EISDIR, path)
        if node.store is None:
            raise FsError(EACCES, path)
        ret = node.store(text)
        if ret < 0:
            raise FsError(-ret, path)
        return ret

    def listdir(self, path):
        node = self.lookup(path)
        if node is None:
            raise FsError(ENOENT, path)
        if not isinstance(node, PseudoDir):
            return [node.name]
        return sorted(node.children)


class FileHandle:
    """struct file: an open file.  private_data is the opener's to set."""

    def __init__(self, fs, node, path):
        self.fs = fs
        self.node = node
        self.path = path
        self.private_data = None
        self.closed = False

    def read(self, count=None):
        """read - the file's contents; with count, read(2) of a file whose fops
        have a read_count (at most count bytes, consumed; b"" at end of file).
        A negative errno from the file is raised as FsError (EAGAIN: nothing
        yet, as for a file opened O_NONBLOCK)."""
        rd = getattr(self.node.fops, "read_count", None)
        if rd is not None:
            ret = rd(self, (1 << 62) if count is None else count)
            if isinstance(ret, int) and ret < 0:
                raise FsError(-ret, self.path)
            return ret
        if self.node.show is None:
            raise FsError(EACCES, self.path)
        return self.node.show()

    def poll(self):
        """poll - the file's poll mask (POLLIN, POLLHUP, ...); POLLIN if it has no poll."""
        fn = getattr(self.node.fops, "poll", None)
        return fn(self) if fn is not None else POLLIN

    def ioctl(self, cmd, arg=0):
        """ioctl - unlocked_ioctl(2): its result, or FsError(ENOTTY) if none."""
        fn = getattr(self.node.fops, "unlocked_ioctl", None)
        ret = fn(self, cmd, arg) if fn is not None else -ENOTTY
        if isinstance(ret, int) and ret < 0:
            raise FsError(-ret, self.path)
        return ret

    def close(self):
        if self.closed:
            return
        self.closed = True
        rel = getattr(self.node.fops, "release", None)
        if rel is not None:
            rel(self.node, self)


def parse_int(text):
    """parse_int - kstrtol-like: decimal or 0x hex, optional sign; None if bad."""
    try:
        return int(str(text).strip(), 0)
    except ValueError:
        return None


def parse_bool(text):
    """parse_bool - strtobool(): Y/y/1 and N/n/0; None if bad."""
    t = str(text).strip()[:1]
    if t in ("Y", "y", "1"):
        return True
    if t in ("N", "n", "0"):
        return False
    return None


def attr_file(fs, path, obj, attr, kind="int", lo=None, parent=None):
    """attr_file - a debugfs_create_{u32,bool}-style file over obj.attr."""
    def show():
        v = getattr(obj, attr)
        return ("Y" if v else "N") + "\n" if kind == "bool" else f"{v}\n"

    def store(text):
        v = parse_bool(text) if kind == "bool" else parse_int(text)
        if v is None or (lo is not None and v < lo):
            return -EINVAL
        setattr(obj, attr, v)
        return len(text)
    return fs.create_file(path, show, store, mode=0o644, parent=parent)
