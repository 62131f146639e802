"""Reference counts (include/linux/kref.h, lib/kref.c)."""


class kref:
    """A reference count embedded in owner; owner stands for container_of()."""
    __slots__ = ("refcount", "owner")

    def __init__(self, owner=None):
        self.refcount = 0
        self.owner = owner


def kref_init(k):
    """kref_init - set the count to 1."""
    k.refcount = 1


def kref_get(k, bug=None):
    """kref_get - take a reference; WARNs (via bug) on a count of zero, as lib/kref.c."""
    if bug is not None:
        bug.WARN_ON(k.refcount == 0, depth=2)
    k.refcount += 1


def kref_put(k, release, bug=None):
    """kref_put - drop a reference; call release(k) when it was the last.

    Returns 1 if the object was released, 0 otherwise.  A put on a count that is
    already zero is a bug (use after free): WARN and do nothing.
    """
    if k.refcount <= 0:
        if bug is not None:
            bug.WARN(True, "kref_put on a released object", depth=2)
        return 0
    k.refcount -= 1
    if k.refcount == 0:
        release(k)
        return 1
    return 0
