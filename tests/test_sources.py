"""docs/sources.md names the source of every kernel fact the docs rely on.

Every page of docs/ is read for the marks of a kernel claim: a kernel
version (2.6.NN anywhere; N.NN after "Linux", "since", "until", "in",
"before", "after", or alone in parentheses, and not followed by a unit) and a
function written `name()`.  Each one found must be named in docs/sources.md,
so a claim cannot be added without its source.  The exceptions below are
not claims about the kernel; each says why.
"""
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"
SOURCES = DOCS / "sources.md"

VERSION = re.compile(
    r"(?<![\w.])(2\.6\.\d+)(?![\w.]*\d)"
    r"|(?:\bLinux|\b[Ss]ince|\b[Uu]ntil|\b[Ii]n|\b[Bb]efore|\b[Aa]fter)\s+(\d\.\d{1,2})"
    r"(?![\d.]|\s*(?:us|ns|ms|s\b|GB|MB|KiB|MiB|x\b|%|cycles))"
    r"|\((\d\.\d{1,2})\)")
FUNCTION = re.compile(r"`([A-Za-z_]\w*)\(\)`")

# token -> why it is not a claim about the kernel
NOT_CLAIMS = {
    "6.18": "benchmarks.md: the kernel of the host that ran the benchmarks",
    "access": "guarantees.md: POSIX access(2), the CLI's check of an output path",
    "backend_names": "kmodel's API (architecture.md: the registries)",
    "consumer_names": "kmodel's API (architecture.md: the registries)",
    "layer_names": "kmodel's API (architecture.md: the registries)",
    "command_table": "kmodel's API (architecture.md: the registries)",
    "get_backend": "kmodel's API (architecture.md: the registries)",
    "get_consumer": "kmodel's API (architecture.md: the registries)",
    "get_layer": "kmodel's API (architecture.md: the registries)",
    "windows": "kmodel's API (api.md: a scenario's coverage windows)",
    "shutdown": "kmodel's API (guarantees.md: a kernel's shutdown)",
    "mem": "kmodel's timing model (mm.md: a single access outside a stream)",
}


def claims(text):
    """The versions and functions a page names: {token: kind}."""
    found = {}
    for m in VERSION.finditer(text):
        found[next(g for g in m.groups() if g)] = "version"
    for m in FUNCTION.finditer(text):
        found[m.group(1)] = "function"
    return found


def named(token, kind, sources):
    """Is token named in sources: a version as a whole token, a function as name()?"""
    if kind == "function":
        return f"{token}()" in sources
    return re.search(rf"(?<![\w.]){re.escape(token)}(?![\w]|\.\d)", sources) is not None


PAGES = sorted(p for p in DOCS.glob("*.md") if p != SOURCES)


def test_the_marks_are_found_where_they_are_claims():
    """The patterns catch what they must and leave figures alone."""
    text = ("2.6.29 ... Linux 5.8 ... split in 5.6 (into) ... went in 4.1) ... (3.6) ... "
            "6.9 GB/s ... in 3.5 us ... (1.26x) ... Python 3.11 ... `vmap()` `vmap`")
    assert claims(text) == {"2.6.29": "version", "5.8": "version", "5.6": "version",
                            "4.1": "version", "3.6": "version", "vmap": "function"}
    assert named("4.1", "version", "since 4.10") is False
    assert named("4.1", "version", "in 4.1, and") is True


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_kernel_claim_of_the_page_has_its_source(page):
    sources = SOURCES.read_text()
    missing = [f"{t} ({kind})" for t, kind in sorted(claims(page.read_text()).items())
               if t not in NOT_CLAIMS and not named(t, kind, sources)]
    assert not missing, (f"{page.name} names {', '.join(missing)}, which docs/sources.md does "
                         "not: add the fact with its source (file and version, or commit)")


def test_the_exceptions_are_still_used():
    """An exception nobody needs any more goes: the list stays small and true."""
    found = set()
    for page in PAGES:
        found |= set(claims(page.read_text()))
    assert set(NOT_CLAIMS) <= found, set(NOT_CLAIMS) - found
