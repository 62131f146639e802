"""kmodel machines: the machine presets, one a line.

Each line: the preset's name, its nodes, CPUs and memory, and the first words
of its description.  ``kmodel machine show PRESET`` (machine_cmd.py) shows one.
"""
from hw.topology import load_preset, preset_names
from hw.units import format_size


def cmd_machines(args, out):
    for name in preset_names():
        spec = load_preset(name)
        nodes = "node " if spec.nr_nodes == 1 else "nodes"
        out.write(f"{name:<16} {spec.nr_nodes:>2} {nodes} {len(spec.present_cpus):>4} CPUs "
                  f"{format_size(spec.total_memory):>6}  {spec.description.split(':')[0].split('. ')[0].rstrip('.')}\n")
    return 0


def add_parser(sub):
    """add_parser - add ``kmodel machines`` to sub, the subparsers of kmodel's
    top-level parser (kmodel.cli.main)."""
    s = sub.add_parser("machines", help="list the machine presets")
    s.set_defaults(func=cmd_machines)
