"""Load limits: the body-size middleware and the bounded pool of evaluation slots.

A body is refused on its declared ``Content-Length`` before a byte is read,
and again on the bytes actually streamed (chunked uploads declare none).
Evaluations run in worker threads, never on the event loop; when every slot
is busy a request is refused at once with 503 and ``Retry-After`` rather than
queued, so a burst cannot build an unbounded backlog (RFC 9110 section 15.6.4).
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
    """At most ``size`` evaluations at once, each in a worker thread; the next one gets 503 at once."""

    def __init__(self, size: int, retry_after: int, metrics: Metrics) -> None:
        self.size = size
        self.retry_after = retry_after
        self.metrics = metrics
        self.busy = 0  # touched only on the event loop's thread, so no lock
        self._threads: anyio.CapacityLimiter | None = None

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` in a worker thread, or ``OverloadedError`` when every slot is taken."""
        if self.busy >= self.size:
            self.metrics.shed.inc()
            raise OverloadedError(f"all {self.size} evaluation slots are busy; retry after {self.retry_after} s",
                                  self.retry_after)
        if self._threads is None:  # our own limiter: anyio's default (40 threads) is shared and may be smaller
            self._threads = anyio.CapacityLimiter(self.size)
        self.busy += 1
        self.metrics.in_flight.inc()
        start = time.perf_counter()
        try:
            return await anyio.to_thread.run_sync(fn, *args, limiter=self._threads)
        finally:
            self.busy -= 1
            self.metrics.in_flight.dec()
            self.metrics.evaluation.labels(getattr(fn, "__name__", "call")).observe(time.perf_counter() - start)
