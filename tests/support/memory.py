"""Allocation budgets: "refused before allocating" checked by what was allocated, not by how long it took."""

from __future__ import annotations

import contextlib
import tracemalloc
from collections.abc import Iterator


@contextlib.contextmanager
def allocation_budget(max_bytes: int) -> Iterator[None]:
    """Fail if the block's peak of traced allocations (Python objects and NumPy buffers) reaches ``max_bytes``.

    Deterministic where a time bound is not: a lazily committed 80 GB ``np.zeros`` is fast, but it is traced.
    """
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if started:
            tracemalloc.stop()
    assert peak < max_bytes, f"allocated {peak} bytes at the peak, over a budget of {max_bytes}"
