"""Retries: which failures are retried, how often, how long between tries, and Retry-After."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import valgrad
from tests.support import time_budget
from valgrad._base import Backoff, parse_retry_after

URL = "http://valgrad.test"
FAST = Backoff(base=0.001, cap=0.002)
OK = {"status": "ok"}
HEALTHY = valgrad.Health("ok")


def scripted(*outcomes: Any) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    """A handler that answers (or raises) each outcome in turn; the last one repeats."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        outcome = outcomes[min(len(seen), len(outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        if isinstance(outcome, int):
            return httpx.Response(outcome, json={"status": outcome, "code": f"c{outcome}", "detail": "d"})
        return outcome if isinstance(outcome, httpx.Response) else httpx.Response(200, json=outcome)

    return handler, seen


def client_for(handler: Any, **kwargs: Any) -> valgrad.Client:
    kwargs.setdefault("backoff", FAST)
    return valgrad.Client(URL, http_client=httpx.Client(transport=httpx.MockTransport(handler)), **kwargs)


@pytest.mark.parametrize("failure", [
    408, 429, 500, 502, 503, 504,
    httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("eof"),
])
def test_transient_failure_is_retried_then_succeeds(failure: Any) -> None:
    handler, seen = scripted(failure, failure, OK)
    assert client_for(handler).health() == HEALTHY
    assert len(seen) == 3


@pytest.mark.parametrize("status", [400, 401, 404, 413, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    handler, seen = scripted(status, OK)
    with pytest.raises(valgrad.APIStatusError):
        client_for(handler).health()
    assert len(seen) == 1


@pytest.mark.parametrize(("max_retries", "cls", "failure"), [
    (0, valgrad.ServiceUnavailableError, 503),
    (2, valgrad.RateLimitError, 429),
    (5, valgrad.InternalServerError, 500),
    (1, valgrad.APIConnectionError, httpx.ConnectError("refused")),
    (3, valgrad.APITimeoutError, httpx.ConnectTimeout("slow")),
])
def test_gives_up_after_max_retries_with_the_last_error(max_retries: int, cls: type[Exception],
                                                         failure: Any) -> None:
    handler, seen = scripted(failure)
    with pytest.raises(cls):
        client_for(handler, max_retries=max_retries).health()
    assert len(seen) == max_retries + 1


def test_default_is_two_retries() -> None:
    handler, seen = scripted(503)
    with pytest.raises(valgrad.ServiceUnavailableError):
        client_for(handler).health()
    assert len(seen) == 3


def test_retry_after_seconds_is_honoured() -> None:
    handler, _ = scripted(httpx.Response(503, headers={"Retry-After": "0.3"}), OK)
    start = time.perf_counter()
    assert client_for(handler).health() == HEALTHY
    assert time.perf_counter() - start >= 0.3


def test_retry_after_zero_beats_a_long_backoff() -> None:
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "0"}), OK)
    with time_budget(5.0):  # not the 30 s backoff
        assert client_for(handler, backoff=Backoff(base=30.0, cap=30.0, jitter=0.0)).health() == HEALTHY
    assert len(seen) == 2


def test_retry_after_beyond_the_bound_is_not_retried() -> None:
    """The server asked for an hour: coming back sooner adds load, waiting hangs the caller; raise at once."""
    handler, seen = scripted(httpx.Response(503, headers={"Retry-After": "3600"}), OK)
    with pytest.raises(valgrad.ServiceUnavailableError) as info:
        client_for(handler).health()
    assert len(seen) == 1 and info.value.response is not None
    assert info.value.response.headers["retry-after"] == "3600"  # the caller decides when to come back


def test_async_client_retries_and_honours_retry_after() -> None:
    handler, seen = scripted(httpx.ConnectError("refused"), httpx.Response(503, headers={"Retry-After": "0.2"}), OK)

    async def main() -> Any:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with valgrad.AsyncClient(URL, backoff=FAST, http_client=http) as client:
            return await client.health()

    start = time.perf_counter()
    assert asyncio.run(main()) == HEALTHY
    assert time.perf_counter() - start >= 0.2 and len(seen) == 3


NOW = 1_700_000_000.0


@pytest.mark.parametrize(("value", "seconds"), [
    ("7", 7.0),
    ("0", 0.0),
    ("1.5", 1.5),
    (email.utils.formatdate(NOW + 12, usegmt=True), 12.0),
    (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),  # a date in the past: retry now
    ("-3", None),
    ("soon", None),
    ("nan", None),
    ("", None),
    (None, None),
])
def test_parse_retry_after_reads_seconds_and_http_dates(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize(("attempt", "low", "high"), [(0, 0.375, 0.5), (1, 0.75, 1.0), (2, 1.5, 2.0),
                                                      (4, 6.0, 8.0), (10, 6.0, 8.0)])
def test_backoff_is_exponential_capped_and_jittered(attempt: int, low: float, high: float) -> None:
    delays = {Backoff().delay(attempt) for _ in range(50)}
    assert all(low <= d <= high for d in delays)
    assert len(delays) > 1  # jitter spreads clients that failed together


@pytest.mark.parametrize(("header", "expected"), [("5", 5.0), ("60", 60.0), ("0", 0.0)])
def test_backoff_uses_retry_after_within_the_bound(header: str, expected: float) -> None:
    delays = {Backoff().delay(0, header) for _ in range(50)}
    assert all(expected <= d <= expected * 1.25 for d in delays)  # at least what was asked, spread a little
    assert Backoff(jitter=0.0).delay(3, header) == expected


def test_backoff_declines_retry_after_beyond_the_bound() -> None:
    assert Backoff().delay(0, "61") is None
    assert Backoff(max_retry_after=120).delay(0, "61") is not None


def test_each_retry_decision_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    handler, _ = scripted(httpx.ConnectError("refused"), 503, httpx.Response(429, headers={"Retry-After": "999"}))
    with caplog.at_level(logging.DEBUG, logger="valgrad"), pytest.raises(valgrad.RateLimitError):
        client_for(handler, max_retries=5).health()
    lines = [r.getMessage() for r in caplog.records if r.name == "valgrad"]
    assert len(lines) == 3, lines
    assert lines[0].startswith(f"GET {URL}/healthz: ConnectError: refused; retry 1 of 5 in ")
    assert lines[1].startswith(f"GET {URL}/healthz: status 503; retry 2 of 5 in ")
    assert lines[2] == f"GET {URL}/healthz: status 429; not retrying: Retry-After 999 exceeds the 60 s cap"


def test_giving_up_and_permanent_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="valgrad"):
        for status, retries in ((500, 0), (404, 3)):
            with pytest.raises(valgrad.APIStatusError):
                client_for(scripted(status)[0], max_retries=retries).health()
    assert [r.getMessage() for r in caplog.records if r.name == "valgrad"] == [
        f"GET {URL}/healthz: status 500; not retrying: 0 of 0 retries used",
        f"GET {URL}/healthz: status 404; not retrying: the status is not transient",
    ]
