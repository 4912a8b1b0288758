"""ringsim's one benchmark command: how fast the hot paths are, on this Python.

Run ``python benchmarks/run.py`` (``--quick`` for a fast look: fewer runs, and 100,000
calls instead of a million in the memory run; ``--profile`` for a cProfile of the
untraced read loop instead). Each figure is the median of several runs with its spread
(min..max); the ratios and targets of issue 10 close the output. It measures; no test
asserts on these numbers.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import platform
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import attrs
from cpu_figures import bare_round_trips, cpu_model
from kernel_figures import (
    ReadFigures,
    check_read_loop,
    every_way_in,
    other_paths,
    read_loop,
    read_loop_code,
    read_round_trip,
    reader,
)
from measure import Figure, Settings
from peer import PeerFigures, peer
from system_figures import ImportTimes, LongRun, long_run, memory, startup

from simulator import Machine

RUNS = 7
QUICK_RUNS = 3
MILLION = 1_000_000
QUICK_CALLS = 100_000


def settings(quick: bool) -> Settings:
    if quick:
        return Settings(runs=QUICK_RUNS, memory_calls=QUICK_CALLS, quick=True)
    return Settings(runs=RUNS, memory_calls=MILLION, quick=False)


def header(s: Settings) -> None:
    print(f"ringsim benchmarks on {platform.python_implementation()} {platform.python_version()}")
    print(f"  ({platform.machine()}, {s.runs} runs each, median and spread min..max)")
    if s.quick:
        print(
            f"  --quick: {s.runs} runs a figure, and the memory run makes "
            f"{s.memory_calls:,} calls, not {MILLION:,}"
        )


def ratio_line(label: str, value: float, target: float, target_text: str) -> None:
    verdict = "met" if value >= target else "not met"
    print(f"  {label}: ratio {value:.3f} (target {target_text}: {verdict})")


def summary(
    bare_syscall: Figure,
    read: ReadFigures,
    baseline: PeerFigures | None,
    tour: Figure,
    imports: ImportTimes,
    memory_run: LongRun | None,
) -> None:
    """Issue 10's ratios and targets, from medians measured in this run."""
    print("ratios and targets (issue 10), from the medians above")
    if baseline is None:
        print("  the Unicorn ratios are skipped: the peer baseline did not run")
    else:
        ratio_line(
            "read round trip, ringsim's untraced Process.run loop / Unicorn with the peer's hook",
            read.untraced.median / baseline.with_hook.median,
            0.5,
            ">= 0.5, goal 1.0",
        )
        ratio_line(
            "bare-CPU SYSCALL+SYSRETQ / Unicorn's loop with an empty SYSCALL hook",
            bare_syscall.median / baseline.empty_hook.median,
            0.1,
            ">= 0.1",
        )
    ratio_line(
        "read round trip, traced / untraced Process.run loop",
        read.traced.median / read.untraced.median,
        1 / 3,
        ">= 1/3",
    )
    tour_ok = "met" if tour.median < 2 else "not met"
    print(f"  ringsim tour: {tour.median:.2f} s (target < 2 s: {tour_ok})")
    over = imports.over_bare.median
    print(
        f"  import simulator: {over:.0f} ms over python -c pass "
        f"(target < 100 ms: {'met' if over < 100 else 'not met'})"
    )
    if memory_run is not None:
        print(
            f"  memory over {memory_run.calls:,} calls: "
            f"{memory_run.total_growth / 1024:+,.0f} KiB of RSS from the first checkpoint to the "
            f"last (target flat, under 1 MiB: {'met' if memory_run.flat else 'not met'})"
        )


def profile(s: Settings) -> None:
    """cProfile of the untraced read loop: the top 25 functions by their own time."""
    r = reader(Machine.boot())
    steps = check_read_loop(r)
    n = 5_000 if s.quick else 20_000
    work = read_loop(r, traced=False, steps=steps)
    read_loop_code(r.buf, n)
    print(f"cProfile: {n:,} reads by the peer's loop in one untraced Process.run")
    profiler = cProfile.Profile()
    profiler.runcall(work, n)
    pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ringsim's benchmarks (issue 10's figures)")
    parser.add_argument(
        "--quick", action="store_true", help="fewer runs, and 100,000 calls in the memory run"
    )
    parser.add_argument(
        "--profile", action="store_true", help="only profile the untraced read loop"
    )
    parser.add_argument("--memory-run", type=int, metavar="CALLS", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    s = settings(args.quick)
    if args.memory_run:
        # the memory figure's child process: one long run, its result as JSON
        print(json.dumps(attrs.asdict(long_run(args.memory_run))))
        return
    if args.profile:
        profile(s)
        return
    header(s)
    cpu_model(s)
    bare_syscall = bare_round_trips(s)
    read = read_round_trip(s)
    baseline = peer(s)
    every_way_in(s)
    other_paths(s)
    tour, imports = startup(s)
    memory_run = memory(s)
    summary(bare_syscall, read, baseline, tour, imports, memory_run)


if __name__ == "__main__":
    main()
