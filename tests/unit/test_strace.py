"""ringsim's strace, built only on Machine.ptrace and Machine.waitpid: golden output.

The line format is strace 4.8's (scenarios/strace_format.py); the stops and registers come
from the simulated kernel (simulator/kernel/ptrace.py). The golden text is what this
program gives under ringsim; docs/ptrace.md sets it beside the machine's real strace.
"""

import pytest

from scenarios import ptrace_stories
from scenarios.kernel_stories import _echo_program
from scenarios.story import text_lines
from scenarios.strace import strace
from simulator import Machine

GOLDEN = """\
Process 1 attached
write(1, "hello\\n", 6) = 6
open("/nope", O_RDONLY) = -1 ENOENT (No such file or directory)
stat(0x10002000, 0) = 6
execve("/bin/echo32", ["/bin/echo32", "hi"], [/* 0 vars */]) = 0
[ Process PID=1 runs in 32 bit mode. ]
write(1, "hi", 2) = 2
getpid() = 1
exit(0) = ?
+++ exited with 0 +++"""


def _story_lines() -> list[str]:
    lines = text_lines(ptrace_stories.strace_story())
    return [line.strip() for line in lines[1:-1]]


class TestGolden:
    def test_every_way_in(self):
        """SYSCALL write and open, INT 0x80 from 64-bit code (printed with the x86_64 table
        as strace 4.8 did: it picked the table by CS, syscall.c get_scno), execve of an i386
        image with the personality notice, its INT 0x80 write, getpid and exit (= ?) through
        __kernel_vsyscall (SYSENTER: sysenter_tracesys), the exit line."""
        assert "\n".join(_story_lines()) == GOLDEN

    def test_deterministic(self):
        """The same machine seed gives the same output, byte for byte."""
        assert _story_lines() == _story_lines()

    def test_output_of_the_traced_program_is_unchanged(self):
        """Tracing changes nothing the program does: it writes the same bytes."""
        m = Machine.boot(files={"/bin/echo32": _echo_program("i386")})
        p = m.spawn("x86_64")
        msg = p.alloc(16)
        p.write_mem(msg, b"hello\n")
        result = strace(m, p, f"mov edi, 1\nmov rsi, {msg}\nmov edx, 6\nmov eax, 1\nsyscall")
        assert bytes(p.stdout) == b"hello\n"
        assert result.lines[-1] == 'write(1, "hello\\n", 6) = 6'
        assert result.status is None  # the run fell off the end of its code: no exit

    def test_killed_by_a_signal(self):
        """A process killed by a fault ends with strace's +++ killed by SIGSEGV +++ line."""
        m = Machine.boot()
        p = m.spawn("x86_64")
        result = strace(m, p, "mov rax, qword ptr [0]")
        assert result.lines[-1] == "+++ killed by SIGSEGV +++"

    def test_bad_arguments(self):
        """Misuse is a TypeError naming the argument."""
        m = Machine.boot()
        with pytest.raises(TypeError, match="machine"):
            strace("m", m.spawn("x86_64"), "nop")
        with pytest.raises(TypeError, match="process"):
            strace(m, Machine.boot().spawn("x86_64"), "nop")


class TestStory:
    def test_ptrace_session(self):
        """The tour's PTRACE_SYSCALL session: the entry stop (0x857f, rax -ENOSYS), the count
        rewritten from 7 to 3 (the child writes "abc"), the return rewritten to 1000 (exit
        status 232)."""
        text = "\n".join(text_lines(ptrace_stories.ptrace_session()))
        assert "status 0x137f" in text  # SIGSTOP after PTRACE_ATTACH
        assert "rax = -38 (-ENOSYS: an entry stop), rdx = 7" in text
        assert "the child wrote b'abc'" in text
        assert "exited with 232" in text

    def test_seccomp_story(self):
        """EPERM for getpid, SIGSYS for umask and for INT 0x80 (arch check)."""
        text = "\n".join(text_lines(ptrace_stories.seccomp_story()))
        assert "getpid() = -1 (EPERM)" in text
        assert "umask(022): signal, killed by SIGSYS" in text
        assert "INT 0x80 from 64-bit code: signal, killed by SIGSYS" in text


class TestDocs:
    def test_ptrace_md_example_runs(self):
        """The example in docs/ptrace.md runs, and its asserts hold (the page cannot drift)."""
        import pathlib
        import re

        text = (pathlib.Path(__file__).parents[2] / "docs" / "ptrace.md").read_text()
        blocks = re.findall(r"```python\n(.*?)```", text, re.S)
        assert blocks
        for block in blocks:
            exec(compile(block, "docs/ptrace.md", "exec"), {})
