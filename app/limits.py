"""Load limits: the body-size middleware and the bounded pool of evaluation slots.

A body is refused on its declared ``Content-Length`` before a byte is read,
and again on the bytes actually streamed (chunked uploads declare none).
Evaluations run in worker threads (``Slots.run``), except those the service
judges cheaper than the hop (``Slots.inline``). A short, bounded queue
absorbs bursts; when every slot and queue place is taken a request is
refused at once with 503 and ``Retry-After`` (RFC 9110 section 15.6.4), so
load beyond capacity never builds an unbounded backlog.
"""

from __future__ import annotations

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
    """Refuse bodies over ``max_bytes`` with 413, by declared length and by streamed length."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    await problem_response("bad_request", "Content-Length is not a number")(scope, receive, send)
                    return
                if int(value) > self.max_bytes:
                    await problem_response("payload_too_large", _too_large(self.max_bytes))(scope, receive, send)
                    return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLargeError(_too_large(self.max_bytes))
            return message

        await self.app(scope, counted, send)


class Slots:
    """At most ``size`` evaluations at once in worker threads and ``queue`` more waiting; beyond that, 503."""

    def __init__(self, size: int, queue: int, retry_after: int, metrics: Metrics) -> None:
        self.size = size
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

    def inline(self, endpoint: str, fn: Callable[[], T]) -> T:
        """``fn()`` right here on the event loop: for work cheaper than a thread hop (the caller decides)."""
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.metrics.observe_evaluation(endpoint, time.perf_counter() - start)
