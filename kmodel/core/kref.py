"""Reference counts (include/linux/kref.h, lib/kref.c)."""


class kref:
    """A reference count embedded in owner; owner stands for container_of()."""
    __slots__ = ("refcount", "owner")

    def __init__(self, owner=None):
        self.refcount = 0
        self.owner = owner


def kref_init(kref):
    """kref_init - set the count to 1."""
    kref.refcount = 1


def kref_get(kref, bug=None):
    """kref_get - take a reference; WARNs (via bug) on a count of zero, as lib/kref.c."""
    if bug is not None:
        bug.WARN_ON(kref.refcount == 0, depth=2)
    kref.refcount += 1


def kref_put(kref, release, bug=None):
    """kref_put - drop a reference; call release(kref) when it was the last.

    Returns 1 if the object was released, 0 otherwise.  A put on a count that is
    already zero is a bug (use after free): WARN and do nothing.
    """
    if kref.refcount <= 0:
        if bug is not None:
            bug.WARN(True, "kref_put on a released object", depth=2)
        return 0
    kref.refcount -= 1
    if kref.refcount == 0:
        release(kref)
        return 1
    return 0
