"""Full modeled system calls on the Linux 3.16 model: the read round trip, every way in, the rest.

fd 0 of a spawned process is a console that reads as end of file, so every reader here
first closes fd 0 and opens /dev/zero, which takes the lowest free descriptor, 0: each
read then really copies 16 bytes to the user buffer and returns 16.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import attrs
from measure import Figure, Settings, expect, rate, show

from simulator import Machine, Process
from simulator.cpu.assembler import assemble
from simulator.kernel.matrix import ROWS

Work = Callable[[int], None]
COUNT = 16  # bytes per read, as in the peer's loop
POISON = b"\xaa" * COUNT
O_RDONLY = 0


@attrs.frozen
class Reader:
    """A process whose fd 0 has data, and a buffer to read it into."""

    process: Process
    buf: int


def reader(machine: Machine, abi: str = "x86_64") -> Reader:
    """Spawn a process, put /dev/zero on its fd 0, and allocate a poisoned read buffer."""
    p = machine.spawn(abi)
    path = p.alloc(16)
    p.write_mem(path, b"/dev/zero\0")
    expect(p.syscall("close", 0, trace=False).ret == 0, "close(0)")
    expect(p.syscall("open", path, O_RDONLY, 0, trace=False).ret == 0, "open('/dev/zero') -> 0")
    buf = p.alloc(64)
    p.write_mem(buf, POISON)
    return Reader(p, buf)


@functools.cache
def read_loop_code(buf: int, iterations: int) -> bytes:
    """The peer's 7-instruction user loop (read(0, buf, COUNT) by SYSCALL), r12 times.

    Cached: a timed run does not pay for assembling it again."""
    return assemble(
        f"mov r12, {iterations}\n"
        "loop:\n"
        "xor eax, eax\n"
        "xor edi, edi\n"
        f"mov esi, {buf:#x}\n"
        f"mov edx, {COUNT}\n"
        "syscall\n"
        "sub r12, 1\n"
        "jnz loop"
    )


def check_read_loop(r: Reader) -> int:
    """Run the loop once: it must read COUNT bytes into buf and return COUNT. Returns the
    CPU steps one iteration takes."""
    r.process.write_mem(r.buf, POISON)
    one = r.process.run(read_loop_code(r.buf, 1), trace=False)
    expect(one.stop == "end", f"the read loop ran to its end (stop {one.stop!r})")
    expect(one.after.reg("rax") == COUNT, f"read returned {COUNT} (rax {one.after.reg('rax')})")
    expect(r.process.read_mem(r.buf, COUNT) == bytes(COUNT), "read copied 16 bytes to buf")
    return one.steps


def read_loop(r: Reader, *, traced: bool, steps: int) -> Work:
    """``n`` reads by the peer's loop inside one Process.run (``steps`` per iteration)."""

    def work(n: int) -> None:
        code = read_loop_code(r.buf, n)
        result = r.process.run(code, trace=traced, max_steps=steps * n + 100)
        if result.stop != "end":
            raise RuntimeError(f"read loop stopped: {result.stop} {result.detail}")

    return work


def calls(p: Process, name: str, args: tuple[int, ...], via: str, *, traced: bool) -> Work:
    """``n`` calls of ``name(*args)`` through Process.syscall."""
    syscall = p.syscall

    def work(n: int) -> None:
        for _ in range(n):
            syscall(name, *args, via=via, trace=traced)

    return work


@attrs.frozen
class ReadFigures:
    """The figures of the read round trip the ratios need."""

    untraced: Figure
    traced: Figure


def read_round_trip(s: Settings) -> ReadFigures:
    """The peer's loop in one Process.run, untraced and traced; read and getpid per call."""
    print("the read round trip: read(0, buf, 16) on x86_64/intel, an x86_64 process, SYSCALL")
    m = Machine.boot()
    r = reader(m)
    steps = check_read_loop(r)
    read_loop_code(r.buf, 2_000)  # assembled before timing
    untraced = rate(read_loop(r, traced=False, steps=steps), 2_000, s.runs)
    show("peer's loop in one Process.run, untraced", untraced)
    read_loop_code(r.buf, 500)
    traced = rate(read_loop(r, traced=True, steps=steps), 500, s.runs)
    show("peer's loop in one Process.run, traced", traced)
    p = r.process
    for tag, on in (("untraced", False), ("traced", True)):
        show(f"read, one Process.syscall per call, {tag}", per_call_read(r, "syscall", on, s))
        show(f"getpid, one Process.syscall per call, {tag}", per_call_getpid(p, "syscall", on, s))
    return ReadFigures(untraced, traced)


def per_call_read(r: Reader, via: str, traced: bool, s: Settings) -> Figure:
    r.process.write_mem(r.buf, POISON)
    result = r.process.syscall("read", 0, r.buf, COUNT, via=via, trace=False)
    expect(result.ret == COUNT, f"read via {via} returned {COUNT} (got {result})")
    expect(r.process.read_mem(r.buf, COUNT) == bytes(COUNT), f"read via {via} filled buf")
    n = 100 if traced else 300
    return rate(calls(r.process, "read", (0, r.buf, COUNT), via, traced=traced), n, s.runs)


def per_call_getpid(p: Process, via: str, traced: bool, s: Settings) -> Figure:
    result = p.syscall("getpid", via=via, trace=False)
    expect(result.ret == p.pid, f"getpid via {via} returned the pid (got {result})")
    n = 100 if traced else 300
    return rate(calls(p, "getpid", (), via, traced=traced), n, s.runs)


def every_way_in(s: Settings) -> None:
    """getpid and read through every mechanism and process ABI that comes back."""
    print("every mechanism and process ABI (docs/mechanisms.md): Process.syscall calls per second")
    for row in ROWS:
        label = f"{row.kernel}/{row.vendor} {row.abi} via {row.via}"
        if row.outcome != "ok":
            print(f"  {label:<42} not timed: {row.outcome_text}")
            continue
        r = reader(Machine.boot(kernel=row.kernel, cpu=row.vendor), row.abi)
        for tag, on in (("untraced", False), ("traced", True)):
            getpid = per_call_getpid(r.process, row.via, on, s)
            read = per_call_read(r, row.via, on, s)
            cells = f"getpid {_cell(getpid)}  read {_cell(read)}"
            print(f"  {label:<42} {tag:<8}  {cells}".rstrip())
            label = ""


def _cell(f: Figure) -> str:
    return f"{f.median:>6,.0f} ({f.low:,.0f}..{f.high:,.0f})".ljust(24)


def other_paths(s: Settings) -> None:
    """Boot, the vDSO, tracepoints and ptrace: the slower ways through the kernel."""
    print("other kernel paths (untraced)")
    show("Machine.boot() (x86_64, after the first)", boot_rate(s))
    for abi_name, via in (
        ("x86_64", "vdso"),
        ("x86_64", "vsyscall_page"),
        ("x86_64", "syscall"),
        ("i386", "vdso"),
        ("i386", "kernel_vsyscall"),
    ):
        show(f"gettimeofday: {abi_name} via {via}", gettimeofday_rate(abi_name, via, s))
    show("getpid through tracesys (tracepoints on)", tracesys_rate(s))
    show("getpid under PTRACE_SYSCALL (2 stops, 3 waits)", ptraced_rate(s))


def boot_rate(s: Settings) -> Figure:
    Machine.boot()  # the first boot pays for building what later boots share

    def boots(n: int) -> None:
        for _ in range(n):
            Machine.boot()

    return rate(boots, 20, s.runs)


def gettimeofday_rate(abi_name: str, via: str, s: Settings) -> Figure:
    m = Machine.boot()
    m.advance_time(1_000_000_000)
    p = m.spawn(abi_name)
    tv = p.alloc(16)
    expect(p.syscall("gettimeofday", tv, 0, via=via, trace=False).ret == 0, "gettimeofday")
    return rate(calls(p, "gettimeofday", (tv, 0), via, traced=False), 300, s.runs)


def tracesys_rate(s: Settings) -> Figure:
    m = Machine.boot()
    m.enable_syscall_tracepoints()
    p = m.spawn("x86_64")
    return rate(calls(p, "getpid", (), "syscall", traced=False), 300, s.runs)


def ptraced_rate(s: Settings) -> Figure:
    m = Machine.boot()
    tracer = m.spawn("x86_64")
    child = m.spawn("x86_64")
    m.ptrace("PTRACE_ATTACH", child, tracer=tracer)
    m.waitpid(child)
    m.ptrace("PTRACE_SYSCALL", child)  # TIF_SYSCALL_TRACE stays set from here on

    def work(n: int) -> None:
        for _ in range(n):
            child.syscall("getpid", trace=False)  # runs to the entry stop
            expect(m.waitpid(child).stopped, "the syscall-entry stop")
            m.ptrace("PTRACE_SYSCALL", child)
            expect(m.waitpid(child).stopped, "the syscall-exit stop")
            m.ptrace("PTRACE_SYSCALL", child)
            expect(m.waitpid(child).pid == 0, "the call returned to user mode")

    return rate(work, 100, s.runs)
