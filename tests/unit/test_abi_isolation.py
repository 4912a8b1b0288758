"""Unit tests for abi's import boundaries: no Hypothesis, no simulator, no side effects."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import abi

ROOT = Path(__file__).resolve().parents[2]

BLOCK_HYPOTHESIS = """
import sys

class BlockHypothesis:
    def find_spec(self, name, path=None, target=None):
        if name == "hypothesis" or name.startswith("hypothesis."):
            raise ImportError("hypothesis is blocked in this test")
        return None

sys.meta_path.insert(0, BlockHypothesis())
import simulator
import abi
assert "hypothesis" not in sys.modules
print(abi.syscall_number("read", abi="i386"), abi.explain("read").splitlines()[0])
try:
    import abi.strategies
except ImportError:
    print("strategies need hypothesis")
"""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


class TestImportBoundaries:
    """abi stands alone: importable without Hypothesis, and never importing simulator."""

    def test_works_without_hypothesis(self):
        """In a subprocess where Hypothesis cannot be imported, simulator and abi import
        and work; only abi.strategies needs Hypothesis."""
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        result = subprocess.run(
            [sys.executable, "-c", BLOCK_HYPOTHESIS],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            "3 read (profile linux-3.16, Linux 3.16.0)",
            "strategies need hypothesis",
        ]

    def test_no_module_imports_simulator(self):
        """No abi module imports simulator (the layers flow one way)."""
        for path in (ROOT / "abi").glob("*.py"):
            assert not any(name.split(".")[0] == "simulator" for name in _imports(path)), path

    def test_only_strategies_imports_hypothesis(self):
        """Hypothesis is imported by abi/strategies.py alone."""
        for path in (ROOT / "abi").glob("*.py"):
            uses = any(name.split(".")[0] == "hypothesis" for name in _imports(path))
            assert uses == (path.name == "strategies.py"), path

    def test_init_exports(self):
        """abi.__all__ names only things abi defines, and not the strategies module."""
        assert "strategies" not in abi.__all__
        for name in abi.__all__:
            assert hasattr(abi, name), name
