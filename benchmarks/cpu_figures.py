"""The CPU model alone: register and memory accesses, the decoder, and bare-CPU round trips.

Each function below builds the work of one figure: a callable that does ``n`` operations.
"""

from __future__ import annotations

from collections.abc import Callable

from measure import Figure, Settings, rate, show

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
from simulator.cpu import CPU, Gate64
from simulator.cpu import registers as R
from simulator.cpu.assembler import assemble
from simulator.cpu.decoder import decode
from simulator.cpu.memory import READ

Work = Callable[[int], None]
DATA = b"12345678"


def reg_read_index(cpu: CPU) -> Work:
    r, rax = cpu.r, R.RAX

    def work(n: int) -> None:
        for _ in range(n):
            r[rax]

    return work


def reg_write_index(cpu: CPU) -> Work:
    r, rbx = cpu.r, R.RBX

    def work(n: int) -> None:
        for i in range(n):
            r[rbx] = i

    return work


def reg_read_named(cpu: CPU) -> Work:
    read = cpu.regs.read

    def work(n: int) -> None:
        for _ in range(n):
            read("eax")

    return work


def reg_write_named(cpu: CPU) -> Work:
    write = cpu.regs.write

    def work(n: int) -> None:
        for i in range(n):
            write("ax", i & 0xFFFF)

    return work


def mem_read_hot(cpu: CPU) -> Work:
    read = cpu._read_bytes

    def work(n: int) -> None:
        for _ in range(n):
            read(USER_PAGE, 8, READ)

    return work


def mem_write_hot(cpu: CPU) -> Work:
    write = cpu._write_bytes

    def work(n: int) -> None:
        for _ in range(n):
            write(USER_PAGE, DATA)

    return work


def mem_read_api(cpu: CPU) -> Work:
    read = cpu.read

    def work(n: int) -> None:
        for _ in range(n):
            read(USER_PAGE, 8)

    return work


def mem_write_api(cpu: CPU) -> Work:
    write = cpu.write

    def work(n: int) -> None:
        for _ in range(n):
            write(USER_PAGE, DATA)

    return work


def snapshots(cpu: CPU) -> Work:
    snap = cpu.snapshot

    def work(n: int) -> None:
        for _ in range(n):
            snap()

    return work


def decodes() -> Work:
    mov = assemble("mov eax, 3")

    def work(n: int) -> None:
        for _ in range(n):
            decode(mov, mode=64)

    return work


def _round_trips(cpu: CPU, user_rip: int, per_trip: int) -> Work:
    """Run ``per_trip`` instructions from ``user_rip`` per round trip, through CPU._step."""
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


def round_trip_syscall() -> Work:
    cpu = long_mode_cpu("intel")
    cpu.space.poke(KERNEL_CODE, assemble("sysretq"))
    cpu.space.poke(USER_CODE, assemble("syscall"))
    return _round_trips(cpu, USER_CODE, 2)


def round_trip_int80() -> Work:
    cpu = long_mode_cpu("intel")
    handler = KERNEL_CODE + 0x300
    cpu.space.poke(handler, assemble("iretq"))
    gate = Gate64(offset=handler, selector=KERNEL_CS, type=0xE, dpl=3, present=True)
    cpu.space.poke(IDT + 16 * 0x80, gate.encode())
    cpu.space.poke(USER_CODE, assemble("int 0x80"))
    return _round_trips(cpu, USER_CODE, 2)


def round_trip_sysenter() -> Work:
    cpu = legacy_cpu("intel")
    back = L_USER_CODE + 2
    esp = L_USER_STACK_TOP - 0x100
    cpu.space.poke(L_KERNEL_CODE, assemble(f"mov edx, {back}\nmov ecx, {esp}\nsysexit", mode=32))
    cpu.space.poke(L_USER_CODE, assemble("sysenter", mode=32))
    return _round_trips(cpu, L_USER_CODE, 4)


def cpu_model(s: Settings) -> None:
    """Registers, memory, snapshots and the decoder of one CPU in long mode at CPL 3."""
    cpu = boot_long_mode_cpu()
    cpu.set_segment("cs", 0x33)
    print("registers")
    show("read by index (hot path)", rate(reg_read_index(cpu), 200_000, s.runs))
    show("write by index (hot path)", rate(reg_write_index(cpu), 200_000, s.runs))
    show("read by name (regs.read('eax'))", rate(reg_read_named(cpu), 50_000, s.runs))
    show("write by name (regs.write('ax', v))", rate(reg_write_named(cpu), 50_000, s.runs))
    print("memory (8 bytes at CPL 3, paging on, every check)")
    show("read (internal path the instructions use)", rate(mem_read_hot(cpu), 50_000, s.runs))
    show("write (internal path the instructions use)", rate(mem_write_hot(cpu), 50_000, s.runs))
    show("read (public cpu.read)", rate(mem_read_api(cpu), 50_000, s.runs))
    show("write (public cpu.write)", rate(mem_write_api(cpu), 50_000, s.runs))
    print("state and decoder")
    show("cpu.snapshot()", rate(snapshots(cpu), 20_000, s.runs))
    show("decode('mov eax, 3') (uncached)", rate(decodes(), 20_000, s.runs))


def bare_round_trips(s: Settings) -> Figure:
    """The three ring round trips on a bare CPU; returns SYSCALL + SYSRETQ for the ratios."""
    print("bare-CPU round trips per second (fetch and decode included; decoded once, then cached)")
    syscall = rate(round_trip_syscall(), 5_000, s.runs)
    show("SYSCALL + SYSRETQ (64-bit, Intel)", syscall)
    show("SYSENTER + 2 MOVs + SYSEXIT (i386, Intel)", rate(round_trip_sysenter(), 5_000, s.runs))
    show("INT 0x80 + IRETQ (64-bit, Intel)", rate(round_trip_int80(), 5_000, s.runs))
    return syscall
