"""uvicorn's httptools protocol with the bounds it lacks: deadlines for request heads and bodies, a connection cap.

uvicorn closes idle kept-alive connections (``timeout_keep_alive``) but
waits forever for a request head that never completes, so slow or half-sent
requests pile up until the process runs out of file descriptors. Here a
connection must complete each request head within
``VALGRAD_HEADER_TIMEOUT_SECONDS`` of its first byte (or of connecting), a
body within ``VALGRAD_BODY_TIMEOUT_SECONDS`` of its head (else 408 and the
connection is closed), and
a process holds at most ``VALGRAD_MAX_CONNECTIONS``: past that, the oldest
connection still sending its head is closed to make room (a slow-loris
client loses its connections, not the probes and clients that send whole
requests), and if every connection is busy with a complete request the new
one is closed. On a busy loop ``GET /healthz`` is answered by the protocol
itself, ahead of the app's queued requests, so liveness probes stay prompt
(the issue measured 91-131 ms p99 with 60 small-evaluation clients).
``valgrad serve`` passes this class to uvicorn by name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import cache
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.errors import BODY_TIMED_OUT, MEDIA_TYPE, problem_body
from app.settings import Settings

__all__ = ["BoundedHttpToolsProtocol"]


@cache
def _bounds() -> tuple[float, float, int]:
    settings = Settings()
    return settings.header_timeout_seconds, settings.body_timeout_seconds, settings.max_connections


@cache
def _late_body() -> bytes:
    body = orjson.dumps(problem_body("request_timeout", "the request body was not received in time; the "
                                     "connection is closed"))
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: " + MEDIA_TYPE.encode() + b"\r\ncontent-length: "
            + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)


_LATE = 0.25  # seconds: a timer this late means the loop stalled
_BUSY = 16  # requests in progress from which probes are answered by the protocol
_BODY_HEADERS = frozenset((b"content-length", b"transfer-encoding"))
_BODY = b'{"status":"ok"}'
_LIVE = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
         + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY)
_LIVE_CLOSE = _LIVE.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n", 1)

# Per server: connections whose current request head is incomplete, oldest first (dicts keep order).
_WAITING: dict[int, dict[BoundedHttpToolsProtocol, None]] = {}


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` plus the head deadline and the connection cap (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_timeout, self.body_timeout, self.max_connections = _bounds()
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._waiting = _WAITING.setdefault(id(self.server_state), {})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            oldest = next(iter(self._waiting), None)
            (oldest or self)._close_waiting()
            if oldest is None:
                return
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        self._body_done()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:  # a kept-alive connection starts its next request
            self._await_head()

    def on_headers_complete(self) -> None:
        self._head_done()
        if (len(self.tasks) >= _BUSY and self.url == b"/healthz" and self.parser.get_method() == b"GET"
                and self._idle()):
            self._answer_liveness()
            return
        super().on_headers_complete()
        if any(name in _BODY_HEADERS for name, _ in self.headers):
            self._body_timer = self._timer(self.body_timeout, self._body_late)

    def on_message_complete(self) -> None:
        self._body_done()
        super().on_message_complete()

    def _body_done(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_late(self) -> None:
        """The body did not arrive in time: answer 408 (unless an answer started) and close the connection."""
        self._body_timer = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_started and not self.transport.is_closing():
            cycle.scope[BODY_TIMED_OUT] = True  # type: ignore[literal-required]
            self.transport.write(_late_body())
        self.transport.close()  # the app's receive() now returns http.disconnect

    def _idle(self) -> bool:
        return not self.pipeline and (self.cycle is None or self.cycle.response_complete)

    def _answer_liveness(self) -> None:
        """``GET /healthz`` on a busy loop answered here, without queueing an app task behind the others.

        Liveness means "this process's event loop accepts and answers connections", which this shows
        exactly; the app's own route gives the same body, and answers (logged, counted, with a request
        id) while fewer than ``_BUSY`` requests are in progress.
        """
        keep = self.parser.should_keep_alive()
        self.transport.write(_LIVE if keep else _LIVE_CLOSE)
        if keep:
            self.on_response_complete()  # counts it and arms the keep-alive timer, as after any response
        else:
            self.transport.close()

    def _await_head(self) -> None:
        self._waiting[self] = None
        self._head_timer = self._timer(self.head_timeout, self._close_waiting)

    def _timer(self, seconds: float, then: Callable[[], None]) -> asyncio.TimerHandle:
        """``then()`` after ``seconds``, unless the loop was too busy to read the socket meanwhile.

        uvloop runs due timers before it polls sockets, so after a stall the deadline would fire even
        though the client's bytes have arrived; a timer that fires late is given one more turn instead.
        """
        due = self.loop.time() + seconds

        def fire() -> None:
            if self.loop.time() - due > _LATE:
                self._set_timer(then, self.loop.call_later(_LATE, then))
            else:
                then()

        return self.loop.call_later(seconds, fire)

    def _set_timer(self, then: Callable[[], None], handle: asyncio.TimerHandle) -> None:
        if then == self._close_waiting:
            self._head_timer = handle
        else:
            self._body_timer = handle

    def _head_done(self) -> None:
        self._waiting.pop(self, None)
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _close_waiting(self) -> None:
        """Give up on this connection's request head: close it without an answer, as nginx does."""
        self._head_done()
        if not self.transport.is_closing():
            self.transport.close()
