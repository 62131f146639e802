"""The shell's module commands: insmod, rmmod, lsmod (kmodel.core.module)."""
from kmodel.cli.command import Command, register
from kmodel.cli.errors import CommandFailed, ScriptError
from kmodel.core.errno import strerror


def cmd_insmod(sh, args):
    k = sh.k
    if not args:
        raise ScriptError("insmod: which module? (" + ", ".join(k.modules.available()) + ")")
    name, params = args[0], {}
    for a in args[1:]:
        key, eq, value = a.partition("=")
        if not eq:
            raise ScriptError(f"insmod: bad parameter {a!r} (expected name=value)")
        params[key] = value
    if name.replace("-", "_") not in k.modules.available():
        raise ScriptError(f"insmod: no module {name!r} (modules: "
                          + ", ".join(k.modules.available()) + ")")
    err = k.modules.insmod(name, params)
    if err:
        raise CommandFailed(err, f"insmod: ERROR: could not insert module {name}: "
                            f"{strerror(err)}")
    return ""


def cmd_rmmod(sh, args):
    if len(args) != 1:
        raise ScriptError("rmmod: which module?")
    err = sh.k.modules.rmmod(args[0])
    if err:
        raise CommandFailed(err, f"rmmod: ERROR: could not remove module {args[0]}: "
                            f"{strerror(err)}")
    return ""


def cmd_lsmod(sh, args):
    return sh.k.modules.lsmod()


COMMANDS = [
    Command("insmod", cmd_insmod, (("insmod NAME [param=value...]",
                                    "load ltt_relay_alloc or cpu-notifier-error-inject"),)),
    Command("rmmod", cmd_rmmod, (("rmmod NAME", "unload a module"),)),
    Command("lsmod", cmd_lsmod, (("lsmod", "list the loaded modules"),)),
]
register(*COMMANDS, group=20)
