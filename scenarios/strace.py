"""An strace built only on the simulated ptrace API (Machine.ptrace and Machine.waitpid).

It does what strace 4.8 does on x86_64 for one process: PTRACE_ATTACH and the SIGSTOP it
brings, PTRACE_SETOPTIONS with PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXEC, then
PTRACE_SYSCALL after every stop. At a syscall stop it reads the registers with
PTRACE_GETREGS and memory with PTRACE_PEEKDATA, tells entry from exit by keeping count as
strace does, and prints each call in 4.8's format (scenarios/strace_format.py).

The personality of a call is decided as 4.8's get_scno decides it on x86_64: by the code
segment the tracee was in (0x23: i386, 0x33: x86_64) and, for 0x33, the x32 bit of
orig_rax. So an INT 0x80 from 64-bit code is printed with the x86_64 table, exactly the
mistake 4.8 made (the kernel ran the i386 call): docs/strace.md shows it.
"""

from __future__ import annotations

import attrs

from scenarios import strace_format as F
from simulator import Machine, Process
from simulator.kernel import ptrace as P
from simulator.kernel.traps import SIGNAL_NAMES

USER_CS_64 = 0x33  # __USER_CS (arch/x86/include/asm/segment.h)
USER32_CS = 0x23  # __USER32_CS
X32_BIT = 0x4000_0000
_NAMES = dict(SIGNAL_NAMES) | {17: "SIGCHLD", 19: "SIGSTOP", 15: "SIGTERM", 2: "SIGINT"}


@attrs.frozen
class StraceResult:
    """The lines strace printed and how the traced run ended (a WaitResult's status, or
    None when the run ended in user mode without exiting)."""

    lines: tuple[str, ...]
    status: int | None

    def text(self) -> str:
        return "\n".join(self.lines)


def _personality(regs: dict[str, int]) -> str:
    if regs["cs"] == USER32_CS:
        return "i386"
    return "x32" if regs["orig_rax"] & X32_BIT else "x86_64"


def _call(regs: dict[str, int], personality: str) -> tuple[int, tuple[int, ...], int]:
    if personality == "i386":
        names = ("rbx", "rcx", "rdx", "rsi", "rdi", "rbp")
        args = tuple(regs[n] & 0xFFFF_FFFF for n in names)
        return regs["orig_rax"] & 0xFFFF_FFFF, args, regs["rax"] & 0xFFFF_FFFF
    names = ("rdi", "rsi", "rdx", "r10", "r8", "r9")
    return regs["orig_rax"], tuple(regs[n] for n in names), regs["rax"]


def strace(
    machine: Machine,
    process: Process,
    code: str | bytes,
    *,
    string_limit: int = 32,
    max_stops: int = 10_000,
) -> StraceResult:
    """Trace ``process`` while it runs ``code`` (assembler text or bytes, as Process.run
    takes it) and return strace's lines. A tracer process is spawned to hold the trace."""
    if not isinstance(machine, Machine):
        raise TypeError(f"machine: expected a Machine, received {type(machine).__name__}")
    if not isinstance(process, Process) or process.machine is not machine:
        raise TypeError("process: expected a Process of this machine")
    tracer = machine.spawn("x86_64" if machine.kind == "x86_64" else "i386")
    pid = process.pid
    lines: list[str] = []

    def ptrace(request: str, addr: int = 0, data: int = 0) -> P.PtraceResult:
        return machine.ptrace(request, process, addr, data, tracer=tracer)

    word = 8 if machine.kind == "x86_64" else 4

    def peek(address: int, size: int) -> bytes | None:
        out = bytearray()
        start = address - address % word
        for at in range(start, address + size, word):
            got = ptrace("PTRACE_PEEKDATA", at)
            if got.ret:
                return None
            out += got.value.to_bytes(word, "little")
        offset = address - start
        return bytes(out[offset : offset + size])

    result = ptrace("PTRACE_ATTACH")
    if result.ret:
        raise RuntimeError(f"PTRACE_ATTACH failed: {result.errno}")
    first = machine.waitpid(process, waiter=tracer)
    if not first.stopped:
        raise RuntimeError(f"no SIGSTOP after PTRACE_ATTACH: {first}")
    ptrace("PTRACE_SETOPTIONS", 0, P.PTRACE_O_TRACESYSGOOD | P.PTRACE_O_TRACEEXEC)
    lines.append(f"Process {pid} attached")
    ptrace("PTRACE_SYSCALL")
    run = process.run(code)
    personality = "x86_64" if machine.kind == "x86_64" else "i386"
    pending: tuple | None = None  # (personality, nr, args, captured) at an entry stop
    status: int | None = None
    for _ in range(max_stops):
        w = machine.waitpid(process, waiter=tracer)
        if w.pid == 0:
            break
        if w.exited or w.signaled:
            if pending is not None:
                who, nr, args, captured = pending
                line = F.format_call(who, nr, args, 0, peek, at_entry=captured)
                lines.append(line.rsplit(" = ", 1)[0] + " = ?")
            if w.exited:
                lines.append(f"+++ exited with {w.exitstatus} +++")
            else:
                lines.append(f"+++ killed by {_NAMES.get(w.termsig, w.termsig)} +++")
            status = w.status
            break
        signal = 0
        if w.stopsig == (P.SIGTRAP | 0x80):
            regs = ptrace("PTRACE_GETREGS").value
            if pending is None:
                who = _personality(regs)
                if who != personality:
                    lines.append(F.personality_notice_for(pid, who))
                    personality = who
                nr, args, _ = _call(regs, who)
                captured = F.capture_entry(who, nr, args, peek, string_limit=string_limit)
                pending = (who, nr, args, captured)
            else:
                who, nr, args, captured = pending
                _, _, ret = _call(regs, who)
                lines.append(
                    F.format_call(
                        who, nr, args, ret, peek, at_entry=captured, string_limit=string_limit
                    )
                )
                pending = None
        elif w.event:
            pass  # PTRACE_EVENT_EXEC: 4.8 only notes it (the exit stop of execve follows)
        else:
            signal = w.stopsig
            lines.append(f"--- {_NAMES.get(signal, signal)} ---")
        ptrace("PTRACE_SYSCALL", 0, signal)
    else:
        lines.append(f"(ringsim's strace stopped after {max_stops} stops)")
    _ = run
    return StraceResult(tuple(lines), status)
