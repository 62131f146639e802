"""Every option a message names exists (hardening: a message that says
"give --force" or "lets --pmem-format take it" must name an option the user
can type).  Each string constant of kmodel's code and docs/guarantees.md is
searched for '--word' names; each must be an option of a kmodel command."""
import argparse
import ast
import re
from pathlib import Path

from kmodel.cli.main import build_parser

ROOT = Path(__file__).resolve().parent.parent
OPTION = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*[a-z0-9])")
# Words of the form --x that are not kmodel's options: other programs'
# (numactl's, lttng-crash's, a module's own __main__).
OTHERS = {"hardware", "membind", "profile", "extract"}


def all_parsers(parser=None, path=("kmodel",)):
    parser = parser or build_parser()
    yield " ".join(path), parser
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sp in a.choices.items():
                yield from all_parsers(sp, path + (name,))


PARSERS = dict(all_parsers())
OPTIONS = {o[2:] for p in PARSERS.values() for a in p._actions for o in a.option_strings
           if o.startswith("--")}


def named_in(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for m in OPTION.finditer(node.value):
                yield node.lineno, m.group(1)


def test_every_option_kmodels_code_names_exists():
    bad = []
    for path in sorted((ROOT / "kmodel").rglob("*.py")):
        for line, name in named_in(path):
            if name not in OPTIONS and name not in OTHERS:
                bad.append(f"{path.relative_to(ROOT)}:{line}: --{name}")
    assert not bad, "options named that no command has:\n" + "\n".join(bad)


def test_every_option_the_guarantees_name_exists():
    text = (ROOT / "docs" / "guarantees.md").read_text()
    bad = sorted({m.group(1) for m in OPTION.finditer(text)} - OPTIONS - OTHERS)
    assert not bad, bad
