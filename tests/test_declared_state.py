"""Fields are declared where they live: nothing attaches state to the kernel, a
module or a file from outside, and every attribute read off a kernel is one
that kmodel/kernel.py sets or defines."""
import ast
from pathlib import Path

from kmodel.kernel import Kernel
from kmodel.relay.ring_buffer import lib_ring_buffer, rb_channel

ROOT = Path(__file__).resolve().parent.parent
KERNEL_NAMES = ("k", "kernel")          # what the code calls a Kernel


def kernel_declares():
    """Every attribute kernel.py gives a Kernel: assigned in its methods,
    set by name, or defined in the class."""
    tree = ast.parse((ROOT / "kmodel" / "kernel.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Kernel")
    names = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    names |= {t.id for n in cls.body if isinstance(n, ast.Assign) for t in n.targets
              if isinstance(t, ast.Name)}
    for node in ast.walk(cls):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and \
                isinstance(node.value, ast.Name) and node.value.id == "self":
            names.add(node.attr)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr" and \
                isinstance(node.args[1], ast.Constant):
            names.add(node.args[1].value)
    return names


def kernel_uses(root):
    """(file:line, name, stored?) of every k.NAME and self.k.NAME in root."""
    out = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Attribute):
                continue
            v = node.value
            if (isinstance(v, ast.Name) and v.id in KERNEL_NAMES) or \
                    (isinstance(v, ast.Attribute) and v.attr == "k"):
                out.append((f"{path.relative_to(root)}:{node.lineno}", node.attr,
                            isinstance(node.ctx, ast.Store)))
    return out


def test_every_attribute_read_off_a_kernel_is_declared_in_kernel_py():
    declared = kernel_declares() | set(dir(Kernel))
    stray = [(where, name) for where, name, _ in kernel_uses(ROOT / "kmodel")
             if name not in declared]
    assert stray == []


def test_nothing_outside_kernel_py_adds_an_attribute_to_a_kernel():
    """k.X = ... outside kernel.py may only set what kernel.py declares (the
    running context, k.current, is the scheduler's to move)."""
    declared = kernel_declares()
    added = [(where, name) for where, name, store in kernel_uses(ROOT / "kmodel")
             if store and name not in declared]
    assert added == []


def test_the_check_sees_an_attribute_attached_from_outside(tmp_path):
    (tmp_path / "m.py").write_text("def f(k):\n    k.pmem_region = 3\n    return k.nothing\n")
    uses = kernel_uses(tmp_path)
    declared = kernel_declares()
    assert [(n, s) for _, n, s in uses if n not in declared] == [("pmem_region", True),
                                                                ("nothing", False)]


def test_layer_state_has_slots():
    """A buffer and a channel of the sub-buffer layer take no attribute that
    their class does not declare (a layer keeps its own in rb.layer_priv)."""
    assert "__dict__" not in dir(lib_ring_buffer) and "layer_priv" in lib_ring_buffer.__slots__
    assert "__dict__" not in dir(rb_channel)
