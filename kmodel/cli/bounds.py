"""The ranges of the command line's numbers.

Every numeric option of a kmodel command (and every number inside one, as
in ``--rates 16,64`` or ``--access 5000:64``) takes its ``type`` from here: a
parser that checks the range as argparse reads the word, so that a number out
of range is a usage error (exit 2) naming the option and its range, before
anything boots or runs.  ``tests/test_bounded_work.py`` walks every command's
parser and refuses a number without one.

What depends on more than one option (the product of a sweep's dimensions,
an access against the buffer it lands in) is checked by the command, still
before it runs, with a message that names the cap.
"""
import argparse

from hw.units import format_size, parse_size
from kmodel.cli.errors import UsageError
from kmodel.cpu.cpumask import NR_CPUS

__all__ = ["Bounded", "IntIn", "SizeIn", "UnitIn", "ListOf", "Access", "SEED", "CPU",
           "check_count"]


class Bounded:
    """A number in lo..hi, parsed from a command-line word; a range error is
    an argparse.ArgumentTypeError (argparse words it and exits 2)."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def parse(self, text):
        raise NotImplementedError

    def show(self, v):
        return f"{v:,}" if v >= 100_000 else str(v)

    def range_text(self):
        return f"{self.show(self.lo)}..{self.show(self.hi)}"

    def __call__(self, text):
        try:
            v = self.parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        if not self.lo <= v <= self.hi:
            raise argparse.ArgumentTypeError(f"{text}: must be {self.range_text()}")
        return v

    def __repr__(self):             # argparse names the type in some messages
        return f"{type(self).__name__}({self.range_text()})"


class IntIn(Bounded):
    """A whole number in lo..hi."""

    def parse(self, text):
        try:
            return int(str(text).strip())
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None


class SizeIn(Bounded):
    """A size ('16k', '2m', '4096') in lo..hi bytes; with pow2, a power of two."""

    def __init__(self, lo, hi, pow2=False):
        super().__init__(lo, hi)
        self.pow2 = pow2

    def parse(self, text):
        return parse_size(text)

    def show(self, v):
        return format_size(v) if v else "0"

    def __call__(self, text):
        v = super().__call__(text)
        if self.pow2 and v & (v - 1):
            raise argparse.ArgumentTypeError(f"{text}: must be a power of two "
                                             f"({self.range_text()})")
        return v


class UnitIn(Bounded):
    """A quantity written with its unit ('10ms', '2M', '100MB/s'), parsed by
    parse into lo..hi as argparse reads it; the word itself is kept, for the
    command that parses it again with the rest of its options."""

    def __init__(self, parse, lo, hi, unit=""):
        super().__init__(lo, hi)
        self._parse, self.unit = parse, unit

    def parse(self, text):
        return self._parse(str(text).strip())

    def show(self, v):
        return f"{v:g}{self.unit}"

    def __call__(self, text):
        super().__call__(text)
        return text


class ListOf:
    """A comma-separated list of 1..max_len numbers, each of the type item."""

    def __init__(self, item, max_len):
        self.item, self.max_len = item, max_len

    def __call__(self, text):
        words = [w.strip() for w in str(text).split(",") if w.strip()]
        if not 1 <= len(words) <= self.max_len:
            raise argparse.ArgumentTypeError(
                f"{text!r}: a comma-separated list of 1..{self.max_len} numbers, each "
                f"{self.item.range_text()}")
        values = [self.item(w) for w in words]
        if len(set(values)) != len(values):
            raise argparse.ArgumentTypeError(f"{text!r}: a value is given twice")
        return values

    def __repr__(self):
        return f"ListOf({self.item!r}, {self.max_len})"


class Access:
    """'[r|w]OFFSET:LEN' -> (is_write, offset, length): an offset in the buffer
    (any unsigned long: the buffer masks it) and a length in 1..max_len.
    Whether it fits in the buffer is checked once the buffer is known
    (setup_channel.check_access)."""

    OFFSET = SizeIn(0, (1 << 64) - 1)

    def __init__(self, max_len):
        self.length = SizeIn(1, max_len)

    def __call__(self, text):
        t = str(text).strip()
        is_write = not t.startswith("r")
        off, sep, n = t.lstrip("rw").partition(":")
        return is_write, self.OFFSET(off), self.length(n) if sep else 1

    def __repr__(self):
        return f"Access({self.length!r})"


SEED = IntIn(0, (1 << 32) - 1)          # random.Random takes any; a range keeps it a word
CPU = IntIn(0, NR_CPUS - 1)


def check_count(values, option, most):
    """check_count - a repeatable option given at most `most` times; the
    UsageError names the cap."""
    if values and len(values) > most:
        raise UsageError(f"{option} given {len(values)} times: at most {most}")
