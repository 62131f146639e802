"""One algorithm, two executions: the straight form of a step generator.

The code that contexts run (the atomics, the spinlocks, the sub-buffer layer,
the locking layers) is written once, as generators that yield before every
operation another context could come between, so that the explorer
(kmodel.cpu.explore) can interleave any two steps.  Everything else (the
shell, ``trace record``, the benchmarks, the sweeps) runs it straight
through, with no other context between its steps, and pays nothing for the
yields if it runs the *straight form*: a plain function derived from the
generator's own source at import, by an AST transform.  Nobody writes or
keeps a second copy.

The transform, on a generator function's definition:

- a ``yield EVENT`` statement only marks a step: it goes (``pass``);
- ``yield from CALLEE(args)`` becomes a call of the callee's straight form:
  ``f(args)`` becomes ``f.straight(args)`` (the function's own twin), and
  ``obj.m(args)`` becomes ``obj.m__straight(args)`` (the twin found the way
  the callee would be, at run time: on the object or its class);
- a call of a function marked ``trace_only`` (it records, for the
  explorer's trace, what a step returned) becomes the value it returns;
- a generator that only forwards its parameters to another and returns
  what that returns (``local_read`` is ``READ_ONCE``) gets that one's twin;
- nothing else changes: every charge to the cost model, every counter, every
  check, WARN and oops stays where it is, in the same order, and the twin's
  code keeps the original's name, file and line numbers, so the oops
  messages (which name the function and line) are the same.

A ``yield`` used as a value, a ``yield from`` of anything but a call, or a
closure (a generator defined inside a function) is refused when the twin is
derived: such a generator must be given a twin by hand.  The few yields that
*mean* something when run straight through (an IPI to run now, a lock
another context holds) are in functions whose twins are written by hand
(``with_twin``): kmodel.core.spinlock.spin_lock, kmodel.cpu.sched's
smp_call_function_single, kmodel.cpu.wait.wait_event.

``stepped`` derives a module-level function's twin (``f.straight``); in a
class body, it derives a method's twin
(``m__straight`` on the class); ``derive_methods(cls, names)`` derives the
twins of a class's generator methods that have none (a locking layer defined
anywhere gets them from its contract).  ``straight(f)`` gives the twin of a
generator function or of a bound generator method, to call in its place.
"""
import ast
import inspect
import sys
import textwrap
from collections.abc import Callable
from typing import Any

__all__ = ["stepped", "with_twin", "derive_methods", "straight", "trace_only", "TWIN",
           "StraightError"]

TWIN = "__straight"                     # the suffix of a twin's name
TRACE_ONLY = "__straight_trace_only__"


class StraightError(TypeError):
    """A generator whose straight form cannot be derived (it says why)."""


class _Transform(ast.NodeTransformer):
    def __init__(self, where, space):
        self.where = where
        self.space = space              # the generator's globals

    def _twin(self, func):
        if isinstance(func, ast.Name):          # f(...): f.straight(...)
            return ast.copy_location(ast.Attribute(func, "straight", ast.Load()), func)
        if isinstance(func, ast.Attribute):
            return ast.copy_location(ast.Attribute(self.visit(func.value), func.attr + TWIN,
                                                   ast.Load()), func)
        raise StraightError(f"{self.where}: 'yield from' of a call through "
                            f"{ast.unparse(func)!r}: no twin to derive")

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Yield):           # a step's marker: gone
            if node.value.value is not None and _has_yield(node.value.value):
                raise StraightError(f"{self.where}: a yield inside a yield")
            return ast.copy_location(ast.Pass(), node)
        return self.generic_visit(node)

    def visit_YieldFrom(self, node):
        call = node.value
        if not isinstance(call, ast.Call):
            raise StraightError(f"{self.where}:{node.lineno}: 'yield from' of "
                                f"{ast.unparse(call)!r}, not of a call")
        new = ast.Call(self._twin(call.func), [self.visit(a) for a in call.args],
                       [self.visit(kw) for kw in call.keywords])
        return ast.copy_location(new, node)

    def visit_Call(self, node):
        f = node.func
        if isinstance(f, ast.Name) and getattr(self.space.get(f.id), TRACE_ONLY, False) \
                and node.args and not node.keywords:
            return self.visit(node.args[-1])            # trace_only(..., value): value
        return self.generic_visit(node)

    def visit_Yield(self, node):
        raise StraightError(f"{self.where}:{node.lineno}: a yield used as a value")

    def visit_FunctionDef(self, node):
        if getattr(self, "_top", None) is not None:
            raise StraightError(f"{self.where}: a function defined inside the generator")
        self._top = node
        node.decorator_list = []
        node.body = [self.visit(s) for s in node.body]
        return node

    visit_AsyncFunctionDef = visit_Lambda = None


def _forwarded(node, fn):
    """The twin of a generator that only forwards its parameters, in order,
    to another's and returns what it returns (local_read is READ_ONCE): that
    twin itself, one call the less.  None otherwise."""
    body = [st for st in node.body if not isinstance(st, ast.Pass) and not (
        isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant))]
    a = node.args
    if len(body) != 1 or not isinstance(body[0], ast.Return) or a.vararg or a.kwarg \
            or a.kwonlyargs or a.defaults or a.posonlyargs:
        return None
    call = body[0].value
    if not (isinstance(call, ast.Call) and not call.keywords and
            isinstance(call.func, ast.Attribute) and call.func.attr == "straight" and
            isinstance(call.func.value, ast.Name) and
            [getattr(x, "id", None) for x in call.args] == [x.arg for x in a.args]):
        return None
    target = fn.__globals__.get(call.func.value.id)
    return getattr(target, "straight", None)


def trace_only(fn):
    """trace_only - mark fn(..., value) as a call that returns its last
    argument and otherwise only records what a trace of the explorer shows
    (kmodel.core.atomic._note): the straight forms, which no trace follows,
    keep the value and skip the call."""
    setattr(fn, TRACE_ONLY, True)
    return fn


def _has_yield(node):
    return any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(node))


def derive(fn: Callable[..., Any]) -> Callable[..., Any]:
    """derive - the straight form of generator function fn (a plain function
    with fn's name, file and lines, in fn's globals)."""
    where = f"{fn.__module__}.{fn.__qualname__}"
    if not inspect.isgeneratorfunction(fn):
        raise StraightError(f"{where} is not a generator function")
    if fn.__code__.co_freevars:
        raise StraightError(f"{where} is a closure (it uses "
                            f"{', '.join(fn.__code__.co_freevars)}): give it a twin by hand")
    lines, first = inspect.getsourcelines(fn)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    ast.increment_lineno(tree, first - 1)
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef):
        raise StraightError(f"{where}: not a plain def")
    node = _Transform(where, fn.__globals__).visit(node)
    alias = _forwarded(node, fn)
    if alias is not None:
        return alias
    if _has_yield(node):
        raise StraightError(f"{where}: a yield is left after the transform")
    module = ast.fix_missing_locations(ast.Module([node], type_ignores=[]))
    code = compile(module, inspect.getsourcefile(fn) or fn.__code__.co_filename, "exec")
    space: dict[str, Any] = {}
    exec(code, fn.__globals__, space)
    twin = space[fn.__name__]
    twin.__defaults__ = fn.__defaults__
    twin.__kwdefaults__ = fn.__kwdefaults__
    twin.__qualname__ = fn.__qualname__ + TWIN
    twin.__doc__ = f"The straight form of {fn.__qualname__} (kmodel.core.straight)."
    return twin


class _Method:
    """What @stepped leaves in a class body: at class creation, the method
    goes back to the class, with its twin beside it."""

    def __init__(self, fn, twin=None):
        self.fn = fn
        self.twin = twin

    def __set_name__(self, owner, name):
        setattr(owner, name, self.fn)
        setattr(owner, name + TWIN, self.twin if self.twin is not None else derive(self.fn))


def _in_class_body(depth=2):
    return "__module__" in sys._getframe(depth).f_locals and \
        "__qualname__" in sys._getframe(depth).f_locals


def stepped(fn):
    """stepped - derive the straight form of generator function fn: for a
    module-level function, fn.straight; in a class body, <name>__straight on
    the class.  Returns fn (or, in a
    class body, what puts fn and its twin on the class)."""
    if _in_class_body():
        return _Method(fn)
    fn.straight = derive(fn)
    return fn


def with_twin(twin):
    """with_twin(twin) - as stepped, with a twin written by hand (for the
    generators whose yields mean something run straight through: an IPI, a
    lock, a sleep).  The twin must do what run_now would make of them."""
    def attach(fn):
        if _in_class_body():
            return _Method(fn, twin)
        fn.straight = twin
        return fn
    return attach


def derive_methods(cls: type, names: tuple[str, ...]) -> None:
    """derive_methods - give each generator method of cls in names a twin
    (<name>__straight) unless cls or a base has one for that very method."""
    for name in names:
        fn = cls.__dict__.get(name)
        if fn is None or not inspect.isgeneratorfunction(fn):
            continue
        if name + TWIN not in cls.__dict__:
            setattr(cls, name + TWIN, derive(fn))


def straight(f: Callable[..., Any]) -> Callable[..., Any]:
    """straight - what to call instead of generator function (or bound
    generator method) f to run it straight through; f itself when f is no
    generator (a plain function needs no twin)."""
    self = getattr(f, "__self__", None)
    if self is not None and not inspect.ismodule(self):
        twin = getattr(self, f.__name__ + TWIN, None)
        if twin is not None:
            return twin
    twin = getattr(f, "straight", None)
    if twin is not None:
        return twin
    if inspect.isgeneratorfunction(f):
        raise StraightError(f"{getattr(f, '__qualname__', f)} has no straight form")
    return f
