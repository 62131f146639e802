"""The arrows point down: a check of every import in the tree.

Each package has a rank (RANK, the picture in docs/architecture.md), and a
module imports, even lazily inside a function or by name in a string, only
modules of its own rank or below:

    9  kmodel (the package), kmodel.__main__
    8  kmodel.cli                     the command line and the shell
    7  kmodel.api                     the library's entry points
    6  kmodel.consumer, kmodel.perf, kmodel.scenarios
    5  kmodel.session                 a machine, its kernels, reboots
    4  kmodel.kernel                  boot: puts the layers below together
    3  kmodel.relay, kmodel.lib       the module under study; lib/ modules
    2  kmodel.mm, kmodel.cpu, kmodel.fs
    1  kmodel.core
    0  hw                             knows nothing of kmodel

So nothing below the CLI reaches the shell, and nothing below the kernel
boots one.  No module of kmodel imports, even lazily, a module that imports
it back."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOWER = ("kmodel.core", "kmodel.mm", "kmodel.cpu", "kmodel.fs")
UPPER = ("kmodel.relay", "kmodel.cli", "kmodel.perf", "kmodel.scenarios", "kmodel.lib")
RANK = {"hw": 0, "kmodel.core": 1, "kmodel.mm": 2, "kmodel.cpu": 2, "kmodel.fs": 2,
        "kmodel.relay": 3, "kmodel.lib": 3, "kmodel.kernel": 4, "kmodel.session": 5,
        "kmodel.consumer": 6, "kmodel.perf": 6, "kmodel.scenarios": 6, "kmodel.api": 7,
        "kmodel.cli": 8, "kmodel.__main__": 9, "kmodel": 9}


def modules():
    out = {}
    for base in ("kmodel", "hw"):
        for p in sorted((ROOT / base).rglob("*.py")):
            name = ".".join(p.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = p
    return out


MODULES = modules()


def type_only(tree):
    """The nodes under `if TYPE_CHECKING:`: imports a type checker reads and
    Python never runs (a contract naming the Kernel it is handed)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def imports(path):
    """Every module path path imports, at any depth (but for the type checker
    alone), and every string that names one of ours (importlib and friends load
    by name)."""
    tree = ast.parse(path.read_text(), str(path))
    names, strings = set(), set()
    skip = type_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
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


def rank(module):
    """The rank of the longest package in RANK that holds module."""
    best = max((p for p in RANK if module == p or module.startswith(p + ".")), key=len)
    return RANK[best]


def upward(modules):
    """(module, what it imports) pairs that point up the ranks."""
    bad = []
    for m, p in modules.items():
        for n in set.union(*imports(p)):
            if n in MODULES and rank(n) > rank(m):
                bad.append((m, n))
    return bad


def test_every_package_has_a_rank():
    assert all(rank(m) is not None for m in MODULES)


def test_imports_point_down_the_ranks():
    """Nothing below the CLI imports the CLI (the recorder used to boot through
    the shell), nothing below the kernel boots one (the explorer used to), and
    so on down."""
    assert upward(MODULES) == []


def test_the_rank_check_catches_an_upward_import(tmp_path):
    d = tmp_path / "kmodel" / "cpu"
    d.mkdir(parents=True)
    f = d / "explore.py"
    f.write_text("def f():\n    from kmodel.kernel import boot\n")
    g = tmp_path / "record.py"
    g.write_text("from kmodel.cli.shell import Shell\n")
    assert upward({"kmodel.cpu.explore": f, "kmodel.consumer.record": g}) == [
        ("kmodel.cpu.explore", "kmodel.kernel"), ("kmodel.consumer.record", "kmodel.cli.shell")]


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
