"""The buffer files (ltt_relay_file_operations, and a client that makes them in debugfs).

A buffer file holds a reference on its buffer while it is open, as the
patch's open and release do.  read is this port's: the patch has none yet.
"""
from kmodel.core.errno import EINVAL
from kmodel.core.kref import kref_get, kref_put
from kmodel.core.printk import KERN_ERR
from kmodel.fs.debugfs import debugfs_create_file, debugfs_remove
from kmodel.relay.ltt_relay import rchan_callbacks
from kmodel.relay.relay_alloc import (DEFAULT_BACKEND, ltt_relay_open_err, relay_module,
                                      relay_remove_buf)

LTT_DEBUGFS_DIR = "/sys/kernel/debug/ltt"


class ltt_relay_file_operations:
    """The buffer files' operations: open and release take and drop a buffer
    reference, as the patch's.  read is an extension (the patch has none yet):
    the buffer's bytes, page by page in buffer order, read from the pages
    directly so that it moves no cache pointer and costs no modeled time."""

    @staticmethod
    def open(inode, filp):
        """relay_file_open - take a reference on the buffer for the open file."""
        buf = inode.private
        kref_get(buf.kref, buf.chan.k.bug)
        filp.private_data = buf
        relay_module(buf.chan.k).open_files += 1
        return 0

    @staticmethod
    def release(inode, filp):
        """relay_file_release - drop the open file's reference."""
        buf = filp.private_data
        k = buf.chan.k
        relay_module(k).open_files -= 1
        kref_put(buf.kref, relay_remove_buf, k.bug)
        return 0

    @staticmethod
    def read(inode):
        buf = inode.private
        data = bytearray()
        for _, page in buf.ops.pages(buf):
            data += page.virtual[:4096]
        return bytes(data)


class DebugfsClient:
    """A relay client that puts buffer files in debugfs (as LTTng's does).

    ``parent`` is a debugfs directory; files are ``<base_filename><cpu>``,
    with fops as their file operations (a layered channel's client gives its
    own: kmodel/relay/ring_buffer_vfs.py), for the buffers of the open and
    those CPU_UP_PREPARE makes later alike.
    """

    def __init__(self, k, fops=ltt_relay_file_operations):
        self.k = k
        self.fops = fops

    def callbacks(self):
        return rchan_callbacks(create_buf_file=self.create_buf_file,
                               remove_buf_file=self.remove_buf_file)

    def create_buf_file(self, filename, parent, mode, buf):
        return debugfs_create_file(self.k.fs, filename, mode, parent, buf, self.fops)

    def remove_buf_file(self, dentry):
        debugfs_remove(self.k.fs, dentry)
        return 0


def ltt_relay_open_debugfs(k, name, subbuf_size, n_subbufs, backend=DEFAULT_BACKEND,
                           placement="local", files=True, fops=ltt_relay_file_operations,
                           extra_subbufs=0):
    """ltt_relay_open_debugfs - a tracer's channel NAME, its buffer files in
    /sys/kernel/debug/ltt/NAME/cpuN with file operations fops (files=False: a
    client with no callbacks, so no files).  Returns (chan, 0) or (None,
    -errno); a failed open removes the directory, unless a buffer file the
    open leaked is still in it."""
    if not name or "/" in name or name in (".", "..") or len(name) > 255:
        k.printk(KERN_ERR + f"ltt_relay_open_debugfs: bad channel name {name[:40]!r}")
        return None, -EINVAL
    parent = k.fs.mkdir(f"{LTT_DEBUGFS_DIR}/{name}")
    cb = DebugfsClient(k, fops).callbacks() if files else None
    chan, err = ltt_relay_open_err(k, "cpu", parent, subbuf_size, n_subbufs, cb, None,
                                   backend, placement, extra_subbufs)
    if chan is None and not parent.children:
        k.fs.remove(parent)
    return chan, err
