"""docs/api.md: generated from the code by scenarios.apiref, current, complete, and about a
public API whose every callable has a docstring and type hints."""

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

import abi
import simulator
from scenarios import apiref

ROOT = Path(__file__).resolve().parents[2]

# Gaps in files this change could not touch (simulator/trace.py, simulator/cost.py and
# scenarios/ are being changed by others): "public name": "what it lacks". Fill the gap in
# the code, then delete its line; test_allowed_gaps_are_still_gaps fails for a line whose
# gap is filled, so the list can only shrink. Keep it empty otherwise.
ALLOWED_GAPS = {}


def _listed() -> list[tuple[str, object]]:
    """(public name, object) for every class, function, method and property the page lists."""
    out: list[tuple[str, object]] = []
    for package, items in apiref.reference().items():
        for item in items:
            name = f"{package}.{item.name}" if item.exported else item.name
            if item.kind in ("class", "exception"):
                out.append((name, item.obj))
                out += [
                    (f"{name}.{m.name}", m.obj)
                    for m in apiref.members(item.obj)
                    if m.kind not in ("field", "attribute", "class attribute")
                ]
            elif item.kind == "function":
                out.append((name, item.obj))
            elif item.kind == "module":
                out += [
                    (f"{name}.{sub.name}", sub.obj)
                    for sub in apiref.exported(item.obj.__name__)
                    if sub.kind in ("class", "exception", "function")
                ]
    return out


def _typed(function: object, skip_first: bool) -> list[str]:
    """What a function's signature leaves unannotated."""
    target = inspect.unwrap(getattr(function, "__func__", function))
    sig = inspect.signature(target)
    params = list(sig.parameters.values())[1 if skip_first else 0 :]
    missing = [f"type hint on {p.name}" for p in params if p.annotation is p.empty]
    if sig.return_annotation is sig.empty:
        missing.append("return type hint")
    return missing


def gaps(obj: object) -> list[str]:
    """What ``obj`` lacks of the project's rule: a docstring, and type hints on every
    parameter and the return (a class: on its constructor; attrs: on every field)."""
    if isinstance(obj, property):
        doc = obj.fget.__doc__
        missing = [] if "return" in obj.fget.__annotations__ else ["return type hint"]
    elif inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
        init = apiref.constructor(obj)
        if init is None:
            missing = []
        elif (
            attrs.has(obj)
            and getattr(init, "__code__", None) is not None
            and (init.__code__.co_filename.startswith("<attrs generated"))
        ):
            missing = [f"type hint on field {f.name}" for f in attrs.fields(obj) if f.type is None]
        else:
            missing = _typed(init, skip_first=True)
    else:
        target = inspect.unwrap(obj)
        doc = target.__doc__
        method = "." in target.__qualname__ and "<locals>" not in target.__qualname__
        first = next(iter(inspect.signature(target).parameters), None)
        missing = _typed(target, skip_first=method and first in ("self", "cls"))
    if not (isinstance(doc, str) and doc.strip()):
        missing.insert(0, "docstring")
    return missing


LISTED = _listed()


@pytest.fixture(scope="module")
def page() -> str:
    return apiref.render()


class TestGeneratedPage:
    def test_page_is_current(self, capsys):
        """docs/api.md is what `python -m scenarios.apiref` generates now (run in-process)."""
        status = apiref.main(["--check"])
        assert status == 0, capsys.readouterr().err

    def test_check_names_the_sections_that_differ(self, page):
        """A stale page is refused with a message that names the sections that differ and
        how to regenerate it; a missing page is named too."""
        stale = page.replace("One step of a trace.", "One step.", 1)
        message = apiref.check(stale, page)
        assert "docs/api.md is out of date" in message
        assert "python -m scenarios.apiref" in message
        assert "sections that differ: `Event`" in message
        assert "-One step." in message and "+One step of a trace." in message
        assert "does not exist" in apiref.check(None, page)
        assert apiref.check(page, page) is None

    def test_stale_file_exits_1(self, page, tmp_path, monkeypatch, capsys):
        """--check exits 1 and says why when the file on disk is stale."""
        doc = tmp_path / "api.md"
        doc.write_text(page.replace("## Command line", "## The command line"))
        monkeypatch.setattr(apiref, "DOC", doc)
        monkeypatch.setattr(apiref, "render", lambda: page)
        assert apiref.main(["--check"]) == 1
        err = capsys.readouterr().err
        assert "out of date" in err and "Command line" in err
        assert str(tmp_path) not in err  # the message names docs/api.md, not this machine

    def test_every_export_is_documented(self, page):
        """Every name simulator and abi export (and simulator.cpu's) has its entry."""
        missing = [
            f"{module.__name__}.{name}"
            for module in (simulator, abi, simulator.cpu)
            for name in module.__all__
            if not re.search(rf"^(#+ `{name}(\(\))?`|\| `{name}` \|)", page, re.M)
            and not (module is simulator and name == "cpu" and "#### `simulator.cpu`" in page)
        ]
        assert missing == []

    def test_cli_subcommands_are_documented(self, page):
        """The page holds the help of ringsim and of each of its subcommands."""
        commands = [command for command, _ in apiref.cli_helps()]
        assert commands[0] == "ringsim" and len(commands) > 1
        for command in commands:
            assert f"### `{command}`" in page
        assert "usage: ringsim run" in page

    def test_contents_links_resolve(self, page):
        """Every link of the contents leads to a heading of the page (GitHub's anchors)."""
        taken: dict[str, int] = {}
        anchors = {
            apiref._anchor(line.lstrip("#").strip(), taken)
            for line in page.splitlines()
            if re.match(r"#{2,6} ", line)
        }
        links = re.findall(r"\]\(#([^)]+)\)", page)
        assert links and [link for link in links if link not in anchors] == []

    def test_nothing_of_this_machine(self, page):
        """No path, home directory or memory address of the machine that generated it."""
        for text in (str(ROOT), str(Path.home()), "/tmp/", " at 0x", "object at"):
            assert text not in page
        assert not re.search(r"<[\w.]+ object", page)

    def test_same_page_with_another_hash_seed_and_terminal(self):
        """Set order and terminal width do not change the page: --check passes in a fresh
        interpreter with another hash seed and a narrow COLUMNS."""
        env = {**os.environ, "PYTHONHASHSEED": "12345", "COLUMNS": "40"}
        env.pop("FORCE_COLOR", None)
        done = subprocess.run(
            [sys.executable, "-m", "scenarios.apiref", "--check"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
        )
        assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize(("name", "obj"), LISTED, ids=[name for name, _ in LISTED])
def test_public_callable_has_docstring_and_type_hints(name, obj):
    """Each class, function, method and property the reference lists has a docstring and
    type hints on its parameters and return: the house rule for the public API."""
    missing = gaps(obj)
    if missing and name in ALLOWED_GAPS:
        pytest.skip(f"{name}: allowed gap ({ALLOWED_GAPS[name]}), in a file left to others")
    assert missing == [], f"{name} lacks: {', '.join(missing)}"


def test_allowed_gaps_are_still_gaps():
    """Each allowed gap is a listed callable that still lacks what it says: a filled gap
    must leave the list."""
    listed = dict(LISTED)
    filled = [name for name in ALLOWED_GAPS if name not in listed or not gaps(listed[name])]
    assert filled == [], f"remove from ALLOWED_GAPS: {filled}"


def test_gaps_names_what_is_missing():
    """The rule's check reports a missing docstring and each missing hint, and nothing for
    a complete function."""

    def bare(x, *args, **options):
        return x

    def full(x: int) -> int:
        """Return ``x``."""
        return x

    assert gaps(bare) == [
        "docstring",
        "type hint on x",
        "type hint on args",
        "type hint on options",
        "return type hint",
    ]
    assert gaps(full) == []
