"""Request-body limits: each body's size (413) and the bytes of all bodies in flight together (503).

A body is refused on its declared ``Content-Length`` before a byte is read,
and again on the bytes actually streamed (chunked uploads declare none); all
bodies in flight share a byte budget, so many large uploads at once cannot
exhaust memory before any of them is parsed.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import BodyTooLargeError, OverloadedError, problem_response

__all__ = ["BodyLimitMiddleware"]


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
