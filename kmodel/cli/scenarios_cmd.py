"""kmodel scenarios [NAME]: list the built-in scenarios, or print one.

The list gives each scenario's name and title (its first comment line after
the #!kmodel header); ``kmodel run builtin:NAME`` runs one, and printing it is
how to copy one and adapt it.  The scenarios themselves, and how a script
finds one, are kmodel.cli.run's.
"""
from kmodel.cli.run import scenario_names, scenario_text


def scenario_title(text):
    """scenario_title - the title of a scenario's text: its first comment line
    after the #!kmodel header, or '' if it has none."""
    for line in text.splitlines()[1:]:
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def cmd_scenarios(args, out):
    if args.name:
        out.write(scenario_text(args.name.removeprefix("builtin:")))
        return 0
    for name in scenario_names():
        out.write(f"{name:<28} {scenario_title(scenario_text(name))}\n")
    out.write("\nrun one with: kmodel run builtin:NAME\n")
    return 0


def add_parser(sub):
    """add_parser - add ``kmodel scenarios [NAME]`` to sub, the subparsers of
    kmodel's top-level parser (kmodel.cli.main)."""
    s = sub.add_parser("scenarios", help="list the built-in scenarios, or print one")
    s.add_argument("name", nargs="?", help="print this scenario's script (to copy and adapt)")
    s.set_defaults(func=cmd_scenarios)
