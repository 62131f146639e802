"""Every `kmodel X` is a module with its own add_parser(sub).

main.py lists the command modules (COMMAND_MODULES) and calls each one's
add_parser; it defines no command's parser itself.  These tests hold it so:
a parser written back inline in main.py, or a command whose module is not in
the list, fails here."""
import argparse
import ast
import inspect
from pathlib import Path

from kmodel.cli import main

MAIN = Path(main.__file__)


def top_level_commands(parser):
    """The names of parser's subcommands, in the order --help lists them."""
    sub, = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(sub.choices)


def parser_of(module):
    """A parser with only what module.add_parser adds."""
    p = argparse.ArgumentParser()
    module.add_parser(p.add_subparsers())
    return p


def commands_of(module):
    return top_level_commands(parser_of(module))


def funcs(parser):
    """Every func a command's parser, or one of its subcommands', dispatches to."""
    out = [parser._defaults["func"]] if "func" in parser._defaults else []
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sp in a.choices.values():
                out += funcs(sp)
    return out


def test_every_command_comes_from_a_listed_module():
    listed = [name for m in main.COMMAND_MODULES for name in commands_of(m)]
    assert listed == top_level_commands(main.build_parser())


def test_each_listed_module_defines_add_parser_and_its_commands():
    for m in main.COMMAND_MODULES:
        assert inspect.getmodule(getattr(m, "add_parser", None)) is m, \
            f"{m.__name__} does not define add_parser"
        assert m.__doc__, f"{m.__name__} has no docstring"
        assert m.add_parser.__doc__.startswith("add_parser - "), \
            f"{m.__name__}.add_parser has no kernel-doc docstring"
        assert commands_of(m), f"{m.__name__}.add_parser adds no command"
        for f in funcs(parser_of(m)):          # the parser lives beside its cmd_* function
            assert inspect.getmodule(f) is m, f"{m.__name__} dispatches to {f.__module__}"


def test_main_adds_no_parser_itself():
    """main.py's only add_parser calls are a module's add_parser(sub): one
    argument, the subparsers; never sub.add_parser("NAME", ...)."""
    tree = ast.parse(MAIN.read_text(), str(MAIN))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Attribute) and n.func.attr == "add_parser"]
    assert calls, "main.py calls no module's add_parser"
    for c in calls:
        where = f"main.py:{c.lineno}"
        assert not (isinstance(c.func.value, ast.Name) and c.func.value.id == "sub"), \
            f"{where}: sub.add_parser(...) belongs in the command's module"
        assert len(c.args) == 1 and not c.keywords, f"{where}: not a module's add_parser(sub)"
        assert not isinstance(c.args[0], ast.Constant), f"{where}: a command defined inline"
