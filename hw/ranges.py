"""Linux's range-list format for CPU and node sets: ``0-3,6,8-9``.

``parse_range_list`` mirrors ``bitmap_parselist()`` (lib/bitmap.c) and
``format_range_list`` mirrors ``bitmap_scnlistprintf()``: the format of
``/sys/devices/system/cpu/online`` and friends.
"""


MAX_ID = 4095                           # NR_CPUS and MAX_NUMNODES stay far below


def parse_range_list(text, max_id=MAX_ID):
    """parse_range_list - '0-3,6' -> [0, 1, 2, 3, 6] (sorted, no duplicates).

    Raises ValueError naming the bad part, or an id above max_id (checked
    before anything is expanded).  An empty string is the empty set.
    """
    out = set()
    s = str(text).strip()
    if not s:
        return []
    for part in s.split(","):
        part = part.strip()
        lo, dash, hi = part.partition("-")
        try:
            a = int(lo)
            b = int(hi) if dash else a
        except ValueError:
            raise ValueError(f"bad range {part[:40]!r}") from None
        if a < 0 or b < a:
            raise ValueError(f"bad range {part[:40]!r}")
        if b > max_id:
            raise ValueError(f"{b} is more than {max_id}, the largest id allowed")
        out.update(range(a, b + 1))
    return sorted(out)


def format_range_list(ids):
    """format_range_list - [0, 1, 2, 3, 6] -> '0-3,6'; empty -> ''."""
    ids = sorted(set(ids))
    parts = []
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        parts.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    return ",".join(parts)
