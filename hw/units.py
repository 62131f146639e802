"""Sizes written the way people write them: ``4096``, ``16k``, ``64M``, ``1G``.

Mirrors the kernel's ``memparse()`` (lib/cmdline.c) for the suffixes, but is
strict: anything that is not a whole number of bytes is an error.
"""

_SUFFIX = {"": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50}


def parse_size(text):
    """parse_size - turn '16k', '64M', '1G' or an int into a byte count.

    Raises ValueError naming the text when it is not a size.
    """
    if isinstance(text, bool):
        raise ValueError(f"not a size: {text!r}")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"size must not be negative: {text}")
        return text
    s = str(text).strip()
    low = s.lower()
    if low.endswith("ib"):
        low = low[:-2]
    elif low.endswith("b") and len(low) > 1 and low[-2] in "kmgtp":
        low = low[:-1]
    suffix = low[-1:] if low[-1:] in "kmgtp" else ""
    digits = low[: len(low) - len(suffix)]
    if not digits:
        raise ValueError(f"not a size: {text!r}")
    try:
        base = int(digits, 0)
    except ValueError:
        raise ValueError(f"not a size: {text!r}") from None
    if base < 0:
        raise ValueError(f"size must not be negative: {text!r}")
    return base << _SUFFIX[suffix]


def format_size(nbytes):
    """format_size - the shortest exact form: 65536 -> '64K', 1536 -> '1536'."""
    for suffix, shift in (("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if nbytes and nbytes % (1 << shift) == 0:
            return f"{nbytes >> shift}{suffix}"
    return str(nbytes)
