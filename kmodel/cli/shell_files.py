"""The shell's file commands and the kernel log: cat, echo, ls, dmesg.

They reach the kernel only through its pseudo-files and log, with Linux's
paths and a Linux shell's wording of errors: a path that does not exist is
the script's mistake (ScriptError), a refused write is the kernel's answer
(CommandFailed, and the script goes on).
"""

from kmodel.cli.command import Command, register
from kmodel.cli.errors import CommandFailed, ScriptError
from kmodel.cli.hexdump import hexdump
from kmodel.core.errno import ENOENT, strerror
from kmodel.fs.vfs import FsError
from kmodel.session import WriteRefused, parse_echo


def read_text(k, path):
    """read_text - a pseudo-file's contents as text; a binary file (a relay
    buffer) as hexdump -C shows it, since a terminal cannot.  FsError if it
    cannot be read."""
    data = k.fs.read(path)
    return hexdump(data) if isinstance(data, (bytes, bytearray)) else data


def fs_error(cmd, e):
    if e.errno == ENOENT:
        raise ScriptError(f"{cmd}: {e.path}: No such file or directory")
    raise CommandFailed(e.errno, f"{cmd}: {e.path}: {strerror(e.errno)}")


def cmd_cat(sh, args):
    if not args:
        raise ScriptError("cat: which file?")
    out = []
    for path in args:
        try:
            out.append(read_text(sh.k, path))
        except FsError as e:
            fs_error("cat", e)
    return "".join(out)


def cmd_echo(sh, args):
    text = " ".join(args)
    echo = parse_echo("echo " + text)
    if echo is None:
        return text + "\n"
    try:
        sh.session.write(echo[1], echo[0])      # the words a hotplug script gets too
    except WriteRefused as e:
        if e.errno == ENOENT:
            raise ScriptError(str(e)) from None
        raise CommandFailed(e.errno, str(e)) from None
    return ""


def cmd_ls(sh, args):
    path = args[0] if args else "/"
    try:
        names = sh.k.fs.listdir(path)
    except FsError as e:
        fs_error("ls", e)
    return "".join(n + "\n" for n in names)


def cmd_dmesg(sh, args):
    if args not in ([], ["-c"]):
        raise ScriptError("dmesg takes no argument but -c")
    text = sh.k.log.text()
    if args == ["-c"]:
        sh.k.log.clear()
    return text


COMMANDS = [
    Command("cat", cmd_cat, (("cat PATH...", "print pseudo-files"),)),
    Command("echo", cmd_echo, (("echo VALUE > PATH", "write a pseudo-file"),)),
    Command("ls", cmd_ls, (("ls [PATH]", "list a directory"),)),
    Command("dmesg", cmd_dmesg, (("dmesg [-c]", "the kernel log (-c: and clear it)"),)),
]
register(*COMMANDS, group=10)
