"""Loadable modules (kernel/module.c): insmod, rmmod, lsmod.

A module is a subclass of :class:`KernelModule` with ``init()`` (0 or a
negative errno), ``exit()``, its parameters (``PARAMS``: name -> type, as
module_param), and ``refcount()``.  Defining one with a ``NAME`` installs it
(the part /lib/modules plays): the loader lists and loads what is installed,
and names no module itself, so nothing here depends on the layers above.
Which modules a kernel has is decided by what is imported (kmodel/kernel.py).
Names are kept with underscores, as lsmod shows them; a dash in a name given
by a user is the same as an underscore, as with modprobe.
"""
from kmodel.core.errno import EBUSY, EEXIST, EINVAL, ENOENT
from kmodel.core.printk import KERN_ERR, KERN_WARNING

_INSTALLED = {}                 # name -> KernelModule subclass


def module_name(name):
    return name.strip().replace("-", "_")


class KernelModule:
    """Base class of a loadable module."""
    NAME = None
    CONFIG = None               # its Kconfig option: =n, and the module is not built
    PARAMS = {}
    DESCRIPTION = ""

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        name = cls.__dict__.get("NAME")
        if name is not None:
            _INSTALLED[module_name(name)] = cls

    def __init__(self, kernel, params):
        self.k = kernel
        self.params = params

    def init(self):
        return 0

    def exit(self):
        pass

    def refcount(self):
        """refcount - users that keep the module from unloading."""
        return 0

    def size(self):
        return 4096


class ModuleLoader:
    def __init__(self, kernel):
        self.k = kernel
        self.loaded = {}            # name -> instance, in load order

    def available(self):
        """available - the modules this kernel's .config built (=m or =y)."""
        return sorted(n for n, cls in _INSTALLED.items()
                      if cls.CONFIG is None or self.k.config.enabled(cls.CONFIG))

    def _parse_params(self, cls, params):
        out = {}
        for key, value in params.items():
            kind = cls.PARAMS.get(key)
            if kind is None:
                self.k.printk(KERN_WARNING + f"{cls.NAME}: Unknown parameter `{key}'")
                return None
            try:
                out[key] = kind(value)
            except (TypeError, ValueError):
                self.k.printk(KERN_WARNING + f"{cls.NAME}: `{value}' invalid for parameter `{key}'")
                return None
        return out

    def insmod(self, name, params=None):
        """insmod - load and init a module; 0 or a negative errno."""
        name = module_name(name)
        cls = _INSTALLED.get(name)
        if cls is None or name not in self.available():
            return -ENOENT
        if name in self.loaded:
            return -EEXIST
        parsed = self._parse_params(cls, params or {})
        if parsed is None:
            return -EINVAL
        mod = cls(self.k, parsed)
        err = mod.init()
        if err:
            self.k.printk(KERN_ERR + f"{name}: module init failed: {err}")
            return err
        self.loaded[name] = mod
        return 0

    def rmmod(self, name):
        """rmmod - exit and unload a module; -EBUSY while it is in use."""
        name = module_name(name)
        mod = self.loaded.get(name)
        if mod is None:
            return -ENOENT
        if mod.refcount():
            return -EBUSY
        mod.exit()
        del self.loaded[name]
        return 0

    def get(self, name):
        return self.loaded.get(module_name(name))

    def lsmod(self):
        """lsmod - the text lsmod prints."""
        lines = ["Module                  Size  Used by"]
        for name, mod in reversed(list(self.loaded.items())):
            lines.append(f"{name:<19} {mod.size():>8}  {mod.refcount()}")
        return "\n".join(lines) + "\n"
