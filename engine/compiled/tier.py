"""The tier: count calls per (function, params, argument signature); compile hot ones in the background.

A call never waits for a compiler: it gets the compiled Runner if one is
ready, else None (run the interpreter). The call that makes a key hot queues
a build; one daemon thread builds one key at a time and publishes the Runner
with a single dict store, so a concurrent call sees the old path or the new
one, never half of it. A build that fails, or whose answer differs from the
interpreter's, marks the key so it is never tried again, is logged once and
counted.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from engine.compiled.build import MismatchError, Options, build
from engine.compiled.runner import Runner
from engine.ir import Graph
from engine.memo import Memo
from engine.tape import Plan

__all__ = ["Settings", "Tier", "default_threads", "signature"]

log = logging.getLogger("engine.compiled")


def default_threads() -> int:
    """The cores this process may use (a worker pinned to fewer cores gets fewer threads)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Settings:
    """Tier settings; the service maps its own (environment) settings onto these."""

    enabled: bool = False  # off in a library user's process unless asked for; the service turns it on
    threshold: int = 20  # calls of one key before it is compiled
    threads: int = 0  # per kernel; 0: default_threads()
    parallel_min: int = 1 << 15  # elements from which a kernel runs on several threads
    max_nodes: int = 2000  # per fused region, which bounds one kernel's compile time
    cache_size: int = 64  # compiled runners kept per process
    cache_dir: str | None = None  # generated modules and numba's machine code on disk; None: memory only
    max_pending: int = 16  # builds waiting for the compiler thread; more hot keys wait for a later call


def signature(xs: Sequence[Any]) -> tuple[Any, ...]:
    """Shapes and dtypes of the arguments: a compiled Runner is specific to them."""
    return tuple((x.shape, x.dtype.char) for x in xs)


class Tier:
    """Counters, the compiled-runner cache and the compiler thread of one process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        threads = settings.threads or default_threads()
        self.options = Options(threads=threads, parallel_min=settings.parallel_min, max_nodes=settings.max_nodes,
                               cache_dir=settings.cache_dir)
        self.runners: Memo[Hashable, Runner] = Memo(settings.cache_size)
        self.calls: OrderedDict[Hashable, int] = OrderedDict()  # bounded: the most recent keys
        self.closed: Memo[Hashable, str] = Memo(4096)  # keys never to build again: why
        self.stats: Counter[str] = Counter()
        self.seconds = 0.0  # spent compiling
        self.jobs: queue.Queue[tuple[Hashable, Graph, list[int], Plan, list[Any]]] = queue.Queue(settings.max_pending)
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def lookup(self, graph: Graph, positions: Sequence[int], plan: Plan, xs: Sequence[Any]) -> Runner | None:
        """The compiled Runner for these arguments, or None (and count the call toward compiling it)."""
        key = (graph.id, tuple(positions), signature(xs))
        runner = self.runners.get(key)
        if runner is not None:
            self.stats["compiled_calls"] += 1
            return runner
        if not self.settings.enabled or self.closed.get(key) is not None:
            return None
        with self.lock:
            n = self.calls.pop(key, 0) + 1
            self.calls[key] = n
            if len(self.calls) > 4096:
                self.calls.popitem(last=False)
        if n == self.settings.threshold:
            self._submit(key, graph, list(positions), plan, list(xs))
        return None

    def _submit(self, key: Hashable, graph: Graph, positions: list[int], plan: Plan, xs: list[Any]) -> None:
        try:
            self.jobs.put_nowait((key, graph, positions, plan, xs))
        except queue.Full:
            self.stats["compile_queue_full"] += 1
            with self.lock:
                self.calls[key] = 0  # counted afresh, so it is offered again later
            return
        with self.lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._work, name="valgrad-compiler", daemon=True)
                self.thread.start()

    def _work(self) -> None:
        while True:
            key, graph, positions, plan, xs = self.jobs.get()
            self.compile(key, graph, positions, plan, xs)
            del graph, plan, xs  # keep no arguments alive between jobs

    def compile(self, key: Hashable, graph: Graph, positions: list[int], plan: Plan, xs: list[Any]) -> Runner | None:
        """Build, check and publish one key's Runner (also usable synchronously, e.g. to warm up)."""
        start = time.perf_counter()
        try:
            runner = build(graph, positions, plan, xs, self.options)
        except MismatchError as e:
            self._close(key, "compile_mismatches", e)
            return None
        except Exception as e:  # any compiler failure: the interpreter keeps serving this key
            self._close(key, "compile_failures", e)
            return None
        finally:
            self.seconds += time.perf_counter() - start
        if runner is None:
            self.closed.put(key, "nothing to fuse")
            self.stats["compile_declined"] += 1
            return None
        self.runners.put(key, runner)
        self.stats["compiles"] += 1
        return runner

    def _close(self, key: Hashable, counter: str, error: Exception) -> None:
        self.closed.put(key, counter)
        if self.stats[counter] == 0:  # log the first of each kind; the counter shows the rest
            log.warning("compiled tier: %s for function %s: %s: %s; it stays on the interpreter",
                        counter.replace("_", " ").rstrip("s"), key[0] if isinstance(key, tuple) else key,
                        type(error).__name__, error)
        self.stats[counter] += 1

    def counters(self) -> dict[str, float]:
        """Numbers for /metrics: calls served compiled, compiles, failures, mismatches, declines, seconds, cache."""
        out: dict[str, float] = {k: 0.0 for k in ("compiled_calls", "compiles", "compile_failures",
                                                  "compile_mismatches", "compile_declined", "compile_queue_full",
                                                  "compile_seconds_total")}
        out.update({k: float(v) for k, v in self.stats.items()})
        out["compile_seconds_total"] = self.seconds
        out["cached_runners"] = float(len(self.runners))
        out["compile_queue"] = float(self.jobs.qsize())
        return out


def settings_from(**kwargs: Any) -> Settings:
    """``Settings`` from keyword arguments, refusing unknown names (a typo must not silently do nothing)."""
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise TypeError(f"unknown compiled-tier setting {unknown[0]!r}; known: {', '.join(sorted(known))}")
    return Settings(**kwargs)
