"""What ``Client`` and ``AsyncClient`` share: configuration, retries and every exchange, free of I/O.

Each exchange is a generator that yields effects (``Send`` a request,
``Sleep`` before a retry) and receives the ``httpx.Response`` (or has an
``APIConnectionError`` thrown in); the two clients differ only in the small
loop that performs the effects, synchronously or with ``await``. So the
retry policy, the register-then-call-by-id flow and the one-shot fallback
on a replica that lacks a function are written once.
"""

from __future__ import annotations

import copy
import email.utils
import enum
import importlib.metadata
import logging
import math
import os
import random
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx

from valgrad.errors import (
    APIConnectionError,
    APITimeoutError,
    NotFoundError,
    ValgradError,
    error_for_response,
)
from valgrad.info import FunctionHandle, Health, OpSet
from valgrad.remote import Entry, RemoteFunction, Spec, request_body, spec_of
from valgrad.wire import Body, check_encoding, headers_for, payload, serialize

__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_URL", "NOT_GIVEN", "BaseClient", "Flow", "NotGiven", "Send", "Sleep",
           "parse_retry_after"]

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
DEFAULT_URL = "http://127.0.0.1:8000"  # what `make serve` and `valgrad serve` bind
T = TypeVar("T")
log = logging.getLogger("valgrad")  # debug: each retry decision (``logging.getLogger("valgrad").setLevel("DEBUG")``)


@dataclass(frozen=True, slots=True)
class Send:
    """Perform one HTTP request; the flow receives the response."""

    method: str
    path: str
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait before retrying."""

    seconds: float


Flow = Generator[Send | Sleep, Any, T]


@dataclass(frozen=True)
class Backoff:
    """Retry delays: ``base * 2**attempt`` capped at ``cap``, up to ``jitter`` of it removed at random.

    A ``Retry-After`` header (RFC 9110 §10.2.3) replaces the computed delay; up to
    ``jitter`` of it is added at random, so clients shed together by an overloaded
    server do not all come back in the same instant. A server asking for more than
    ``max_retry_after`` seconds is not retried at all: coming back sooner than it
    asked would only add load, and waiting that long inside a call would hang the
    caller, who gets the error (and its ``response.headers["Retry-After"]``) instead.
    """

    base: float = 0.5
    cap: float = 8.0
    jitter: float = 0.25
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: str | None = None, now: float | None = None) -> float | None:
        """Seconds to wait before retry number ``attempt + 1``; None if ``retry_after`` asks for too long."""
        hinted = parse_retry_after(retry_after, now)
        if hinted is not None:
            return hinted * (1.0 + self.jitter * random.random()) if hinted <= self.max_retry_after else None
        return min(self.base * 2.0**attempt, self.cap) * (1.0 - self.jitter * random.random())


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` value: delay-seconds or an HTTP-date; None if unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)  # fractions too: some servers send them
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
        return max(seconds, 0.0) if when.tzinfo is not None else None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _retryable(status: int) -> bool:
    # Every valgrad request is idempotent (evaluation is pure, registration is keyed by content).
    return status in (408, 429) or status >= 500


def _dumps(body: Mapping[str, Any]) -> Body:
    """A request body, serialised when sent in the client's encoding (``valgrad.wire``)."""
    return Body(body)


def _version() -> str:
    try:
        return importlib.metadata.version("valgrad")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def _resolve_url(base_url: str | None) -> str:
    """``base_url``, else ``$VALGRAD_URL``, else ``DEFAULT_URL`` (where ``make serve`` listens)."""
    url = (os.environ.get("VALGRAD_URL") or DEFAULT_URL) if base_url is None else base_url
    if not url:
        raise ValgradError("empty service URL: pass base_url, set VALGRAD_URL, or pass nothing for " + DEFAULT_URL)
    if not url.startswith(("http://", "https://")):
        raise ValgradError(f"the service URL must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


class NotGiven(enum.Enum):
    """The default of an option ``with_options`` leaves as it is (None is a value: the pool's own timeout)."""

    NOT_GIVEN = enum.auto()


NOT_GIVEN = NotGiven.NOT_GIVEN


def _check_retries(max_retries: int) -> int:
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    return max_retries


class BaseClient:
    """Configuration and I/O-free flows; subclasses run flows with their httpx client."""

    _owns_http: bool  # whether ``close`` closes the connection pool (set by the subclass with the pool)

    def __init__(self, base_url: str | None, *, api_key: str | None, timeout: float | httpx.Timeout | None,
                 max_retries: int, backoff: Backoff | None, encoding: str = "msgpack") -> None:
        self.base_url = _resolve_url(base_url)
        self.api_key = api_key if api_key is not None else os.environ.get("VALGRAD_API_KEY")
        self.timeout = timeout
        self.max_retries = _check_retries(max_retries)
        self.backoff = backoff or Backoff()
        self.encoding = check_encoding(encoding)  # "msgpack" (binary tensors as bin) or "json"
        self._headers = {**headers_for(self.encoding), "User-Agent": f"valgrad-python/{_version()}"}
        if self.api_key:
            self._headers["Authorization"] = f"Bearer {self.api_key}"

    def with_options(self, *, timeout: float | httpx.Timeout | NotGiven | None = NOT_GIVEN,
                     max_retries: int | NotGiven = NOT_GIVEN) -> Self:
        """This client with ``timeout`` or ``max_retries`` overridden, as openai-python's ``with_options``.

        The copy talks to the same service through the same connection pool, which stays this
        client's to close (closing the copy leaves it open). ``g.with_options(...)`` on a remote
        function does the same and keeps its traces and registrations.
        """
        derived = copy.copy(self)
        if timeout is not NOT_GIVEN:
            derived.timeout = timeout
        if max_retries is not NOT_GIVEN:
            derived.max_retries = _check_retries(max_retries)
        derived._owns_http = False
        return derived

    # -- what the I/O loops call ----------------------------------------------------------------

    def _build(self, http: httpx.Client | httpx.AsyncClient, send: Send) -> httpx.Request:
        timeout: Any = httpx.USE_CLIENT_DEFAULT if self.timeout is None else self.timeout
        return http.build_request(send.method, self.base_url + send.path, content=send.body,
                                  headers=self._headers, timeout=timeout)

    def _connection_error(self, exc: Exception, send: Send) -> APIConnectionError:
        """An httpx failure as the SDK's error naming the URL it tried, chained so the cause stays visible."""
        cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
        url = self.base_url + send.path
        cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        err = cls(f"{send.method} {url}: {cause}", method=send.method, url=url)
        err.__cause__ = exc
        return err

    def _retry_delay(self, attempt: int, failure: str, retry_after: str | None = None) -> float | None:
        """Seconds to wait before retrying after ``failure``, or None to give up; each decision is logged."""
        if attempt >= self.max_retries:
            log.debug("%s; not retrying: %d of %d retries used", failure, attempt, self.max_retries)
            return None
        delay = self.backoff.delay(attempt, retry_after)
        if delay is None:
            log.debug("%s; not retrying: Retry-After %s exceeds the %g s cap", failure, retry_after,
                      self.backoff.max_retry_after)
        else:
            log.debug("%s; retry %d of %d in %.3f s", failure, attempt + 1, self.max_retries, delay)
        return delay

    # -- flows --------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Body | bytes | None = None) -> Flow[Any]:
        """One request with retries on connection errors, 408, 429 and 5xx; returns the decoded body."""
        attempt = 0
        content = serialize(body, self.encoding)  # once, whatever the retries
        while True:
            try:
                response: httpx.Response = yield Send(method, path, content)
            except APIConnectionError as exc:
                delay = self._retry_delay(attempt, str(exc))
                if delay is None:
                    raise
            else:
                if response.is_success:
                    return payload(response)
                failure = f"{method} {self.base_url}{path}: status {response.status_code}"
                if not _retryable(response.status_code):
                    log.debug("%s; not retrying: the status is not transient", failure)
                    raise error_for_response(response)
                delay = self._retry_delay(attempt, failure, response.headers.get("retry-after"))
                if delay is None:
                    raise error_for_response(response)
            yield Sleep(delay)
            attempt += 1

    def _health(self) -> Flow[Health]:
        return Health.from_json((yield from self._request("GET", "/healthz")))

    def _ops(self) -> Flow[OpSet]:
        return OpSet.from_json((yield from self._request("GET", "/v1/ops")))

    def _get_function(self, function_id: str) -> Flow[FunctionHandle]:
        graph = yield from self._request("GET", f"/v1/functions/{quote(function_id, safe=':')}")
        return FunctionHandle.from_graph(function_id, graph)

    def _register(self, function: Any) -> Flow[FunctionHandle]:
        graph = spec_of(function).function
        answer = yield from self._request("POST", "/v1/functions", _dumps({"function": graph}))
        return FunctionHandle.from_answer(answer, graph)

    def _evaluate(self, function_id: str | None, function: Mapping[str, Any], body: dict[str, Any],
                  path: str = "value-and-gradients") -> Flow[tuple[Any, bool]]:
        """POST ``/v1/functions/{id}/<path>``; if this replica lacks the function, ``/v1/<path>`` with it whole.

        Returns (payload, missed).
        """
        if function_id is not None:
            by_id = f"/v1/functions/{quote(function_id, safe=':')}/{path}"
            try:
                return (yield from self._request("POST", by_id, _dumps(body))), False
            except NotFoundError as e:
                if e.code != "unknown_function":
                    raise
        payload = yield from self._request("POST", f"/v1/{path}", _dumps({"function": function, **body}))
        return payload, function_id is not None

    def _value_and_gradients(self, function: Any, args: Sequence[Any] | Mapping[str, Any], params: Any,
                             dy: Any, unconnected_gradients: str) -> Flow[tuple[Any, list[Any]]]:
        spec: Spec = spec_of(function, args)
        body = request_body(spec, args, spec.positions(params, args), dy, unconnected_gradients)
        payload, _ = yield from self._evaluate(spec.function_id, spec.function, body)
        return spec.decode(payload)

    def _call(self, remote: RemoteFunction, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Flow[Any]:
        """One call of a remote function (of any kind): the result as the local function returns it."""
        entry, body = remote.prepare(args, kwargs)
        payload = yield from self._send(entry, body, remote.path)
        return remote.decode(entry.spec, payload)

    def _send(self, entry: Entry, body: dict[str, Any], path: str) -> Flow[Any]:
        """Register a traced function once, then send only arguments to ``path``; returns the payload.

        After a miss the next call is sent whole too: behind a round-robin balancer
        it lands on another replica, which learns the function, so misses die out
        instead of recurring on every call.
        """
        if entry.claim_registration():  # concurrent first calls go one-shot meanwhile, not registering again
            function_id: str | None = None
            try:
                function_id = (yield from self._register(entry.spec.function)).id
            finally:
                entry.end_registration(function_id)
        payload, missed = yield from self._evaluate(entry.route(), entry.spec.function, body, path)
        if missed:
            entry.missed()
        return payload
