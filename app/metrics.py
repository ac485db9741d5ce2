"""Prometheus metrics: requests and latency by route and status, evaluation work, cache behaviour.

Each app owns its ``CollectorRegistry`` (so several apps in one process, as
in tests, never clash). With ``--workers N`` the CLI sets
``PROMETHEUS_MULTIPROC_DIR`` and every worker writes its samples there; a
scrape of any worker then reports the sum over all of them.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
)

from app.function_cache import FunctionCache, RegistryStats

__all__ = ["MULTIPROC_ENV", "Metrics"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The service's metrics, registered in a registry of their own."""

    def __init__(self, functions: FunctionCache) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._cache = functions
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        r = self.registry
        self.requests = Counter("valgrad_http_requests", "HTTP requests by route template and status",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("valgrad_http_request_duration_seconds", "HTTP request latency by route template",
                                 ["method", "route"], buckets=_LATENCY_BUCKETS, registry=r)
        self.evaluation = Histogram("valgrad_evaluation_seconds", "time to parse, evaluate and encode one request "
                                    "in a worker thread", ["endpoint"], buckets=_LATENCY_BUCKETS, registry=r)
        self.nodes = Counter("valgrad_nodes_evaluated", "op nodes run by the forward passes", registry=r)
        self.shed = Counter("valgrad_shed_requests", "requests refused with 503: every slot and queue place taken",
                            registry=r)
        self.in_flight = Gauge("valgrad_evaluations_in_flight", "evaluations running or waiting for a slot",
                               registry=r, multiprocess_mode="livesum")
        self.functions = Gauge("valgrad_registry_functions", "functions held in the cache", registry=r,
                               multiprocess_mode="livesum")
        self.cache_bytes = Gauge("valgrad_registry_bytes", "canonical JSON bytes held in the cache", registry=r,
                                 multiprocess_mode="livesum")
        self.hits = Counter("valgrad_registry_hits", "function-id lookups that found the function", registry=r)
        self.misses = Counter("valgrad_registry_misses", "function-id lookups that did not (404s)", registry=r)
        self.evictions = Counter("valgrad_registry_evictions", "functions dropped to stay within bounds",
                                 registry=r)
        self.workers = Gauge("valgrad_eval_workers", "evaluation worker processes alive", registry=r,
                             multiprocess_mode="livesum")
        self.workers_ended = Counter("valgrad_eval_workers_ended", "evaluation workers killed or lost, by reason: "
                                     "deadline (killed past VALGRAD_EVAL_TIMEOUT_SECONDS), memory (hit "
                                     "VALGRAD_EVAL_MEMORY_BYTES), crash (ended on their own)", ["reason"],
                                     registry=r)
        self.compiled = Gauge("valgrad_compiled", "the compiled tier, summed over evaluation workers: compiled_calls, "
                              "compiles, compile_failures (fell back to the interpreter), compile_mismatches, "
                              "compile_seconds_total, cached_runners, available", ["counter"], registry=r,
                              multiprocess_mode="livesum")
        self.disconnects = Counter("valgrad_client_disconnects", "requests whose client went away before the "
                                   "body was read (counted as status 499, not as errors)", registry=r)
        self.store_ops: Any = None
        self.store_up: Any = None
        if functions.store is not None:  # no store, no store metrics (a 0 "up" would read as an outage)
            self._store_metrics()
        self._seen_store: dict[str, int] = {}
        # (metric, label values) -> its child; bounded, as labels are route templates, statuses and endpoints
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
        self._seen = RegistryStats(0, 0, 0, 0, 0)
        self._lock = threading.Lock()
        if not self.multiprocess:
            ProcessCollector(registry=r)

    def _store_metrics(self) -> None:
        r = self.registry
        self.store_ops = Counter("valgrad_function_store_operations", "shared function store calls by operation "
                                 "(get, put) and result: hit, miss, invalid (read back but not a valid function), "
                                 "stored, exists, error (unreachable or slow), skipped (during an outage's "
                                 "backoff), too_large", ["operation", "result"], registry=r)
        self.store_up = Gauge("valgrad_function_store_up", "1 while the shared function store answers, 0 during "
                              "an outage", registry=r,
                              multiprocess_mode="livemin")

    def count_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request and its latency."""
        self._child(self.requests, method, route, str(status)).inc()
        self._child(self.latency, method, route).observe(seconds)

    def observe_evaluation(self, endpoint: str, seconds: float) -> None:
        """Record one evaluation's time under its endpoint."""
        self._child(self.evaluation, endpoint).observe(seconds)

    def worker_ended(self, reason: str) -> None:
        """Count an evaluation worker killed or lost, by reason."""
        self._child(self.workers_ended, reason).inc()

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, memoised: ``labels()`` costs microseconds on every request otherwise."""
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def cache_changed(self) -> None:
        """Called after each cache operation: only multiprocess mode needs the numbers written at once."""
        if self.multiprocess:
            self._observe_cache()

    def _observe_cache(self) -> None:
        """Bring the cache metrics up to date (counters move by the difference since last time)."""
        with self._lock:
            stats = self._cache.stats()
            seen, self._seen = self._seen, stats
            self.functions.set(stats.functions)
            self.cache_bytes.set(stats.bytes)
            self.hits.inc(stats.hits - seen.hits)
            self.misses.inc(stats.misses - seen.misses)
            self.evictions.inc(stats.evictions - seen.evictions)
            if self._cache.store is not None:
                self._observe_store(self._cache.store.stats())

    def _observe_store(self, stats: dict[str, int]) -> None:
        self.store_up.set(stats.pop("up"))
        for name, count in stats.items():
            operation, _, result = name.partition("_")
            self._child(self.store_ops, operation, result).inc(count - self._seen_store.get(name, 0))
        self._seen_store = stats

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type (summed over workers in multiprocess mode)."""
        self._observe_cache()
        if self.multiprocess:
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return generate_latest(merged), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
