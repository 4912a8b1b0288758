"""An untraced or traced run takes the CPU's fast loop (CPU._run_fast: the handlers of
simulator/cpu/threaded.py, straight runs of register-only instructions, the kernel's hooks
in place); the reference steps every instruction through CPU._step, one at a time (the
fast loop switched off). Both must end alike, byte for byte: the stop and its detail, the
step count, the signal, every register, segment cache and MSR, the memory the program
wrote, the TSC, and for a traced run the whole trace.

The programs are drawn from pieces that cross every hand-over the fast loop has: system
calls (the kernel's hooks and SYSCALL/SYSRET, INT 0x80/IRET), faults delivered to the
kernel and signals, HLT at CPL 3, loops, the stack, a timer tick mid-run, and code in a
32-bit process (which the fast loop leaves to CPU._step)."""

from __future__ import annotations

from unittest.mock import patch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator import Machine
from simulator.cpu import CPU

REG64 = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12"]
REG32 = ["eax", "ebx", "ecx", "edx", "esi", "edi", "ebp"]
ALU = ["add", "sub", "cmp", "and", "or", "xor", "test", "adc", "sbb"]


def _piece64() -> st.SearchStrategy[str]:
    reg = st.sampled_from(REG64)
    reg32 = st.sampled_from(REG32)
    imm = st.integers(-(2**31), 2**31 - 1)
    return st.one_of(
        st.builds(lambda op, a, b: f"{op} {a}, {b}", st.sampled_from(["mov", *ALU]), reg, reg),
        st.builds(lambda op, a, b: f"{op} {a}, {b}", st.sampled_from(["mov", *ALU]), reg32, reg32),
        st.builds(lambda op, a, i: f"{op} {a}, {i}", st.sampled_from(["mov", *ALU]), reg, imm),
        st.builds(lambda op, a: f"{op} {a}", st.sampled_from(["inc", "dec", "neg", "not"]), reg),
        st.builds(lambda a, b: f"push {a}\npop {b}", reg, reg),
        st.builds(lambda a: f"mov qword ptr [BUF], {a}\nadd {a}, qword ptr [BUF]", reg),
        st.builds(lambda n: f"mov ecx, {n}\nLOOP:\ndec ecx\njnz LOOP", st.integers(1, 5)),
        st.builds(
            lambda n: f"mov r12, {n}\nLOOP:\nmov eax, 39\nsyscall\nsub r12, 1\njnz LOOP",
            st.integers(1, 3),
        ),
        st.just("mov eax, 39\nsyscall"),  # getpid
        st.just("mov eax, 1\nmov edi, 1\nmov esi, BUF\nmov edx, 4\nsyscall"),  # write
        st.just("mov eax, 20\nint 0x80"),  # getpid through the ia32 gate
        st.just("mov eax, 0x3e7\nsyscall"),  # a number past the table: -ENOSYS
        st.just("rdtsc"),
        st.just("nop"),
        st.just("hlt"),  # the run's end at CPL 3
        st.just("int3"),  # SIGTRAP
        st.just("ud2"),  # SIGILL
        st.just("mov eax, dword ptr [0x10]"),  # #PF, SIGSEGV
        st.just("mov rax, 0x8000000000000000\njmp rax"),  # #GP on the non-canonical target
        st.just("mov byte ptr [BUF], 0xf4\nmov rax, BUF\njmp rax"),  # NX page: #PF
        # the kernel's entry, decoded at CPL 0 by an earlier SYSCALL: #PF for a user fetch
        st.just("mov rax, LSTAR\njmp rax"),
    )


def _piece32() -> st.SearchStrategy[str]:
    reg = st.sampled_from(REG32)
    return st.one_of(
        st.builds(lambda op, a, b: f"{op} {a}, {b}", st.sampled_from(["mov", *ALU]), reg, reg),
        st.builds(lambda a, b: f"push {a}\npop {b}", reg, reg),
        st.just("mov eax, 20\nint 0x80"),
        st.just("mov eax, 4\nmov ebx, 1\nmov ecx, BUF\nmov edx, 4\nint 0x80"),
        st.just("mov eax, 0x3e7\nint 0x80"),
        st.just("hlt"),
        st.just("int3"),
        st.just("mov eax, dword ptr [0x10]"),
    )


def _one_at_a_time(self, *args, **kwargs):
    """CPU._run_fast switched off: it takes nothing, so every step is CPU._step's."""
    return 0, None


def _end(
    abi: str,
    profile: str,
    program: list[str],
    tick: int | None,
    trace: bool,
    fast_loop: bool = True,
    max_steps: int = 2_000,
):
    if not fast_loop:
        with patch.object(CPU, "_run_fast", _one_at_a_time):
            return _end(abi, profile, program, tick, trace, True, max_steps)
    m = Machine.boot() if profile == "linux-3.16" else Machine.boot(profile=profile)
    p = m.spawn(abi)
    buf = p.alloc(64)
    p.write_mem(buf, bytes(range(64)))
    lstar = m.cpu.read_msr("lstar")
    if tick is not None:
        m.tick_after(tick)
    code = "\n".join(
        piece.replace("BUF", f"{buf:#x}")
        .replace("LSTAR", f"{lstar:#x}")
        .replace("LOOP", f"loop{i}")
        for i, piece in enumerate(program)
    )
    run = p.run(code, trace=trace, max_steps=max_steps)
    mem = p.read_mem(buf, 64) if p.alive else None
    end = (run.stop, run.detail, run.steps, run.signal, run.after, mem, m.cpu.read_tsc())
    return end, (run.trace.render() if run.trace is not None else None)


def _check(abi: str, profile: str, program: list[str], tick: int | None, **kw) -> None:
    """Untraced and traced with the fast loop, against the traced reference without it."""
    reference = _end(abi, profile, program, tick, True, fast_loop=False, **kw)
    assert _end(abi, profile, program, tick, False, **kw)[0] == reference[0]
    assert _end(abi, profile, program, tick, True, **kw) == reference


BUF = "BUF"


@given(
    data=st.data(),
    abi=st.sampled_from(["x86_64", "x86_64", "i386", "x32"]),
    profile=st.sampled_from(["linux-3.16", "linux-6.9"]),
    tick=st.none() | st.integers(1, 60),
)
def test_the_fast_loop_ends_as_one_step_at_a_time(data, abi, profile, tick):
    pieces = _piece64() if abi != "i386" else _piece32()
    program = data.draw(st.lists(pieces, min_size=1, max_size=8), label="program")
    _check(abi, profile, program, tick)


# Each hand-over at least once, whatever the draws above: the kernel's entry reached from
# ring 3 after a SYSCALL decoded it at CPL 0 (#PF 0x15, not the #GP SWAPGS would raise),
# HLT, INT3, UD2, a tick inside a loop of system calls, a fetch from an NX page, 32-bit code.
FIXED = [
    ("x86_64", None, ["mov eax, 39\nsyscall", "mov rax, LSTAR\njmp rax"]),
    ("x86_64", None, ["mov ecx, 3\nLOOP:\ndec ecx\njnz LOOP", "hlt", "nop"]),
    ("x86_64", None, ["push rax\npop rbx", "int3"]),
    ("x86_64", None, ["mov eax, 39\nsyscall", "ud2"]),
    ("x86_64", 17, ["mov r12, 3\nLOOP:\nmov eax, 39\nsyscall\nsub r12, 1\njnz LOOP"]),
    ("x86_64", None, ["mov byte ptr [BUF], 0xf4\nmov rax, BUF\njmp rax"]),
    ("x32", None, ["mov eax, 0x40000027\nsyscall", "mov eax, 20\nint 0x80"]),
    ("i386", 9, ["mov eax, 20\nint 0x80", "mov eax, dword ptr [0x10]"]),
]


@pytest.mark.parametrize("profile", ["linux-3.16", "linux-6.9"])
@pytest.mark.parametrize(("abi", "tick", "program"), FIXED)
def test_fixed_programs_end_alike(abi, tick, program, profile):
    _check(abi, profile, program, tick)


@pytest.mark.parametrize("abi", ["x86_64", "i386"])
def test_the_peer_loop_ends_alike(abi):
    """The benchmark's own loop, reads of /dev/zero by SYSCALL (by INT 0x80 in a 32-bit
    process), untraced and traced."""
    ends = []
    for trace in (False, True):
        m = Machine.boot()
        p = m.spawn(abi)
        path = p.alloc(16)
        p.write_mem(path, b"/dev/zero\0")
        assert p.syscall("close", 0, trace=False).ret == 0
        assert p.syscall("open", path, 0, 0, trace=False).ret == 0
        buf = p.alloc(64)
        p.write_mem(buf, b"\xaa" * 64)
        if abi == "x86_64":
            body = f"xor eax, eax\nxor edi, edi\nmov esi, {buf:#x}\nmov edx, 16\nsyscall"
            code = f"mov r12, 20\nloop:\n{body}\nsub r12, 1\njnz loop"
        else:
            body = f"mov eax, 3\nxor ebx, ebx\nmov ecx, {buf:#x}\nmov edx, 16\nint 0x80"
            code = f"mov esi, 20\nloop:\n{body}\nsub esi, 1\njnz loop"
        run = p.run(code, trace=trace)
        ends.append((run.stop, run.steps, run.after, p.read_mem(buf, 64), m.cpu.read_tsc()))
    assert ends[0] == ends[1]
    assert ends[0][0] == "end" and ends[0][3] == bytes(16) + b"\xaa" * 48


STRAIGHT = "mov r12, 5\nloop:\nmov eax, 1\nmov ebx, 2\nmov ecx, 3\nmov edx, 4\nsub r12, 1\njnz loop"


@pytest.mark.parametrize("limit", range(10, 28))
def test_a_budget_or_a_tick_inside_a_straight_run(limit):
    """The fast loop runs the loop body above as one straight run from its second pass on;
    a step budget, or a timer tick, that falls inside it must stop or tick at the same step
    as stepping one instruction at a time does."""
    _check("x86_64", "linux-3.16", [STRAIGHT], None, max_steps=limit)
    _check("x86_64", "linux-3.16", [STRAIGHT], limit)
