"""The Python examples in the docs run as written (```python blocks)."""
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCKS = [(p.name, i, m.group(1)) for p in sorted(DOCS.glob("*.md"))
          for i, m in enumerate(re.finditer(r"```python\n(.*?)```", p.read_text(), re.S))]


def test_there_are_examples():
    assert any(name == "relay.md" for name, _, _ in BLOCKS)


@pytest.mark.parametrize("name, i, code", BLOCKS, ids=[f"{n}#{i}" for n, i, _ in BLOCKS])
def test_example_runs(name, i, code):
    env = {}
    exec(compile(code, f"{name}#{i}", "exec"), env)
    k = env.get("k")
    if k is not None:
        k.shutdown()
