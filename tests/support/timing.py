"""Time budgets that a busy machine does not break: seconds on a quiet machine, scaled by how slow this one is now.

A test that guards against a blow-up (quadratic parsing, an evaluation that would take an hour)
states its budget as the seconds the work may take on a quiet development machine. A block that
takes longer is measured against the machine's current slowdown: how long a fixed reference work
takes right after it, over the time it takes on a quiet machine. Under load both slow down alike,
so the check keeps its meaning and stops failing for reasons that are not the code's; a block
within its quiet budget costs no measurement at all.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator

import numpy as np

QUIET_REFERENCE_SECONDS = 0.0025  # the reference work on the quiet 2-core development machine (median of 5)


def _reference_work() -> float:
    """A fixed mix of interpreter and NumPy work, like the code under test; its seconds now."""
    start = time.perf_counter()
    total = 0
    for i in range(20_000):
        total += i * i
    a = np.arange(20_000.0)
    for _ in range(20):
        a = np.sqrt(a * a + 1.0)
    return time.perf_counter() - start


def slowdown() -> float:
    """How many times slower than a quiet machine this one is now (at least 1)."""
    return max(1.0, statistics.median(_reference_work() for _ in range(5)) / QUIET_REFERENCE_SECONDS)


@contextlib.contextmanager
def time_budget(quiet_seconds: float) -> Iterator[None]:
    """Fail if the block takes longer than ``quiet_seconds`` times the machine's slowdown right after it."""
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    if elapsed >= quiet_seconds:
        factor = slowdown()
        assert elapsed < quiet_seconds * factor, (
            f"{elapsed:.3f} s over a budget of {quiet_seconds} s on a quiet machine × {factor:.1f} (its slowdown now)")
