"""expect: assertions a script makes about the kernel it runs on.

    expect PATH == VALUE     the file's text, without its trailing newline, is VALUE
    expect PATH ~ REGEX      the file's text matches REGEX (re.search, multiline)
    expect dmesg ~ REGEX     the kernel log matches REGEX
    expect leaks == 0        nothing allocated since boot is still allocated
    != and !~ negate == and ~.
    expect-fail ERRNO COMMAND...   the command must fail with that errno
"""
import re
from dataclasses import dataclass

from kmodel.cli.command import Command, register
from kmodel.cli.errors import CommandFailed, ExpectationFailed, ScriptError
from kmodel.cli.shell_files import read_text
from kmodel.core.errno import errno_name, errno_value
from kmodel.fs.vfs import FsError


def _read(sh, what):
    if what == "dmesg":
        return sh.k.log.text()
    try:
        return read_text(sh.k, what)
    except FsError as e:
        raise ScriptError(f"expect: {e}") from None


USAGE = "expect PATH == VALUE | PATH ~ REGEX | dmesg ~ REGEX | leaks == 0"


@dataclass(frozen=True)
class Expectation:
    """An expect line, parsed and checked for form: what it reads (a path,
    dmesg or leaks), the operator, the value, and the compiled regex of ~ and !~."""
    what: str
    op: str
    want: str
    rx: re.Pattern | None = None

    def __str__(self):
        return f"{self.what} {self.op} {self.want}"


def parse_expectation(args):
    """parse_expectation - an Expectation from expect's arguments (PATH OP
    VALUE..., the value's words joined by a space); ScriptError if expect would
    refuse them.  Nothing is read: a path is looked up when it is checked."""
    if len(args) < 3 or args[1] not in ("==", "!=", "~", "!~"):
        raise ScriptError(USAGE)
    what, op, want = args[0], args[1], " ".join(args[2:])
    if what == "leaks":
        if op not in ("==", "!=") or not want.isdigit():
            raise ScriptError(f"expect leaks == N (or != N), N a number, not {want!r}")
        return Expectation(what, op, want)
    if op in ("==", "!="):
        return Expectation(what, op, want)
    try:
        return Expectation(what, op, want, re.compile(want, re.MULTILINE))
    except re.error as e:
        raise ScriptError(f"expect: bad regular expression {want!r}: {e}") from None


def check_expectation(sh, exp):
    """check_expectation - ExpectationFailed if exp does not hold on sh's
    kernel; ScriptError if it cannot be checked (a path that is not there)."""
    what, op, want = exp.what, exp.op, exp.want
    if what == "leaks":
        leaks = sh.k.leaks()
        n = sum(p + o for p, o, _ in leaks.values())
        if (str(n) == want) != (op == "=="):
            raise ExpectationFailed(f"leaks: {n} still allocated: " + ", ".join(
                f"{c} ({p} pages, {o} objects)" for c, (p, o, _) in sorted(leaks.items())))
        return
    text = _read(sh, what)
    if op in ("==", "!="):
        got = text[:-1] if text.endswith("\n") else text
        if (got == want) != (op == "=="):
            raise ExpectationFailed(f"{what} is {got!r}, expected {op} {want!r}")
        return
    found = exp.rx.search(text) is not None
    if found != (op == "~"):
        shown = text if len(text) < 400 else "..." + text[-400:]
        raise ExpectationFailed(f"{what} {'does not match' if op == '~' else 'matches'} "
                                f"{want!r}; it reads:\n{shown}")


def expect(sh, args):
    check_expectation(sh, parse_expectation(args))
    return ""


def expect_fail(sh, args):
    if len(args) < 2:
        raise ScriptError("expect-fail ERRNO COMMAND...")
    try:
        want = errno_value(args[0])
    except ValueError as e:
        raise ScriptError(str(e)) from None
    try:
        sh.run_words(args[1:])
    except CommandFailed as e:
        if e.errno != want:
            raise ExpectationFailed(f"expected {errno_name(want)}, got "
                                    f"{errno_name(e.errno)} ({e})") from None
        return f"{e}\n"
    raise ExpectationFailed(f"expected {errno_name(want)}, but the command succeeded")


COMMANDS = [
    Command("expect", expect, ((USAGE, "an assertion (!= and !~ negate)"),)),
    Command("expect-fail", expect_fail, (("expect-fail ERRNO COMMAND...",
                                          "the command must fail with that errno"),)),
]
register(*COMMANDS, group=50)
