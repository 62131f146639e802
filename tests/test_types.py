"""The contracts (backend, layer, consumer, command, api, session, packet) and
the public relay and ring-buffer functions are typed, and mypy finds nothing
wrong in them ([tool.mypy] in pyproject.toml says which files)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_mypy(*extra):
    return subprocess.run([sys.executable, "-m", "mypy", *extra], cwd=ROOT, capture_output=True,
                          text=True)


@pytest.fixture(scope="module", autouse=True)
def mypy_installed():
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")


def test_mypy_passes_on_the_contracts():
    r = run_mypy()
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_would_catch_a_contract_broken_by_its_types(tmp_path):
    """A backend whose write returns a str where the contract says int, and an
    untyped contract function: both refused."""
    bad = tmp_path / "bad_backend.py"
    bad.write_text(
        "from kmodel.relay.backend import RelayBackend\n"
        "def registered(name: str) -> list[str]:\n"
        "    return name\n"
        "def untyped(name):\n"
        "    return name\n")
    r = run_mypy("--disallow-untyped-defs", str(bad))
    assert r.returncode == 1
    assert "Incompatible return value type" in r.stdout and "missing a type annotation" in r.stdout
