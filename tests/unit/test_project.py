"""The project's promises: README's two commands, CI, the command line, the docs."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import simulator.cpu
from scenarios.cli import main
from scenarios.registry import BY_NAME, SCENARIOS

ROOT = Path(__file__).resolve().parents[2]


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.*?)\n```", text, re.S)


class TestReadme:
    def test_opens_with_title_and_one_sentence(self):
        """README starts with a title line, then one sentence on what ringsim is."""
        lines = (ROOT / "README.md").read_text().splitlines()
        assert lines[0] == "# ringsim"
        assert lines[2].startswith("ringsim is ") and lines[2].count(". ") == 0
        assert lines[2].endswith(".")

    def test_exactly_two_commands(self):
        """Exactly two commands: one runs the tour, one runs the tests; each makes a venv."""
        run, test = _commands()
        assert run.startswith("python3 -m venv .venv && ") and run.endswith("ringsim tour")
        assert test.startswith("python3 -m venv .venv && ") and "pytest" in test
        assert "'.[test]'" in test and "ruff check" in test and "ruff format --check" in test

    def test_ci_runs_the_readme_test_command(self):
        """.ci/run runs the README's test command with the ci Hypothesis profile."""
        ci = (ROOT / ".ci" / "run").read_text()
        assert _commands()[1] in ci
        assert "HYPOTHESIS_PROFILE=ci" in ci


class TestPackaging:
    def test_runtime_dependencies(self):
        """attrs is the only run-time dependency; the test extra has pytest, hypothesis, ruff."""
        tomllib = pytest.importorskip("tomllib")
        project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        assert [d.split(">")[0].split("=")[0] for d in project["dependencies"]] == ["attrs"]
        test = {re.split(r"[<>=]", d)[0] for d in project["optional-dependencies"]["test"]}
        assert {"pytest", "hypothesis", "ruff"} <= test
        assert project["requires-python"] == ">=3.10"
        assert project["scripts"]["ringsim"] == "scenarios.cli:main"


@pytest.fixture
def with_pending(monkeypatch):
    """A registry with one story whose capability has not landed (every story of the
    article has landed now, so the pending path is exercised with a stand-in)."""
    from scenarios import cli
    from scenarios.registry import Scenario

    story = Scenario("a-story-to-come", "a story whose capability has not landed")
    monkeypatch.setattr(cli, "SCENARIOS", (*cli.SCENARIOS, story))
    monkeypatch.setitem(cli.BY_NAME, story.name, story)


class TestCommandLine:
    def test_tour(self, capsys):
        """The tour tells the CPU story with the three refusals it promises."""
        assert main(["tour"]) == 0
        out = capsys.readouterr().out
        assert "__USER_CS" in out and "#GP(0)" in out and "#PF error code 0x5" in out

    def test_list_marks_pending(self, capsys, with_pending):
        """list shows one scenario a line, name first, pending ones marked."""
        assert main(["list"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].startswith("cpu-foundations ")
        assert [line for line in lines if "pending" in line] == [
            line for line in lines if line.startswith("a-story-to-come ")
        ]

    def test_unknown_scenario_suggests(self, capsys):
        """An unknown name exits 2 and suggests the closest one."""
        assert main(["run", "cpu-foundation"]) == 2
        assert "did you mean 'cpu-foundations'" in capsys.readouterr().err

    def test_pending_scenario_refused(self, capsys, with_pending):
        """Running a pending scenario says so instead of faking it."""
        assert main(["run", "a-story-to-come"]) == 2
        assert "pending" in capsys.readouterr().err

    def test_python_m_scenarios(self):
        """python -m scenarios is the same command line."""
        done = subprocess.run(
            [sys.executable, "-m", "scenarios", "list"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
        assert done.stdout.startswith("cpu-foundations")


class TestDocs:
    def test_every_public_cpu_name_documented(self):
        """Every name simulator.cpu exports appears in docs/cpu.md."""
        text = (ROOT / "docs" / "cpu.md").read_text()
        missing = [n for n in simulator.cpu.__all__ if f"`{n}" not in text]
        assert missing == []

    def test_cpu_doc_example_runs(self):
        """The example at the top of docs/cpu.md runs and faults as its comment says."""
        text = (ROOT / "docs" / "cpu.md").read_text()
        code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
        scope: dict = {}
        exec(code, scope)
        cpu = scope["cpu"]
        result = cpu.write(0x400000, b"\x90")
        assert (result.vector, result.error_code, cpu.cr2) == (14, 0x3, 0x400000)


@pytest.mark.parametrize("module", ["simulator", "simulator.cpu", "scenarios"])
def test_imports_have_no_side_effects(module):
    """Importing a package prints nothing."""
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, cwd=ROOT
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


class TestExplain:
    def test_explain_read(self, capsys):
        """ringsim explain read prints its number in each ABI and its argument registers."""
        assert main(["explain", "read"]) == 0
        out = capsys.readouterr().out
        assert "i386    3" in out and "x86_64  0" in out and "0x40000000" in out
        assert "fd=rdi" in out and "fd=ebx" in out

    def test_explain_unknown(self, capsys):
        """An unknown system call exits 2 and suggests a close name."""
        assert main(["explain", "reed"]) == 2
        assert "read" in capsys.readouterr().err


class TestScenarios:
    @pytest.mark.parametrize("name", [s.name for s in SCENARIOS if not s.pending])
    def test_scenario_runs_and_reaches_only_modeled_code(self, name):
        """Every landed scenario runs, and none reaches a kernel function ringsim does not model."""
        lines = BY_NAME[name].run()
        text = "\n".join(lines)
        assert lines
        assert "not modeled by ringsim" not in text and "[not modeled]" not in text

    def test_machine_boots_with_files(self):
        """Machine.boot(files=...) puts regular files and executables in the filesystem."""
        from simulator import Machine

        m = Machine.boot(files={"/etc/motd": b"hi"})
        p = m.spawn("x86_64")
        path = p.alloc(16)
        p.write_mem(path, b"/etc/motd\0")
        assert p.syscall("open", path, 0, 0).ret == 3


class TestReadmeExcerpt:
    def test_trace_excerpt_is_real(self):
        """The README's trace excerpt is the start of the x86_64-syscall-read golden trace,
        line for line: it cannot drift from what ringsim prints."""
        text = (ROOT / "README.md").read_text()
        (excerpt,) = re.findall(r"```text\n(.*?)\n```", text, re.S)
        golden = (ROOT / "tests" / "golden" / "x86_64-syscall-read.txt").read_text()
        assert golden.splitlines()[1 : 1 + len(excerpt.splitlines())] == excerpt.splitlines()


class TestColour:
    def test_no_colour_when_not_a_terminal(self, capsys):
        """Writing to a pipe or a file: plain text, no escape codes."""
        assert main(["run", "x86_64-syscall-read"]) == 0
        assert "\x1b[" not in capsys.readouterr().out

    def test_colour_on_a_terminal_unless_no_color(self, monkeypatch):
        """On a terminal, headings and rings are coloured; NO_COLOR turns it off."""
        import io

        from scenarios import cli

        class Terminal(io.StringIO):
            def isatty(self):
                return True

        monkeypatch.delenv("NO_COLOR", raising=False)
        tty = Terminal()
        monkeypatch.setattr(cli.sys, "stdout", tty)
        assert main(["run", "x86_64-syscall-read"]) == 0
        assert "\x1b[1m== read()" in tty.getvalue() and "\x1b[31mring 0" in tty.getvalue()
        monkeypatch.setenv("NO_COLOR", "1")
        plain = Terminal()
        monkeypatch.setattr(cli.sys, "stdout", plain)
        assert main(["run", "x86_64-syscall-read"]) == 0
        assert "\x1b[" not in plain.getvalue()


class TestRoutinesDoc:
    def test_routines_table_is_current(self):
        """docs/routines.md is what `python -m scenarios.routines` generates from the stories'
        traces and the handlers: every modeled routine with its 3.16 file, never stale."""
        from scenarios import routines

        assert routines.main(["--check"]) == 0
