"""Whole-program figures: the tour's and the import's wall time, and memory."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
import tracemalloc
from itertools import pairwise
from pathlib import Path

import attrs
from kernel_figures import COUNT, Reader, check_read_loop, read_loop_code, reader
from measure import Figure, Settings, expect, show

from simulator import Machine

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = 1_000
PAGES_EACH = 4
PAGE = 4096
CHECKPOINTS = 10
FLAT_LIMIT = 1 << 20  # "flat": under 1 MiB of growth from the first checkpoint to the last


# Python caches compiled modules in __pycache__ on a first import; an environment that sets
# PYTHONDONTWRITEBYTECODE would make every import compile every module again, which is not
# what a user's second `import simulator` costs. The start-up figures run without it, after
# one warm-up run has written the cache.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, check=True, env=_ENV)
    return time.perf_counter() - start


def tour_seconds(s: Settings) -> Figure:
    """Wall time of ``ringsim tour`` (as ``python -m scenarios tour``) in a fresh interpreter."""
    command = [sys.executable, "-m", "scenarios", "tour"]
    _wall(command)  # writes the bytecode cache
    return Figure.of([_wall(command) for _ in range(min(s.runs, 5))])


@attrs.frozen
class ImportTimes:
    """The bare interpreter's start-up, and what importing simulator adds to it."""

    bare: Figure  # seconds of `python -c pass`
    over_bare: Figure  # milliseconds of `python -c 'import simulator'` beyond the bare median
    with_boot: Figure  # milliseconds of the import and a first Machine.boot() beyond it


# The toy kernel and the ABI facts load with the first boot (simulator/_lazy.py): the
# figure with a boot says what a program that boots a machine waits for in all.
BOOT = "from simulator import Machine; Machine.boot()"


def import_times(s: Settings) -> ImportTimes:
    """``python -c 'import simulator'`` (and with a first boot) against ``python -c pass``,
    run alternately."""
    bare, imported, booted = [], [], []
    _wall([sys.executable, "-c", BOOT])  # writes the bytecode cache
    for _ in range(s.runs):
        bare.append(_wall([sys.executable, "-c", "pass"]))
        imported.append(_wall([sys.executable, "-c", "import simulator"]))
        booted.append(_wall([sys.executable, "-c", BOOT]))
    base = Figure.of(bare)
    return ImportTimes(
        base,
        Figure.of([(t - base.median) * 1000 for t in imported]),
        Figure.of([(t - base.median) * 1000 for t in booted]),
    )


def startup(s: Settings) -> tuple[Figure, ImportTimes]:
    """The tour's and the import's wall time, with the issue's targets beside them."""
    print("start-up (subprocesses of this Python)")
    tour = tour_seconds(s)
    show("ringsim tour (python -m scenarios tour), wall time", tour, "s", "target < 2 s")
    times = import_times(s)
    show("python -c pass, wall time", times.bare.scaled(1000), "ms")
    note = "target < 100 ms"
    show("import simulator, wall time over python -c pass", times.over_bare, "ms", note)
    show("the same and a first Machine.boot() (the kernel loads)", times.with_boot, "ms")
    print("  (bytecode cached, as on any import after the first)")
    return tour, times


def spawn_memory(s: Settings) -> Figure:
    """Bytes tracemalloc sees allocated by spawning PROCESSES processes, each with
    PAGES_EACH written pages of its own, on one booted machine."""
    samples = []
    for _ in range(min(s.runs, 3)):
        m = Machine.boot()
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(PROCESSES):
            p = m.spawn("x86_64")
            pages = p.alloc(PAGES_EACH * PAGE)
            for i in range(PAGES_EACH):
                p.write_mem(pages + i * PAGE, b"x")
        gc.collect()
        samples.append(tracemalloc.get_traced_memory()[0] - base)
        tracemalloc.stop()
        del m
    return Figure.of(samples)


def resident_bytes() -> int:
    """This process's resident set size now (Linux /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def usage() -> tuple[int, int]:
    """The RSS in bytes and the interpreter's allocated memory blocks, now."""
    return resident_bytes(), sys.getallocatedblocks()


class Checkpoints:
    """fd 0 for the long run: /dev/zero's open file, noting the usage every ``every`` reads.

    sys_read calls ``read`` once per 16-byte read, so the checkpoints fall inside the
    one Process.run; the count and the check are all it adds to the call.
    """

    def __init__(self, file, every: int) -> None:
        self.file = file
        self.readable = file.readable
        self.every = every
        self.reads = 0
        self.seen: list[tuple[int, int]] = []

    def read(self, count: int):
        self.reads += 1
        if self.reads % self.every == 0:
            self.seen.append(usage())
        return self.file.read(count)


@attrs.frozen
class LongRun:
    """One long run: its time, and the usage (RSS, blocks) before it and at each checkpoint."""

    calls: int
    seconds: float
    before: tuple[int, int]
    seen: tuple[tuple[int, int], ...]

    @property
    def every(self) -> int:
        return self.calls // len(self.seen)

    @property
    def rss_growth(self) -> Figure:
        """Bytes of RSS growth over each interval between two checkpoints."""
        return Figure.of([b[0] - a[0] for a, b in pairwise(self.seen)])

    @property
    def total_growth(self) -> int:
        return self.seen[-1][0] - self.seen[0][0]

    @property
    def block_growth(self) -> int:
        return self.seen[-1][1] - self.seen[0][1]

    @property
    def flat(self) -> bool:
        return self.total_growth < FLAT_LIMIT


def long_run(calls: int) -> LongRun:
    """``calls`` untraced reads by the peer's loop in one Process.run, usage at checkpoints."""
    r: Reader = reader(Machine.boot())
    steps = check_read_loop(r)
    checkpoints = Checkpoints(r.process.task.fds[0], calls // CHECKPOINTS)
    r.process.task.fds[0] = checkpoints
    code = read_loop_code(r.buf, calls)
    gc.collect()
    before = usage()
    start = time.perf_counter()
    result = r.process.run(code, trace=False, max_steps=steps * calls + 100)
    elapsed = time.perf_counter() - start
    expect(result.stop == "end" and result.after.reg("rax") == COUNT, "the long run's reads")
    expect(checkpoints.reads == calls, f"{calls} reads reached fd 0 (saw {checkpoints.reads})")
    return LongRun(calls, elapsed, before, tuple(checkpoints.seen))


def long_run_in_child(calls: int) -> LongRun:
    """The long run in a fresh interpreter (``run.py --memory-run``), so that memory the
    earlier figures freed, and the allocator kept, cannot hide growth."""
    command = [sys.executable, str(Path(__file__).with_name("run.py")), "--memory-run", str(calls)]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    data = json.loads(out.splitlines()[-1])
    seen = tuple(tuple(pair) for pair in data["seen"])
    return LongRun(data["calls"], data["seconds"], tuple(data["before"]), seen)


def memory(s: Settings) -> LongRun | None:
    """Memory of many processes, and over the long run (None when RSS cannot be read)."""
    print("memory")
    spawned = spawn_memory(s)
    label = f"{PROCESSES:,} processes, {PAGES_EACH} written pages each (tracemalloc)"
    show(label, spawned.scaled(1 / 2**20), "MiB")
    show("the same, per process", spawned.scaled(1 / PROCESSES / 1024), "KiB")
    quick = " (--quick: not the full 1,000,000)" if s.quick else ""
    print(
        f"memory over {s.memory_calls:,} untraced reads in one Process.run, in a fresh "
        f"interpreter (RSS; allocated blocks){quick}"
    )
    if not Path("/proc/self/statm").exists():
        print("  skipped: no /proc/self/statm to read the resident set size from")
        return None
    run = long_run_in_child(s.memory_calls)
    rate = run.calls / run.seconds
    print(f"  {run.calls:,} reads in one Process.run took {run.seconds:,.1f} s ({rate:,.0f} /s)")
    mib = 1 / 2**20
    print(
        f"  RSS before the run {run.before[0] * mib:,.1f} MiB; after {run.every:,} reads "
        f"{run.seen[0][0] * mib:,.1f} MiB; after {run.calls:,} reads "
        f"{run.seen[-1][0] * mib:,.1f} MiB ({run.total_growth / 1024:+,.0f} KiB)"
    )
    print(
        f"  allocated blocks (sys.getallocatedblocks) after {run.every:,} reads "
        f"{run.seen[0][1]:,}; after {run.calls:,} reads {run.seen[-1][1]:,} "
        f"({run.block_growth:+,}; each checkpoint's own record takes a few)"
    )
    verdict = "flat" if run.flat else "GROWS"
    label = f"RSS growth per {run.every:,} reads ({len(run.seen) - 1} intervals)"
    show(label, run.rss_growth.scaled(1 / 1024), "KiB", f"{verdict} (target: flat)")
    return run
