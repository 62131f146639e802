"""kmodel.core.straight: the straight form derived from a step generator."""
import importlib
import inspect
import sys
import textwrap

import pytest

from kmodel.core import straight as straight_mod
from kmodel.core.straight import StraightError, derive, stepped, straight, trace_only
from kmodel.relay.layer import STEPS, LockingLayer, layer_names, get_layer

# Every module whose generators the layers run: each generator in it must have
# a straight form (a new one without @stepped would make run_now the only way
# to run it, and the callers outside the explorer slow again).
STEPPED_MODULES = ("kmodel.core.atomic", "kmodel.core.spinlock", "kmodel.cpu.sched",
                   "kmodel.cpu.wait", "kmodel.relay.ring_buffer", "kmodel.relay.layer",
                   "kmodel.cli.shell_layer")


def load(tmp_path, source, name="mod_under_test"):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    sys.path.insert(0, str(tmp_path))
    try:
        sys.modules.pop(name, None)
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


SOURCE = """
    from kmodel.core.straight import stepped, trace_only

    log = []

    @trace_only
    def note(value):
        log.append(("note", value))
        return value

    @stepped
    def leaf(x):
        yield ("step", x)
        log.append(("leaf", x))
        return note(x + 1)

    @stepped
    def forward(x):
        return (yield from leaf(x))

    @stepped
    def outer(x, y=10):
        a = yield from leaf(x)
        yield ("step", y)
        b = yield from forward(a)
        log.append(("outer", a, b, y))
        if b > 100:
            raise ValueError(f"too big: {b}")
        return a + b + y

    class Thing:
        def __init__(self, n):
            self.n = n

        @stepped
        def method(self, x):
            v = yield from leaf(x + self.n)
            return (yield from self.other(v))

        @stepped
        def other(self, v):
            yield ("step", v)
            return v * 2
"""


def run(gen):
    try:
        while True:
            next(gen)
    except StopIteration as e:
        return e.value


def test_the_twin_does_what_the_generator_does(tmp_path):
    m = load(tmp_path, SOURCE)
    assert run(m.outer(1)) == 2 + 3 + 10
    by_gen = list(m.log)
    m.log.clear()
    assert m.outer.straight(1) == 15
    # the same effects in the same order, but the trace-only notes
    assert m.log == [e for e in by_gen if e[0] != "note"]
    assert m.Thing(5).method__straight(1) == run(m.Thing(5).method(1)) == 14
    assert straight(m.Thing(5).method)(1) == 14 and straight(m.outer)(1) == 15


def test_the_twin_keeps_name_file_and_lines(tmp_path):
    """An oops or a traceback names the same function and line in both forms."""
    m = load(tmp_path, SOURCE)
    for gen, twin in ((m.outer, m.outer.straight), (m.Thing.method, m.Thing.method__straight)):
        assert twin.__code__.co_name == gen.__code__.co_name
        assert twin.__code__.co_filename == gen.__code__.co_filename
        def body(code):                 # the lines of the body (not of the def)
            return {line for *_, line in code.co_lines() if line} - {code.co_firstlineno}
        assert body(twin.__code__) <= body(gen.__code__) and body(twin.__code__)
    with pytest.raises(ValueError) as e:
        m.outer.straight(200)
    tb = e.traceback[-1]
    lines = inspect.getsourcelines(m.outer)
    assert tb.lineno + 1 - lines[1] < len(lines[0])     # inside outer's own lines
    assert "raise ValueError" in lines[0][tb.lineno + 1 - lines[1]]


def test_a_forwarding_generator_gets_the_callee_twin(tmp_path):
    m = load(tmp_path, SOURCE)
    assert m.forward.straight is m.leaf.straight
    assert m.outer.straight is not m.leaf.straight


@pytest.mark.parametrize("body, why", [
    ("x = yield 1\n    return x", "a yield used as a value"),
    ("yield from [1, 2]", "not of a call"),
    ("yield from (lambda: None)()", "no twin to derive"),
])
def test_what_cannot_be_derived_is_refused(tmp_path, body, why):
    m = load(tmp_path, f"def g():\n    {body}\n", name="bad_" + str(abs(hash(body))))
    with pytest.raises(StraightError, match=why):
        derive(m.g)


def test_a_closure_or_a_plain_function_is_refused(tmp_path):
    def plain():
        return 1

    n = 3

    def closure():
        yield n
    with pytest.raises(StraightError, match="not a generator"):
        derive(plain)
    with pytest.raises(StraightError, match="closure"):
        derive(closure)


def test_a_layer_gets_every_twin_when_it_is_defined():
    import kmodel.relay.builtin  # noqa: F401  (registers the shipped layers)
    for name in layer_names():
        layer = get_layer(name)
        for step in STEPS:
            twin = getattr(layer, step + "__straight")
            gen = getattr(layer, step)
            assert twin.__code__.co_name == gen.__code__.co_name == step, (name, step)


def test_a_layer_whose_step_cannot_be_derived_is_refused_at_its_definition():
    with pytest.raises(StraightError, match="a yield used as a value"):
        class Bad(LockingLayer):        # noqa: F841
            name = None

            def counter_ops(self, scope):
                return None

            def reserve(self, rb, n, event_id=0):
                x = yield 1
                return x

            def commit(self, rb, slot, tsc, payload, event_id, token):
                yield from ()

            def flush(self, rb, mode=None):
                yield from ()


@pytest.mark.parametrize("modname", STEPPED_MODULES)
def test_every_step_generator_has_a_straight_form(modname):
    mod = importlib.import_module(modname)
    missing = []
    for name, obj in vars(mod).items():
        if inspect.isgeneratorfunction(obj) and obj.__module__ == modname \
                and not hasattr(obj, "straight"):
            missing.append(name)
        if inspect.isclass(obj) and obj.__module__ == modname:
            missing += [f"{name}.{m}" for m, f in vars(obj).items()
                        if inspect.isgeneratorfunction(f) and not hasattr(obj, m + "__straight")]
    assert not missing, f"generators with no straight form: {missing}"


def test_trace_only_marks():
    @trace_only
    def f(v):
        return v
    assert getattr(f, straight_mod.TRACE_ONLY)


def test_stepped_returns_the_generator_itself(tmp_path):
    m = load(tmp_path, SOURCE)
    assert inspect.isgeneratorfunction(m.outer) and m.outer.__name__ == "outer"
    assert stepped is straight_mod.stepped
