"""The CPU test vectors: the project's hand-written set, the runner, and the documented example."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.cpu.vectors import FORMAT, load, run_vector

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "tests" / "vectors").glob("*.json"))
VECTORS = [(f.name, v) for f in FILES for v in load(f)]


def test_there_are_enough_vectors():
    """At least 60 vectors written from the manuals, each naming its source."""
    assert len(VECTORS) >= 60
    assert all(v.get("source") for _, v in VECTORS)


@pytest.mark.parametrize(("file", "vector"), VECTORS, ids=[f"{f}:{v['name']}" for f, v in VECTORS])
def test_vector(file, vector):
    """Each vector's expected state, worked out from the manuals, is what the CPU does."""
    result = run_vector(vector)
    assert result.passed, "\n".join(result.differences)


def _doc_example() -> dict:
    text = (ROOT / "docs" / "vectors.md").read_text()
    return json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))


class TestRunner:
    def test_documented_example_passes(self):
        """The example in docs/vectors.md is a valid file whose vector passes."""
        example = _doc_example()
        assert example["format"] == FORMAT
        assert [run_vector(v).passed for v in example["vectors"]] == [True]

    def test_command_line(self, tmp_path):
        """The runner prints PASS/FAIL per vector, a closing count, and exits 1 on a failure."""
        example = _doc_example()
        wrong = json.loads(json.dumps(example["vectors"][0]))
        wrong["name"] = "deliberately wrong"
        wrong["expect"]["regs"]["rcx"] = "0x1"
        example["vectors"].append(wrong)
        path = tmp_path / "v.json"
        path.write_text(json.dumps(example))
        done = subprocess.run(
            [sys.executable, "-m", "simulator.cpu.vectors", str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        lines = done.stdout.splitlines()
        assert done.returncode == 1
        assert lines[0] == "PASS SYSCALL from 64-bit user mode"
        assert lines[1] == "FAIL deliberately wrong"
        assert "rcx: expected 0x1, got 0x400002" in lines[2]
        assert lines[-1] == "1 passed, 1 failed"

    def test_bad_file(self, tmp_path):
        """A file in another format fails with a message, not a traceback."""
        path = tmp_path / "bad.json"
        path.write_text('{"format": "other"}')
        done = subprocess.run(
            [sys.executable, "-m", "simulator.cpu.vectors", str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert done.returncode == 1 and "expected format" in done.stdout
        assert "Traceback" not in done.stderr

    def test_unchanged_rule(self):
        """A register that changes without being listed fails the vector."""
        vector = _doc_example()["vectors"][0]
        del vector["expect"]["regs"]["r11"]
        result = run_vector(vector)
        assert not result.passed and any(d.startswith("r11:") for d in result.differences)
