"""ringsim's one benchmark command: how fast the hot paths are, on this Python.

Run ``python benchmarks/run.py``. Each figure is the median of several runs
with its spread (min..max). It measures; no test asserts on these numbers.
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scenarios.bare_cpu import (
    IDT,
    KERNEL_CODE,
    KERNEL_CS,
    L_KERNEL_CODE,
    L_USER_CODE,
    L_USER_STACK_TOP,
    USER_CODE,
    legacy_cpu,
    long_mode_cpu,
)
from scenarios.cpu_foundations import USER_PAGE, boot_long_mode_cpu
from simulator.cpu import Gate64
from simulator.cpu import registers as R
from simulator.cpu.assembler import assemble
from simulator.cpu.decoder import decode
from simulator.cpu.memory import READ

RUNS = 7


def rate(work: Callable[[int], None], n: int) -> tuple[float, float, float]:
    """Operations per second: median, min and max over RUNS runs of ``n`` operations."""
    rates = []
    for _ in range(RUNS):
        start = time.perf_counter()
        work(n)
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates), min(rates), max(rates)


def show(label: str, figures: tuple[float, float, float]) -> None:
    median, low, high = figures
    print(f"  {label:<48} {median:>14,.0f} /s   (spread {low:,.0f} .. {high:,.0f})")


def main() -> None:
    print(f"ringsim benchmarks on {platform.python_implementation()} {platform.python_version()}")
    print(f"  ({platform.machine()}, {RUNS} runs each, median and spread)")
    cpu = boot_long_mode_cpu()
    cpu.set_segment("cs", 0x33)
    r = cpu.r
    rax, rbx = R.RAX, R.RBX

    def reg_read_index(n: int) -> None:
        for _ in range(n):
            r[rax]

    def reg_write_index(n: int) -> None:
        for i in range(n):
            r[rbx] = i

    def reg_read_named(n: int) -> None:
        read = cpu.regs.read
        for _ in range(n):
            read("eax")

    def reg_write_named(n: int) -> None:
        write = cpu.regs.write
        for i in range(n):
            write("ax", i & 0xFFFF)

    def mem_read_hot(n: int) -> None:
        read = cpu._read_bytes
        for _ in range(n):
            read(USER_PAGE, 8, READ)

    def mem_write_hot(n: int) -> None:
        write = cpu._write_bytes
        data = b"12345678"
        for _ in range(n):
            write(USER_PAGE, data)

    def mem_read_api(n: int) -> None:
        read = cpu.read
        for _ in range(n):
            read(USER_PAGE, 8)

    def mem_write_api(n: int) -> None:
        write = cpu.write
        data = b"12345678"
        for _ in range(n):
            write(USER_PAGE, data)

    def snapshots(n: int) -> None:
        snap = cpu.snapshot
        for _ in range(n):
            snap()

    print("registers")
    show("read by index (hot path)", rate(reg_read_index, 200_000))
    show("write by index (hot path)", rate(reg_write_index, 200_000))
    show("read by name (regs.read('eax'))", rate(reg_read_named, 50_000))
    show("write by name (regs.write('ax', v))", rate(reg_write_named, 50_000))
    print("memory (8 bytes at CPL 3, paging on, every check)")
    show("read (internal path the instructions use)", rate(mem_read_hot, 50_000))
    show("write (internal path the instructions use)", rate(mem_write_hot, 50_000))
    show("read (public cpu.read)", rate(mem_read_api, 50_000))
    show("write (public cpu.write)", rate(mem_write_api, 50_000))
    print("state")
    show("cpu.snapshot()", rate(snapshots, 20_000))
    print("decoder")
    mov = assemble("mov eax, 3")

    def decodes(n: int) -> None:
        for _ in range(n):
            decode(mov, mode=64)

    show("decode('mov eax, 3') (uncached)", rate(decodes, 20_000))
    print("bare-CPU round trips (decode included; cached after the first)")
    show("SYSCALL + SYSRETQ (64-bit, Intel)", rate(_round_trip_syscall(), 5_000))
    show("SYSENTER + 2 MOVs + SYSEXIT (i386, Intel)", rate(_round_trip_sysenter(), 5_000))
    show("INT 0x80 + IRETQ (64-bit, Intel)", rate(_round_trip_int80(), 5_000))
    kernel_paths()


def kernel_paths() -> None:
    """Full modeled system calls: boot time, Process.syscall per call, and a Process.run loop."""
    from simulator import Machine

    print("kernel (Linux 3.16 model)")
    Machine.boot()  # the first boot pays for building what later boots share

    def boots(n: int) -> None:
        for _ in range(n):
            Machine.boot()

    show("Machine.boot() (x86_64, after the first)", rate(boots, 20))
    cases = [
        ("x86_64", "intel", "x86_64", "syscall"),
        ("x86_64", "intel", "i386", "kernel_vsyscall"),
        ("x86_64", "intel", "i386", "int80"),
        ("x86_64", "amd", "i386", "kernel_vsyscall"),
        ("x86_64", "intel", "x32", "syscall"),
        ("i386", "intel", "i386", "kernel_vsyscall"),
        ("i386", "intel", "i386", "int80"),
    ]
    for kernel, vendor, abi_name, via in cases:
        m = Machine.boot(kernel=kernel, cpu=vendor)
        m.fs.add_file("/etc/motd", b"x" * 64)
        p = m.spawn(abi_name)
        path = p.alloc(16)
        p.write_mem(path, b"/etc/motd\0")
        buf = p.alloc(64)
        fd = p.syscall("open", path, 0, 0, via=via, trace=False).ret
        label = f"{kernel}/{vendor} {abi_name} via {via}"
        for traced in (False, True):

            def getpids(n: int, traced=traced, p=p, via=via) -> None:
                for _ in range(n):
                    p.syscall("getpid", via=via, trace=traced)

            def reads(n: int, traced=traced, p=p, via=via, buf=buf) -> None:
                for _ in range(n):
                    p.syscall("read", 0, buf, 16, via=via, trace=traced)

            tag = "traced" if traced else "untraced"
            show(f"getpid, Process.syscall, {tag}: {label}", rate(getpids, 300))
            show(f"read 16, Process.syscall, {tag}: {label}", rate(reads, 300))
        _ = fd
    m = Machine.boot()
    m.advance_time(1_000_000_000)
    for abi_name, vias in (
        ("x86_64", ("vdso", "vsyscall_page", "syscall")),
        ("i386", ("vdso", "kernel_vsyscall")),
    ):
        p = m.spawn(abi_name)
        tv = p.alloc(16)
        for via in vias:

            def gettimeofdays(n: int, p=p, via=via, tv=tv) -> None:
                for _ in range(n):
                    p.syscall("gettimeofday", tv, 0, via=via, trace=False)

            show(f"gettimeofday, untraced: {abi_name} via {via}", rate(gettimeofdays, 300))
    m = Machine.boot()
    m.enable_syscall_tracepoints()
    p = m.spawn("x86_64")

    def slow_getpids(n: int, p=p) -> None:
        for _ in range(n):
            p.syscall("getpid", trace=False)

    show("getpid through tracesys (tracepoints on), untraced", rate(slow_getpids, 300))
    m = Machine.boot()
    tracer = m.spawn("x86_64")
    child = m.spawn("x86_64")
    m.ptrace("PTRACE_ATTACH", child, tracer=tracer)
    m.waitpid(child)
    m.ptrace("PTRACE_SYSCALL", child)  # TIF_SYSCALL_TRACE stays set from here on

    def ptraced_getpids(n: int) -> None:
        for _ in range(n):
            child.syscall("getpid", trace=False)  # runs to the entry stop
            assert m.waitpid(child).stopped
            m.ptrace("PTRACE_SYSCALL", child)
            assert m.waitpid(child).stopped  # the exit stop
            m.ptrace("PTRACE_SYSCALL", child)
            assert m.waitpid(child).pid == 0  # the call returned to user mode

    show("getpid under PTRACE_SYSCALL (2 stops, 3 waits)", rate(ptraced_getpids, 100))
    m = Machine.boot()
    m.fs.add_file("/etc/motd", b"x" * 64)
    p = m.spawn("x86_64")
    loop = (
        "mov r12, 1000\nloop:\nxor eax, eax\nxor edi, edi\nmov esi, 0x10000000\n"
        "mov edx, 16\nsyscall\nsub r12, 1\njnz loop"
    )
    p.alloc(64)
    for traced in (False, True):

        def runs(n: int, traced=traced) -> None:
            for _ in range(n):
                p.run(loop, trace=traced)

        figures = rate(runs, 2)
        tag = "traced" if traced else "untraced"
        show(f"read(0, buf, 16) in one Process.run loop, {tag}", tuple(f * 1000 for f in figures))


def _loop(cpu, user_rip: int, per_trip: int):
    """A work function running ``per_trip`` instructions per round trip from ``user_rip``."""
    step = cpu._step
    r = cpu.r

    def work(n: int) -> None:
        for _ in range(n):
            r[R.RIP] = user_rip
            for _ in range(per_trip):
                outcome = step(False)[0]
                if outcome != "completed":
                    raise RuntimeError(outcome)

    return work


def _round_trip_syscall():
    cpu = long_mode_cpu("intel")
    cpu.space.poke(KERNEL_CODE, assemble("sysretq"))
    cpu.space.poke(USER_CODE, assemble("syscall"))
    return _loop(cpu, USER_CODE, 2)


def _round_trip_int80():
    cpu = long_mode_cpu("intel")
    handler = KERNEL_CODE + 0x300
    cpu.space.poke(handler, assemble("iretq"))
    gate = Gate64(offset=handler, selector=KERNEL_CS, type=0xE, dpl=3, present=True)
    cpu.space.poke(IDT + 16 * 0x80, gate.encode())
    cpu.space.poke(USER_CODE, assemble("int 0x80"))
    return _loop(cpu, USER_CODE, 2)


def _round_trip_sysenter():
    cpu = legacy_cpu("intel")
    back = L_USER_CODE + 2
    esp = L_USER_STACK_TOP - 0x100
    cpu.space.poke(L_KERNEL_CODE, assemble(f"mov edx, {back}\nmov ecx, {esp}\nsysexit", mode=32))
    cpu.space.poke(L_USER_CODE, assemble("sysenter", mode=32))
    return _loop(cpu, L_USER_CODE, 4)


if __name__ == "__main__":
    main()
