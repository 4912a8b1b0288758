"""How the benchmark measures and prints: each figure is a median with its spread."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import attrs

LABEL_WIDTH = 60
_FORMATS = {
    "/s": "{:,.0f}",
    "s": "{:,.2f}",
    "ms": "{:,.0f}",
    "MiB": "{:,.1f}",
    "KiB": "{:,.1f}",
}


@attrs.frozen
class Settings:
    """How much to measure: runs per figure, and the calls of the long memory run."""

    runs: int
    memory_calls: int
    quick: bool


@attrs.frozen
class Figure:
    """One figure: the median of several runs, and the smallest and largest run (its spread)."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Figure:
        return cls(statistics.median(samples), min(samples), max(samples))

    def scaled(self, factor: float) -> Figure:
        return Figure(self.median * factor, self.low * factor, self.high * factor)


def rate(work: Callable[[int], None], n: int, runs: int) -> Figure:
    """Operations per second: ``work(n)`` timed ``runs`` times."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        work(n)
        samples.append(n / (time.perf_counter() - start))
    return Figure.of(samples)


def seconds(work: Callable[[], None], runs: int) -> Figure:
    """Wall-clock seconds of ``work()``, timed ``runs`` times."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return Figure.of(samples)


def show(label: str, figure: Figure, unit: str = "/s", note: str = "") -> None:
    """Print one figure on one line: median, unit, spread, and an optional note."""
    fmt = _FORMATS[unit].format
    line = (
        f"  {label:<{LABEL_WIDTH}} {fmt(figure.median):>12} {unit:<3}"
        f" (spread {fmt(figure.low)} .. {fmt(figure.high)})"
    )
    print(f"{line}  {note}" if note else line)


def expect(condition: bool, what: str) -> None:
    """Stop the benchmark when a workload does not do what it claims (checked before timing)."""
    if not condition:
        raise RuntimeError(f"benchmark workload check failed: {what}")
