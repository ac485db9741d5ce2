"""The compiled tier: hot cached plans run as fused numba kernels (optional; the interpreter is the reference).

One entry point for the evaluation path::

    runner = engine.compiled.tiered(graph, positions, plan, xs)
    if runner is not None:
        values, grads = runner.run(xs, seeds_for)   # seeds_for(values) -> {slot: seed}, as engine.contract.seeds
    else:
        ...  # the interpreter, as before

``tiered`` never waits for a compiler: it counts the call and returns a
Runner only once one has been built (in a background thread) and checked
against the interpreter. Without numba it always returns None, and nothing
here imports numba until a build starts. ``counters()`` feeds /metrics;
``configure(...)`` applies settings (``Settings``'s fields) once at startup.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from typing import Any

from engine.compiled.runner import Runner
from engine.compiled.tier import Settings, Tier, default_threads, settings_from, signature
from engine.ir import Graph
from engine.tape import Plan

__all__ = ["Runner", "Settings", "available", "compile_now", "configure", "counters", "enabled", "tiered"]

_AVAILABLE = importlib.util.find_spec("numba") is not None
_tier: Tier | None = None
_lock = threading.Lock()


def available() -> bool:
    """Whether numba is installed (the tier is a no-op otherwise)."""
    return _AVAILABLE


def enabled() -> bool:
    """Whether this process runs hot plans compiled: numba is installed and ``configure(enabled=True)`` ran."""
    return _AVAILABLE and _tier is not None and _tier.settings.enabled


def configure(**settings: Any) -> Settings:
    """Replace the process's tier with one using these settings (fields of ``Settings``); returns them.

    Call before serving: the thread count also sizes numba's thread pool when numba is not imported yet.
    """
    global _tier
    chosen = settings_from(**settings)
    threads = chosen.threads or default_threads()
    os.environ.setdefault("NUMBA_NUM_THREADS", str(threads))  # numba reads it once, at import
    with _lock:
        _tier = Tier(chosen)
    return chosen


def _current() -> Tier:
    global _tier
    if _tier is None:
        with _lock:
            if _tier is None:
                _tier = Tier(Settings())
    return _tier


def tiered(graph: Graph, positions: Sequence[int], plan: Plan, xs: Sequence[Any]) -> Runner | None:
    """The compiled Runner for this (graph, params, argument shapes and dtypes) if ready, else None.

    ``xs`` are the bound arguments (NumPy values, not Tensors: higher-order calls stay on the interpreter).
    """
    if not _AVAILABLE:
        return None
    return _current().lookup(graph, positions, plan, xs)


def compile_now(graph: Graph, positions: Sequence[int], plan: Plan, xs: Sequence[Any]) -> Runner | None:
    """Build (or fetch) the Runner synchronously, as the background thread would: for tests, benchmarks, warm-up."""
    if not _AVAILABLE:
        return None
    tier = _current()
    key = (graph.id, tuple(positions), signature(xs))
    return tier.runners.get(key) or tier.compile(key, graph, list(positions), plan, list(xs))


def counters() -> dict[str, float]:
    """The tier's counters for /metrics (``available`` is 0 without numba)."""
    out = _current().counters() if _AVAILABLE else {}
    out["available"] = float(_AVAILABLE)
    return out
