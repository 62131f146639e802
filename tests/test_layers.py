"""The arrows point down: a check of every import in the tree.

hw knows nothing of kmodel; kmodel.core, mm, cpu and fs import nothing from the
relay, its users or the CLI, and do not load them by name either; and no
module of kmodel imports, even lazily inside a function, a module that
imports it back."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOWER = ("kmodel.core", "kmodel.mm", "kmodel.cpu", "kmodel.fs")
UPPER = ("kmodel.relay", "kmodel.cli", "kmodel.perf", "kmodel.scenarios", "kmodel.lib")


def modules():
    out = {}
    for base in ("kmodel", "hw"):
        for p in sorted((ROOT / base).rglob("*.py")):
            name = ".".join(p.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = p
    return out


MODULES = modules()


def imports(path):
    """Every module path path imports, at any depth, and every string that
    names one of ours (importlib and friends load by name)."""
    tree = ast.parse(path.read_text(), str(path))
    names, strings = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names
                         if f"{node.module}.{a.name}" in MODULES)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.startswith(("kmodel.", "hw.")) and \
                    node.value.split(":")[0] in MODULES:
                strings.add(node.value.split(":")[0])
    return names, strings


def under(name, packages):
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_hw_knows_nothing_of_kmodel():
    bad = [(m, n) for m, p in MODULES.items() if under(m, ("hw",))
           for n in set.union(*imports(p)) if under(n, ("kmodel",))]
    assert not bad


def test_lower_layers_never_reach_up():
    bad = []
    for m, p in MODULES.items():
        if under(m, LOWER):
            names, strings = imports(p)
            bad += [(m, n) for n in names | strings if under(n, UPPER)]
    assert not bad, bad


def test_no_import_cycles():
    graph = {m: {n for n in set.union(*imports(p)) if n in MODULES and n != m}
             for m, p in MODULES.items()}
    # a package's own __init__ importing its modules is how a package is
    # made, not a cycle: drop the edge from a module to the package it is in
    for m in graph:
        graph[m] = {n for n in graph[m] if not m.startswith(n + ".")}
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v, counter=[0]):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))
    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_the_check_sees_lazy_and_by_name_loads(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("def f():\n    import kmodel.relay.module\n"
                 "LOAD = 'kmodel.cli.shell:Shell'\n")
    names, strings = imports(f)
    assert "kmodel.relay.module" in names and "kmodel.cli.shell" in strings
