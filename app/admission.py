"""Admission: bounded evaluation slots, so load beyond capacity is refused at once rather than queued.

Requests run in worker threads (``Slots.run``), except those the service
judges cheaper than the hop (``Slots.inline``, within a time budget per
event-loop iteration). A short, bounded queue absorbs bursts; when every
slot and queue place is taken a request is refused at once with 503 and
``Retry-After`` (RFC 9110 section 15.6.4), so load beyond capacity never
builds an unbounded backlog.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from app.errors import OverloadedError
from app.metrics import Metrics

__all__ = ["Slots"]

T = TypeVar("T")


class Slots:
    """At most ``size`` evaluations at once in worker threads and ``queue`` more waiting; beyond that, 503."""

    def __init__(self, size: int, queue: int, retry_after: int, metrics: Metrics, inline_budget: float = 0.002) -> None:
        self.size = size
        self.inline_budget = inline_budget
        self._tick_spent = 0.0  # event-loop seconds taken by inline evaluations in this loop iteration
        self._reset_pending = False
        self.queue = queue
        self.retry_after = retry_after
        self.metrics = metrics
        self.admitted = 0  # running + waiting; touched only on the event loop's thread, so no lock
        self._threads: anyio.CapacityLimiter | None = None

    def bind(self) -> None:
        """Make the thread limiter on the running event loop (called at startup; waiters bind to a loop)."""
        # Our own limiter: anyio's default one (40 threads) is shared with other work and may be smaller.
        self._threads = anyio.CapacityLimiter(self.size)

    async def run(self, endpoint: str, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in a worker thread (waiting for one if needed), or ``OverloadedError`` when full."""
        if self.admitted >= self.size + self.queue:
            self.metrics.shed.inc()
            raise OverloadedError(f"all {self.size} evaluation slots and {self.queue} queue places are taken; "
                                  f"retry after {self.retry_after} s", self.retry_after)
        if self._threads is None:
            self.bind()
        self.admitted += 1
        self.metrics.in_flight.inc()
        start = time.perf_counter()
        try:
            return await anyio.to_thread.run_sync(fn, *args, limiter=self._threads)
        finally:
            self.admitted -= 1
            self.metrics.in_flight.dec()
            self.metrics.observe_evaluation(endpoint, time.perf_counter() - start)

    def inline_open(self) -> bool:
        """Whether this loop iteration has inline time left (the caller sends the work off the loop if not)."""
        return self._tick_spent < self.inline_budget

    def inline(self, endpoint: str, fn: Callable[[], T]) -> T:
        """``fn()`` right here on the event loop: for work cheaper than a thread hop (the caller decides)."""
        start = time.perf_counter()
        try:
            return fn()
        finally:
            spent = time.perf_counter() - start
            self.metrics.observe_evaluation(endpoint, spent)
            self._tick_spent += spent
            if not self._reset_pending:  # call_soon runs in the next iteration: the budget is per iteration
                self._reset_pending = True
                asyncio.get_running_loop().call_soon(self._new_tick)

    def _new_tick(self) -> None:
        self._tick_spent = 0.0
        self._reset_pending = False
