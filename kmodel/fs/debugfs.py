"""debugfs (fs/debugfs/inode.c): files under /sys/kernel/debug."""
from kmodel.fs.vfs import S_IRUSR

DEBUGFS_ROOT = "/sys/kernel/debug"


def debugfs_create_dir(fs, name, parent=None):
    """debugfs_create_dir - a directory under parent (default: the debugfs root)."""
    return fs.mkdir(name, parent or fs.mkdir(DEBUGFS_ROOT))


def debugfs_create_file(fs, name, mode, parent, data, fops):
    """debugfs_create_file - a file whose show/store come from fops, or None
    when parent already has an entry of that name (the C's ERR_PTR(-EEXIST)).

    fops is an object with optional ``read(file)`` and ``write(file, text)``;
    ``data`` becomes the file's private data (inode->i_private).
    """
    parent = parent or fs.mkdir(DEBUGFS_ROOT)
    if name in parent.children:
        return None
    f = fs.create_file(name, None, None, mode or S_IRUSR, private=data, parent=parent,
                       fops=fops)
    if getattr(fops, "read", None):
        f.show = lambda: fops.read(f)
    if getattr(fops, "write", None):
        f.store = lambda text: fops.write(f, text)
    return f


def debugfs_remove(fs, dentry):
    fs.remove(dentry)
