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


def test_mypy_would_catch_a_member_that_breaks_its_contract(tmp_path):
    """A backend whose write returns a str where the contract says int, and a
    consumer whose consume takes the wrong argument: mypy refuses both (the
    contracts' hints are what it checks them against)."""
    bad = tmp_path / "bad_members.py"
    bad.write_text(
        "from kmodel.consumer.base import Consumer\n"
        "from kmodel.relay.backend import RelayBackend\n"
        "class Bad(RelayBackend):\n"
        "    @staticmethod\n"
        "    def write(buf: object, offset: int, src: bytes, length: int) -> str:\n"
        "        return 'no'\n"
        "class Worse(Consumer):\n"
        "    def consume(self, limit: str) -> None:\n"
        "        pass\n")
    r = run_mypy(str(bad))
    assert r.returncode == 1
    assert 'Return type "str" of "write" incompatible' in r.stdout, r.stdout
    assert 'Argument 1 of "consume" is incompatible' in r.stdout, r.stdout
