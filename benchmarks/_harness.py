"""Timing harness shared by the performance benchmarks.

Every time here is wall-clock seconds (`time.perf_counter`), measured after the function's
JAX outputs are ready (`jax.block_until_ready`), with compilation excluded by warm-up calls,
and reported as the best of several repeats: on a shared machine the fastest run is the one
least disturbed by other work. When several contenders are compared, `alternate` runs them
in turns (A, B, A, B, ...) so that a change in the machine's load affects all of them alike;
`ratio_table` prints the times with each one's ratio to a reference contender.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Mapping

import jax

__all__ = ["alternate", "best_time", "load", "machine", "ratio_table", "timed"]


def load() -> float:
    """The machine's 1-minute load average (NaN where the OS does not report it)."""
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on Linux/macOS
        return float("nan")


def machine() -> dict:
    """What a benchmark result depends on: processor, cores, Python, jax and its devices."""
    return {
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
        "load": load(),
    }


def timed(fn: Callable[[], object], inner: int = 1) -> float:
    """Seconds per call of `inner` back-to-back calls of `fn`, waiting for its JAX output."""
    if inner < 1:
        raise ValueError(f"inner must be at least 1, got {inner}")
    t0 = time.perf_counter()
    for _ in range(inner):
        out = fn()
    jax.block_until_ready(out)
    return (time.perf_counter() - t0) / inner


def best_time(fn: Callable[[], object], repeats: int, *, warmup: int = 1, inner: int = 1) -> float:
    """Best of `repeats` timings of `fn` (seconds per call) after `warmup` untimed calls.

    `warmup=0` where the caller has already compiled and run `fn` (or warms it up with a
    cheaper call); `inner > 1` times that many back-to-back calls and divides, for
    functions too fast to time one call at a time.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for _ in range(warmup):
        jax.block_until_ready(fn())
    return min(timed(fn, inner) for _ in range(repeats))


def alternate(
    contenders: Mapping[str, Callable[[], object]], repeats: int, *, warmup: int = 1
) -> dict[str, float]:
    """Best time (seconds per call) of each contender, timed in turns `repeats` times.

    Each contender is first called `warmup` times (untimed); then every round calls each
    contender once in the mapping's order, so that load changes during the benchmark
    affect all contenders alike.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for fn in contenders.values():
        for _ in range(warmup):
            jax.block_until_ready(fn())
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(repeats):
        for name, fn in contenders.items():
            best[name] = min(best[name], timed(fn))
    return best


def ratio_table(seconds: Mapping[str, float], reference: str, *, unit: str = "ms") -> str:
    """A Markdown table of the times and each one's ratio to `reference` (time / reference).

    A ratio above 1 means the contender is slower than the reference.
    """
    if reference not in seconds:
        raise KeyError(f"reference {reference!r} is not one of {sorted(seconds)}")
    scale = {"s": 1.0, "ms": 1e3, "us": 1e6}[unit]
    lines = [f"| contender | {unit} | ÷ {reference} |", "|---|---:|---:|"]
    for name, t in seconds.items():
        lines.append(f"| {name} | {t * scale:.3f} | {t / seconds[reference]:.2f} |")
    return "\n".join(lines)
