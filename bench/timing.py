"""Timing and table helpers shared by the benchmarks: medians of repeated runs, Markdown tables."""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any


def median_time(fn: Callable[[], Any], *, min_time: float = 0.2, repeats: int = 7) -> float:
    """Median seconds per call over ``repeats`` batches, each batch running at least ``min_time``."""
    return median_times([fn], min_time=min_time, repeats=repeats)[0]


def median_times(fns: Sequence[Callable[[], Any]], *, min_time: float = 0.2, repeats: int = 7) -> list[float]:
    """``median_time`` of each of ``fns``, their batches interleaved so drift on a shared machine hits all alike."""
    numbers = []
    for fn in fns:
        fn()  # warm up caches and lazy imports
        start = time.perf_counter()
        fn()
        numbers.append(max(1, int(min_time / max(time.perf_counter() - start, 1e-7))))
    samples: list[list[float]] = [[] for _ in fns]
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for fn, number, out in zip(fns, numbers, samples, strict=True):
                t0 = time.perf_counter()
                for _ in range(number):
                    fn()
                out.append((time.perf_counter() - t0) / number)
    finally:
        if gc_was:
            gc.enable()
    return [statistics.median(s) for s in samples]


def peak_memory(fn: Callable[[], Any]) -> int:
    """Peak bytes traced by tracemalloc while ``fn`` runs (NumPy reports its buffers to it)."""
    fn()
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)
