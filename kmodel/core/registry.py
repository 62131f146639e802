"""A registry of the members of one axis of the design (backends, locking
layers, consumers): the one list of their names.

Each axis is a contract class (an ABC); a subclass that sets ``name`` is a
member, and defining it registers it, through the contract's
``__init_subclass__``, which calls :meth:`Registry.add`.  Adding checks the
contract at definition: a member that leaves an abstract method out is
refused then, with the names it misses, not when it is first used; and a
name another class holds already is refused.  A subclass without a ``name``
of its own (a variant of a member) is not registered.
"""
from typing import Any, Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """The members of one axis, by name, in the order they were defined."""

    def __init__(self, kind: str, instances: bool):
        """kind names the axis in messages ("relay backend"); with instances,
        the registry keeps one instance of each class (a stateless member used
        by many, as a backend's operations), else the classes themselves."""
        self.kind = kind
        self.instances = instances
        self._members: dict[str, Any] = {}

    def add(self, cls: type) -> None:
        """add - register cls under its own name (from its __init_subclass__)."""
        name = cls.__dict__.get("name")
        if name is None:
            return
        # (ABCMeta sets __abstractmethods__ only after __init_subclass__: look here)
        missing = sorted(n for n in dir(cls)
                         if getattr(getattr(cls, n, None), "__isabstractmethod__", False))
        if missing:
            raise TypeError(f"{self.kind} {name!r} does not implement {', '.join(missing)}")
        old = self._members.get(name)
        if old is not None:
            old_cls = type(old) if self.instances else old
            # the same class defined again (its module imported twice) takes
            # its own place; any other class may not take a name in use
            if (old_cls.__module__, old_cls.__qualname__) != (cls.__module__,
                                                              cls.__qualname__):
                raise ValueError(f"{self.kind} {name!r} is already registered "
                                 f"({old_cls.__module__}.{old_cls.__qualname__})")
        self._members[name] = cls() if self.instances else cls

    def get(self, name: str) -> T | None:
        """get - the member registered under name, or None."""
        return self._members.get(name)

    def names(self) -> list[str]:
        """names - every member's name, in the order they were defined."""
        return list(self._members)

    def members(self) -> list[T]:
        """members - every member, in the order they were defined."""
        return list(self._members.values())

    def remove(self, name: str) -> None:
        """remove - forget a member (for tests that define their own)."""
        self._members.pop(name, None)
