"""ringsim run's options and formats: a story told on a chosen kernel, CPU and seed, as text,
JSON (schema ringsim-story/1, docs/trace-format.md) and an HTML page with a map of each
call's path (simulator/pathmap.py)."""

from __future__ import annotations

import json

import pytest

from scenarios.cli import main
from scenarios.registry import BY_NAME, SCENARIOS
from scenarios.story import STORY_SCHEMA, Options, Shown, text_lines
from simulator import Machine
from simulator.pathmap import nodes, svg
from simulator.trace import Trace


class TestOptions:
    @pytest.mark.parametrize(
        ("field", "value", "error"),
        [
            ("kernel", "arm64", ValueError),
            ("kernel", 64, TypeError),
            ("cpu", "via", ValueError),
            ("seed", -1, ValueError),
            ("seed", "7", TypeError),
            ("seed", True, TypeError),
        ],
    )
    def test_bad_option_names_the_field(self, field, value, error):
        with pytest.raises(error, match=rf"^{field}: expected .*received"):
            Options(**{field: value})

    def test_story_refuses_what_cannot_apply(self):
        """x86_32-read is the i386 kernel's story; cpu-foundations has nothing to seed."""
        with pytest.raises(ValueError, match=r"kernel: .*i386 kernel only"):
            BY_NAME["x86_32-read"].tell(Options(kernel="x86_64"))
        with pytest.raises(ValueError, match=r"seed: .*no randomness"):
            BY_NAME["cpu-foundations"].tell(Options(seed=1))
        with pytest.raises(TypeError, match="options: expected"):
            BY_NAME["cpu-foundations"].tell({"cpu": "amd"})  # type: ignore[arg-type]

    @pytest.mark.parametrize("name", [s.name for s in SCENARIOS if not s.pending])
    def test_every_declared_choice_can_be_told(self, name):
        """Each story is really told on every kernel and CPU it declares: it runs, says
        something, and reaches nothing ringsim does not model."""
        scenario = BY_NAME[name]
        choices = [Options(kernel=kernel) for kernel in scenario.kernels]
        choices += [Options(cpu=cpu) for cpu in scenario.cpus]
        for options in choices:
            lines = scenario.tell(options).lines()
            assert lines and lines[0].startswith("== "), (options, lines[:1])
            assert "[not modeled]" not in "\n".join(lines), options

    def test_cpu_narrows_a_comparison(self):
        """ia32-compat compares Intel (SYSENTER) and AMD (SYSCALL, ia32_cstar_target); --cpu amd
        tells the AMD half, with INT 0x80 on AMD too."""
        both = [c.title for c in BY_NAME["ia32-compat"].tell().calls]
        amd = [c.title for c in BY_NAME["ia32-compat"].tell(Options(cpu="amd")).calls]
        assert [t.split(",")[0] for t in both] == ["Intel", "Intel", "AMD"]
        assert [t.split(",")[0] for t in amd] == ["AMD", "AMD"]
        assert "ia32_cstar_target" in amd[0] and "INT 0x80" in amd[1]

    def test_kernel_narrows_every_way_in(self):
        lines = BY_NAME["every-way-in"].tell(Options(kernel="i386", cpu="amd")).lines()
        rows = [line for line in lines if " kernel, " in line]
        assert rows and all(line.startswith("i386   kernel, amd ") for line in rows)

    def test_seed_moves_the_stack_and_is_deterministic(self):
        """The seed chooses the randomised stack top (randomize_stack_top, 3.16): the same
        seed gives the same bytes, another seed another stack pointer in the trace."""
        story = BY_NAME["x86_64-syscall-read"]
        seven = story.tell(Options(seed=7)).to_json()
        assert seven == story.tell(Options(seed=7)).to_json()
        assert seven != story.tell(Options(seed=8)).to_json()


class TestStory:
    def test_text_is_what_the_tour_prints(self):
        story = BY_NAME["x86_64-syscall-read"].tell()
        assert story.lines() == BY_NAME["x86_64-syscall-read"].run()
        assert story.text() == "\n".join(story.lines()) + "\n"

    def test_json_holds_every_trace_in_full(self):
        """Every shown call's trace is in the JSON in schema ringsim-trace/1 and reads back
        equal; calls the text shows only as an excerpt are there too."""
        story = BY_NAME["signal-handler"].tell()
        data = json.loads(story.to_json())
        assert data["schema"] == STORY_SCHEMA == "ringsim-story/1"
        assert data["scenario"] == "signal-handler"
        assert data["options"] == {"kernel": None, "cpu": None, "seed": None}
        calls = [p for p in data["parts"] if p["kind"] == "call"]
        assert len(calls) == len(story.calls) >= 4
        assert any(not c["in_text"] for c in calls)
        for part, shown in zip(calls, story.calls, strict=True):
            assert list(Trace.from_dict(part["trace"])) == list(shown.trace)
        texts = [p["text"] for p in data["parts"] if p["kind"] == "text"]
        assert texts[0].startswith("== ")

    def test_html_page_has_the_text_the_maps_and_the_traces(self):
        story = BY_NAME["x86_32-read"].tell()
        page = story.to_html()
        assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
        assert page.count("<svg") == page.count('<table class="ringsim-trace">') == 2
        assert "sys_call_table[3] = sys_read" in page
        assert "<h1>read() on x86_32: SYSENTER and INT 0x80 reach sys_call_table[3]</h1>" in page
        assert story._repr_html_() == page

    def test_parts_must_be_text_or_calls(self):
        with pytest.raises(TypeError, match="parts: expected str or Shown"):
            text_lines(["fine", 3])  # type: ignore[list-item]


def _read_trace(kernel="x86_64", cpu="intel", abi="x86_64", via="syscall") -> Trace:
    m = Machine.boot(kernel=kernel, cpu=cpu)
    p = m.spawn(abi)
    buf = p.alloc(64)
    trace = p.syscall("read", 0, buf, 16, via=via).trace
    assert trace is not None
    return trace


class TestPathMap:
    def test_syscall_read_path(self):
        """x86_64 SYSCALL read: the instruction (RIP from IA32_LSTAR, MSR 0xc0000082, Intel SDM
        Vol. 4 table 2-2), system_call in entry_64.S, sys_call_table[0], sys_read, the exit
        path, SYSRETQ (Linux 3.16)."""
        stages = nodes(_read_trace())
        assert [n.kind for n in stages] == [
            "crossing",
            "kernel",
            "table",
            "kernel",
            "kernel",
            "crossing",
        ]
        assert stages[0].title == "SYSCALL" and "IA32_LSTAR (MSR 0xc0000082)" in stages[0].detail
        assert stages[1].detail.startswith("arch/x86/kernel/entry_64.S")
        assert stages[2].title == "sys_call_table[0] = sys_read"
        assert stages[3].title == "sys_read" and stages[3].detail == "fs/read_write.c"
        assert stages[5].title == "SYSRETQ" and "RCX" in stages[5].detail

    def test_every_step_in_exactly_one_stage(self):
        trace = _read_trace("i386", "intel", "i386", "kernel_vsyscall")
        stages = nodes(trace)
        covered = [i for n in stages for i in range(n.first, n.last + 1)]
        assert covered == list(range(1, len(trace) + 1))

    @pytest.mark.parametrize(
        ("kernel", "cpu", "via", "lookup"),
        [
            ("i386", "intel", "sysenter", "IA32_SYSENTER_CS/ESP/EIP (MSRs 0x174-0x176)"),
            ("x86_64", "intel", "int80", "IDT vector 0x80"),
            ("x86_64", "amd", "kernel_vsyscall", "IA32_CSTAR (MSR 0xc0000083)"),
        ],
    )
    def test_the_lookup_each_instruction_makes(self, kernel, cpu, via, lookup):
        """SYSENTER reads MSRs 0x174-0x176 (SDM Vol. 2B SYSENTER); INT n the IDT gate (SDM
        Vol. 3A 6.12); compat-mode SYSCALL IA32_CSTAR (AMD APM Vol. 2 6.1.1)."""
        stages = nodes(_read_trace(kernel, cpu, "i386", via))
        entry = next(n for n in stages if n.kind == "crossing")
        assert lookup in entry.detail

    def test_faults_and_unmodeled_steps_get_their_own_stage(self):
        m = Machine.boot(kernel="i386")
        trace = m.spawn("i386").syscall("getpid", via="syscall").trace
        assert trace is not None
        assert any(n.kind == "fault" for n in nodes(trace))

    def test_svg_is_well_formed_and_escaped(self):
        import xml.etree.ElementTree as ET

        trace = Trace()
        trace.record("kernel", 0, "a<b> (x&y.c)", "<script>")
        drawing = svg(trace)
        root = ET.fromstring(drawing)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert "<script>" not in drawing
        assert ET.fromstring(svg(Trace())) is not None  # an empty trace still draws

    def test_not_a_trace(self):
        with pytest.raises(TypeError, match="trace: expected"):
            nodes([1, 2])  # type: ignore[arg-type]


class TestCommandLine:
    def test_run_json_to_stdout(self, capsys):
        assert main(["run", "x86_64-syscall-read", "--format", "json", "--seed", "3"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["options"]["seed"] == 3 and data["scenario"] == "x86_64-syscall-read"

    def test_run_html_writes_a_page(self, capsys, tmp_path, monkeypatch):
        """--format html writes NAME.html where it runs, and says where."""
        monkeypatch.chdir(tmp_path)
        assert main(["run", "x86_32-read", "--format", "html"]) == 0
        page = (tmp_path / "x86_32-read.html").read_text()
        assert "wrote x86_32-read.html" in capsys.readouterr().err
        assert page.count("<svg") == 2 and "sysenter" in page

    def test_run_with_output_file(self, tmp_path, capsys):
        target = tmp_path / "story.txt"
        assert main(["run", "failures", "--cpu", "amd", "-o", str(target)]) == 0
        assert target.read_text().startswith("== Failures that teach ==")

    def test_unwritable_output(self, tmp_path, capsys):
        target = tmp_path / "missing" / "page.html"
        assert main(["run", "failures", "--format", "html", "-o", str(target)]) == 1
        assert "cannot write" in capsys.readouterr().err

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["run", "x86_32-read", "--kernel", "x86_64"], "kernel: scenario 'x86_32-read'"),
            (["run", "bare-cpu-round-trips", "--seed", "2"], "seed: scenario"),
            (["run", "every-way-in", "--seed", "-4"], "seed: expected a seed 0 .. 2**64-1"),
            (["run", "x86_64-syscall-read", "--seed", str(1 << 64)], "seed: expected a seed 0"),
        ],
    )
    def test_options_that_cannot_apply(self, capsys, argv, message):
        assert main(argv) == 2
        assert message in capsys.readouterr().err

    def test_help_shows_the_run_options(self, capsys):
        with pytest.raises(SystemExit):
            main(["run", "--help"])
        text = capsys.readouterr().out
        assert all(word in text for word in ("--kernel", "--cpu", "--seed", "--format"))


def test_shown_title():
    trace = Trace()
    assert Shown("-- a call: x = 1", trace).title == "a call: x = 1"


class TestBadTraces:
    """Trace.from_dict refuses what is not a trace event with a ValueError naming the field
    (docs/trace-format.md), so a map or a page is never asked to draw one."""

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("what", None),
            ("what", 3),
            ("where", None),
            ("ring", 7),
            ("ring", "0"),
            ("kind", None),
            ("address", "nowhere"),
            ("changes", None),
        ],
    )
    def test_field_named(self, field, value):
        trace = Trace()
        trace.record("cpu", 3, "Intel SDM Vol. 2B SYSCALL", "syscall", (), 0x1000)
        data = trace.to_dict()
        data["events"][0][field] = value
        with pytest.raises(ValueError, match=rf"^events\[0\]\.{field}: expected"):
            Trace.from_dict(data)

    def test_empty_text_still_draws(self):
        trace = Trace()
        trace.record("cpu", 3, "Intel SDM Vol. 2B SYSCALL", "", (), 0x1000)
        assert svg(trace).startswith("<svg")
        assert nodes(trace)[0].kind == "user"

    def test_linux69_table_and_lookup(self):
        """6.9 dispatches with a switch (x64_sys_call, arch/x86/entry/syscall_64.c): the map
        draws it as the table step, and entry_SYSCALL_64 comes from IA32_LSTAR."""
        m = Machine.boot(profile="linux-6.9")
        trace = m.spawn("x86_64").syscall("getpid").trace
        assert trace is not None
        stages = nodes(trace)
        assert "IA32_LSTAR (MSR 0xc0000082)" in stages[0].detail
        table = [n for n in stages if n.kind == "table"]
        assert table and table[0].title.startswith("x64_sys_call: case 39")
