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

from scenarios.cpu_foundations import USER_PAGE, boot_long_mode_cpu
from simulator.cpu import registers as R
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


if __name__ == "__main__":
    main()
