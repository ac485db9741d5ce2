"""The function cache: content-addressed, least-recently-used, bounded by count and by bytes.

Ids are ``sha256:<hex>`` of the canonical graph, so every replica computes
the same id for the same function and no replica needs a shared store: one
that lacks an id answers 404 and the client resends the whole function. With
an optional shared store (``app.store``) registration also writes the
function there, and ``recall`` looks an unknown id up in it (off the event
loop), validating what it reads, before the caller answers 404.
Size is measured as the canonical JSON's bytes, a stable proxy for the
memory a parsed graph holds. A second, equally bounded map remembers which
id a function's *source* JSON produced, so a one-shot request that repeats a
function skips parsing it. Safe to use from the evaluation threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import orjson

from app.store import FunctionStore
from engine import EngineError, Graph, Limits, load_function

__all__ = ["FunctionCache", "RegistryStats"]


@dataclass(frozen=True)
class RegistryStats:
    functions: int
    bytes: int
    hits: int
    misses: int
    evictions: int


class FunctionCache:
    """An LRU map id -> Graph holding at most ``max_functions`` and ``max_bytes`` of canonical JSON."""

    def __init__(self, max_functions: int, max_bytes: int, store: FunctionStore | None = None) -> None:
        self.max_functions = max_functions
        self.max_bytes = max_bytes
        self.store = store
        self._store_threads: Any = None  # an anyio.CapacityLimiter, made on the event loop at first use
        self._graphs: OrderedDict[str, Graph] = OrderedDict()
        self._bytes = 0
        self._sources: OrderedDict[bytes, str] = OrderedDict()  # source JSON -> id
        self._source_bytes = 0
        self._hits = self._misses = self._evictions = 0
        self._lock = threading.Lock()

    def get(self, function_id: str) -> Graph | None:
        """The graph under ``function_id`` (now the most recently used), or None; counts a hit or a miss."""
        with self._lock:
            graph = self._graphs.get(function_id)
            if graph is None:
                self._misses += 1
                return None
            self._graphs.move_to_end(function_id)
            self._hits += 1
            return graph

    def fits(self, graph: Graph) -> bool:
        """Whether ``graph`` could be held at all (its canonical JSON is within the byte bound)."""
        return len(graph.canonical) <= self.max_bytes

    def intern(self, graph: Graph) -> tuple[Graph, bool]:
        """The held graph with ``graph``'s id (holding ``graph`` if none), and whether it is new.

        Returning the held graph keeps its memos (backward plans, static checks) warm.
        A graph larger than the whole byte bound is returned as is and not held.
        """
        size = len(graph.canonical)
        with self._lock:
            held = self._graphs.get(graph.id)
            if held is not None:
                self._graphs.move_to_end(graph.id)
                return held, False
            if size > self.max_bytes:
                return graph, False
            while self._graphs and (len(self._graphs) >= self.max_functions or self._bytes + size > self.max_bytes):
                _, old = self._graphs.popitem(last=False)
                self._bytes -= len(old.canonical)
                self._evictions += 1
            self._graphs[graph.id] = graph
            self._bytes += size
            return graph, True

    def share(self, graph: Graph) -> None:
        """Write a registered function to the shared store, if there is one (in a worker thread)."""
        if self.store is not None:
            self.store.put(graph.id, graph.canonical)

    async def recall(self, function_id: str, limits: Limits) -> None:
        """Hold ``function_id`` from the shared store if it has a valid copy; never raises, never blocks the loop."""
        if self.store is None or function_id in self:
            return
        if self._store_threads is None:
            self._store_threads = anyio.CapacityLimiter(8)  # lookups never take the evaluation slots
        await anyio.to_thread.run_sync(self._recall, function_id, limits, limiter=self._store_threads)

    def _recall(self, function_id: str, limits: Limits) -> None:
        assert self.store is not None
        raw = self.store.get(function_id)
        if raw is None:
            return
        try:  # the store is not trusted to hold valid graphs: parse, check against the limits, hash
            graph = load_function(orjson.loads(raw), limits=limits)
        except (orjson.JSONDecodeError, EngineError, RecursionError, TypeError, ValueError):
            graph = None
        if graph is None or graph.id != function_id or not self.fits(graph):
            self.store.invalid()
            return
        self.intern(graph)

    def by_source(self, source: bytes) -> Graph | None:
        """The held graph that ``source`` (a function's JSON, keys sorted) parsed to before, if any."""
        with self._lock:
            function_id = self._sources.get(source)
            if function_id is None:
                return None
            graph = self._graphs.get(function_id)
            if graph is None:  # evicted since: forget the alias too
                del self._sources[source]
                self._source_bytes -= len(source)
                return None
            self._sources.move_to_end(source)
            self._graphs.move_to_end(function_id)
            return graph

    def remember_source(self, source: bytes, graph: Graph) -> None:
        """Note that ``source`` parses to ``graph`` (only while ``graph`` is held)."""
        if len(source) > self.max_bytes:
            return
        with self._lock:
            if graph.id not in self._graphs or source in self._sources:
                return
            while self._sources and (len(self._sources) >= self.max_functions
                                     or self._source_bytes + len(source) > self.max_bytes):
                old, _ = self._sources.popitem(last=False)
                self._source_bytes -= len(old)
            self._sources[source] = graph.id
            self._source_bytes += len(source)

    def __contains__(self, function_id: object) -> bool:
        """Whether the cache holds ``function_id``, without counting a hit or refreshing its place."""
        with self._lock:
            return function_id in self._graphs

    def stats(self) -> RegistryStats:
        with self._lock:
            return RegistryStats(len(self._graphs), self._bytes, self._hits, self._misses, self._evictions)
