"""The tutorial notebooks of docs/notebooks/: jupytext percent files, each run as plain Python.

A notebook asserts what it teaches, so running it here is how a change in the simulator
that breaks a lesson shows up; a failure names the notebook, the cell and the line.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import runpy
import traceback
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "docs" / "notebooks"
INDEX = NOTEBOOKS / "README.md"

# jupytext's header for the percent format; more keys (kernelspec, ...) may follow.
HEADER = "# ---\n# jupyter:\n#   jupytext:\n#     formats: py:percent\n"
HEADINGS = ("What you will do", "What you will learn", "What you need")
# The project's modules a notebook may import: the public surface of DESIGN.md (and any
# scenarios helper), never the kernel's internals, so that internals can move freely.
PROJECT = ("abi", "simulator", "scenarios")
PUBLIC = ("abi", "simulator", "simulator.cpu", "simulator.cpu.assembler")
PUBLIC += ("simulator.cpu.disassembler", "simulator.cost", "simulator.trace")


class Cell(NamedTuple):
    kind: str  # "code" or "markdown"
    line: int  # 1-based line of its "# %%" marker
    source: list[str]


def _paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.py"))


def _split(text: str) -> tuple[list[str], list[str], list[Cell]]:
    """The header's lines, the lines between the header and the first cell, and the cells."""
    lines = text.splitlines()
    end = lines.index("# ---", 1) if lines and lines[0] == "# ---" and "# ---" in lines[1:] else -1
    header, stray, cells = lines[: end + 1], [], []
    for number, line in enumerate(lines[end + 1 :], start=end + 2):
        if line.startswith("# %%"):
            kind = "markdown" if line.strip() == "# %% [markdown]" else "code"
            cells.append(Cell(kind, number, []))
        elif cells:
            cells[-1].source.append(line)
        else:
            stray.append(line)
    return header, stray, cells


def _markdown(cell: Cell) -> str:
    """A markdown cell's text, its comment marks removed."""
    return "\n".join(
        line[2:] if line.startswith("# ") else line.lstrip("#") for line in cell.source
    )


def _cell_at(cells: list[Cell], line: int) -> int:
    """The 1-based number of the cell that holds ``line``."""
    return max((i for i, c in enumerate(cells, 1) if c.line <= line), default=0)


NOTEBOOK_PARAMS = [pytest.param(path, id=path.stem) for path in _paths()]


class TestNotebookFiles:
    def test_there_are_notebooks(self):
        """docs/notebooks/ holds the tutorials, as .py files."""
        assert len(_paths()) >= 6

    @pytest.mark.parametrize("path", NOTEBOOK_PARAMS)
    def test_jupytext_header(self, path):
        """The file opens with jupytext's percent-format header, and cells follow it."""
        text = path.read_text()
        header, stray, cells = _split(text)
        assert text.startswith(HEADER), f"{path.name}: no jupytext percent-format header"
        assert header and header[-1] == "# ---", f"{path.name}: the header block is not closed"
        assert all(line.startswith("#") for line in header), f"{path.name}: header not comments"
        assert not any(line.strip() for line in stray), f"{path.name}: text before the first cell"
        assert {c.kind for c in cells} == {"code", "markdown"}, f"{path.name}: no code or prose"

    @pytest.mark.parametrize("path", NOTEBOOK_PARAMS)
    def test_opens_with_what_you_will_do_learn_need(self, path):
        """The first cell is prose with a title and the three headings, in order."""
        _, _, cells = _split(path.read_text())
        first = cells[0]
        assert first.kind == "markdown", f"{path.name}: the first cell is not markdown"
        text = _markdown(first)
        assert text.lstrip().startswith("# "), f"{path.name}: the first cell has no title"
        places = []
        for heading in HEADINGS:
            found = re.search(rf"^(#+ |\*\*){heading}\b", text, re.MULTILINE)
            assert found, f"{path.name}: the first cell has no {heading!r} heading or bold line"
            places.append(found.start())
        assert places == sorted(places), f"{path.name}: the headings are out of order"

    @pytest.mark.parametrize("path", NOTEBOOK_PARAMS)
    def test_markdown_cells_are_comments(self, path):
        """Every line of a markdown cell is a comment, so the file stays valid Python."""
        _, _, cells = _split(path.read_text())
        for cell in cells:
            if cell.kind == "markdown":
                bad = [line for line in cell.source if line and not line.startswith("#")]
                assert not bad, f"{path.name}, cell at line {cell.line}: {bad[0]!r}"

    @pytest.mark.parametrize("path", NOTEBOOK_PARAMS)
    def test_imports_only_the_public_api(self, path):
        """A notebook imports ringsim only through its public modules (or scenarios)."""
        tree = ast.parse(path.read_text(), filename=path.name)
        modules = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        modules += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        private = [
            name
            for name in modules
            if name.split(".")[0] in PROJECT
            and name not in PUBLIC
            and not name.startswith("scenarios")
        ]
        assert not private, f"{path.name} imports internals: {private}"


class TestNotebooksRun:
    @pytest.mark.parametrize("path", NOTEBOOK_PARAMS)
    def test_runs_and_its_assertions_hold(self, path):
        """The notebook's code runs as a script, every assertion holds, and it shows output."""
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                runpy.run_path(str(path), run_name="__main__")
        except Exception as error:  # a notebook's failure, reported with its cell
            frames = [
                f for f in traceback.extract_tb(error.__traceback__) if f.filename == str(path)
            ]
            line = frames[-1].lineno if frames else 0
            cell = _cell_at(_split(path.read_text())[2], line or 0)
            shown = frames[-1].line if frames else ""
            pytest.fail(
                f"notebook {path.name}, cell {cell} (line {line}: {shown}): "
                f"{type(error).__name__}: {error}\n\n{traceback.format_exc()}",
                pytrace=False,
            )
        assert out.getvalue().strip(), f"{path.name} printed nothing"


class TestIndex:
    def _linked(self) -> dict[str, str]:
        """Each notebook the index links to, with the text of its entry."""
        entries = re.findall(r"^- \[([^\]]+)\]\(([^)]+)\)(.*)$", INDEX.read_text(), re.MULTILINE)
        return {target: rest for _, target, rest in entries}

    def test_every_notebook_is_in_the_index_and_back(self):
        """docs/notebooks/README.md lists every notebook, and nothing that is not one."""
        linked = set(self._linked())
        present = {path.name for path in _paths()}
        assert present - linked == set(), f"notebooks missing from README.md: {present - linked}"
        assert linked - present == set(), f"README.md lists missing notebooks: {linked - present}"

    def test_each_entry_says_what_it_covers(self):
        """Each index entry is the link, its name as text, then what the notebook covers."""
        text = INDEX.read_text()
        for target in self._linked():
            assert f"- [{target}]({target}):" in text, f"README.md entry for {target}"
            entry = text.split(f"({target}):", 1)[1].split("\n- ", 1)[0]
            assert len(entry.split()) >= 8, f"README.md: say what {target} covers"
