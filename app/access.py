"""Request ids, JSON access logs, request metrics, and the last-resort 500 — one pure ASGI middleware.

It sits outside everything else, so it sees the final status of every
request (413s from the body limit and 500s included). ``X-Request-ID`` is
accepted when it looks like an id (RFC 9110 token characters, at most 128)
and generated otherwise; it is echoed on every response and put in every log
line. An exception nothing else handled becomes a 500 problem here, after the
traceback is logged, so the client still gets JSON and its request id.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import logging.config
import re
import secrets
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import problem_response
from app.metrics import Metrics

__all__ = ["REQUEST_ID", "AccessMiddleware", "JSONFormatter", "configure_logging", "log_config"]

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_ID_PATTERN = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
access_log = logging.getLogger("valgrad.access")
error_log = logging.getLogger("valgrad.errors")


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and any ``extra`` fields."""

    # uvicorn adds color_message (the message with ANSI colours): not for JSON logs.
    _RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime",
                                                                                    "color_message"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": REQUEST_ID.get(),
        }
        out.update({k: v for k, v in vars(record).items() if k not in self._RESERVED and not k.startswith("_")})
        if record.exc_info:
            out["traceback"] = self.formatException(record.exc_info)
        line: bytes = orjson.dumps(out, default=str)
        return line.decode()


JSONFormatter.converter = time.gmtime


def log_config(level: str) -> dict[str, Any]:
    """logging.dictConfig for JSON lines on stderr, uvicorn's own loggers included."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "app.access.JSONFormatter"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "valgrad": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "propagate": False},  # the app writes its own access log
        },
    }


def configure_logging(level: str) -> None:
    """JSON logs on stderr, unless the host already routes the ``valgrad`` logger somewhere.

    Called where the app is built, so any ASGI server (``uvicorn app.main:app``, gunicorn) gets access
    lines with request ids. A handler on ``valgrad`` or an ancestor (``valgrad serve``'s config, a host's
    root handler, pytest's capture) means someone chose already: leave it alone.
    """
    if not logging.getLogger("valgrad").hasHandlers():
        logging.config.dictConfig(log_config(level))


_ID_PREFIX = secrets.token_hex(8)  # per process: ids stay unique across workers and restarts
_ID_COUNTER = itertools.count(1)


def _request_id(scope: Scope) -> str:
    """The client's ``X-Request-ID`` when it looks like an id; else this process's prefix and a counter.

    A counter rather than ``uuid4``: that reads the OS's random source on every request, a syscall
    that showed up in profiles of the seed request.
    """
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1")
            if _ID_PATTERN.fullmatch(text):
                return text
            break
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


class AccessMiddleware:
    """Tag, time, count and log each HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics, log_requests: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        token = REQUEST_ID.set(rid)
        start = time.perf_counter()
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            error_log.error("unhandled error serving %s", scope.get("path"), exc_info=exc)
            if started:
                raise
            response = problem_response("internal_error", "the server failed to handle this request; the error "
                                        "was logged (quote the X-Request-ID header when reporting it)")
            await response(scope, receive, send_with_id)
        finally:
            self._record(scope, rid, status, time.perf_counter() - start)
            REQUEST_ID.reset(token)

    def _record(self, scope: Scope, rid: str, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"  # templates keep label cardinality low
        method = scope["method"]
        self.metrics.count_request(method, route, status, seconds)
        if self.log_requests and access_log.isEnabledFor(logging.INFO):
            client = scope.get("client")
            access_log.info("request", extra={
                "request_id": rid, "method": method, "path": scope["path"], "route": route, "status": status,
                "duration_ms": round(seconds * 1000, 3), "client": client[0] if client else None})
