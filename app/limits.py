"""Load limits: the body middleware (size, shared budget, deadline) and the bounded evaluation slots.

A body is refused on its declared ``Content-Length`` before a byte is read,
and again on the bytes actually streamed (chunked uploads declare none); all
bodies in flight share a byte budget.
Requests run in worker threads (``Slots.run``), except those the service
judges cheaper than the hop (``Slots.inline``, within a time budget per
event-loop iteration). A short, bounded queue
absorbs bursts; when every slot and queue place is taken a request is
refused at once with 503 and ``Retry-After`` (RFC 9110 section 15.6.4), so
load beyond capacity never builds an unbounded backlog.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import BodyTooLargeError, OverloadedError, problem_response
from app.metrics import Metrics

__all__ = ["BodyLimitMiddleware", "Slots"]

T = TypeVar("T")


def _too_large(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes; send tensors in base64 (about 1.4x " \
           "smaller than lists) or split the request"


class BodyLimitMiddleware:
    """Bound each body (413) and the bodies of all requests at once (503).

    ``budget`` bytes of bodies may be in flight over all requests: a declared ``Content-Length`` is
    reserved before a byte is read (refused at once when it does not fit), a chunked body is counted as
    it streams; the bytes are returned when the request's answer is sent. (The time a body may take to
    arrive is bounded in the protocol, ``app.protocol``: a timer there costs a microsecond, a cancel
    scope here 25.)
    """

    def __init__(self, app: ASGIApp, max_bytes: int, budget: int = 0, retry_after: int = 1) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.budget = budget
        self.retry_after = retry_after
        self.in_flight = 0  # body bytes reserved or received by requests not yet answered (event loop only)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = 0
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    await problem_response("bad_request", "Content-Length is not a number")(scope, receive, send)
                    return
                declared = int(value)
                if declared > self.max_bytes:
                    await problem_response("payload_too_large", _too_large(self.max_bytes))(scope, receive, send)
                    return
        if declared and self.budget and self.in_flight + declared > self.budget:
            await _refused(self, scope, receive, send)
            return
        body = _Body(self, declared)
        try:
            await self.app(scope, body.receive(receive), send)
        finally:
            self.in_flight -= body.held


async def _refused(limit: BodyLimitMiddleware, scope: Scope, receive: Receive, send: Send) -> None:
    error = _overloaded(limit)
    await problem_response(error.code, error.message, headers=error.headers)(scope, receive, send)


def _overloaded(limit: BodyLimitMiddleware) -> OverloadedError:
    return OverloadedError(f"the server is receiving {limit.budget} bytes of request bodies already; retry after "
                           f"{limit.retry_after} s", limit.retry_after, close=True)


class _Body:
    """One request's body as it arrives, counted against both limits."""

    def __init__(self, limit: BodyLimitMiddleware, declared: int) -> None:
        self.limit = limit
        self.seen = 0
        self.held = declared  # bytes of the shared budget this request holds
        limit.in_flight += declared

    def receive(self, receive: Receive) -> Receive:
        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self._count(len(message.get("body", b"")))
            return message

        return counted

    def _count(self, n: int) -> None:
        limit = self.limit
        self.seen += n
        if self.seen > limit.max_bytes:
            raise BodyTooLargeError(_too_large(limit.max_bytes))
        if self.seen > self.held:  # a chunked body (or one longer than declared): count what streams in
            limit.in_flight += self.seen - self.held
            self.held = self.seen
            if limit.budget and limit.in_flight > limit.budget:
                raise _overloaded(limit)


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
