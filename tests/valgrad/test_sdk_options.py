"""with_options: per-call timeouts and retries on a client (same pool) and on a remote function (same traces)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sdk_harness import make_app

import valgrad
from tests.support import SEED_ARGS, SEED_GRADIENTS, SEED_VALUE, seed

URL = "http://valgrad.test"
FAST = valgrad.Backoff(base=0.001, cap=0.002)


class Script:
    """A MockTransport handler: 503 for the first ``failures`` requests, then a healthy answer; records requests."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) <= self.failures:
            return httpx.Response(503, json={"status": 503, "code": "overloaded", "detail": "busy"})
        return httpx.Response(200, json={"status": "ok"})


def read_timeout(request: httpx.Request) -> Any:
    return request.extensions["timeout"]["read"]


def test_timeout_is_overridden_for_the_derived_client_only() -> None:
    script = Script()
    http = httpx.Client(transport=httpx.MockTransport(script), timeout=7.0)
    client = valgrad.Client(URL, http_client=http, timeout=3.0)
    client.with_options(timeout=30.0).health()
    client.health()
    client.with_options(timeout=None).health()  # None: the pool's own timeout
    client.with_options(max_retries=0).health()  # the timeout not given stays the client's
    assert [read_timeout(r) for r in script.requests] == [30.0, 3.0, 7.0, 3.0]


def test_max_retries_is_overridden_for_the_derived_client_only() -> None:
    script = Script(failures=100)
    client = valgrad.Client(URL, http_client=httpx.Client(transport=httpx.MockTransport(script)), backoff=FAST)
    with pytest.raises(valgrad.ServiceUnavailableError):
        client.with_options(max_retries=5).health()
    assert len(script.requests) == 6
    with pytest.raises(valgrad.ServiceUnavailableError):
        client.health()
    assert len(script.requests) == 6 + 3 and client.max_retries == 2


def test_negative_max_retries_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        valgrad.Client(URL).with_options(max_retries=-1)


def test_derived_client_shares_the_pool_and_leaves_it_to_its_owner() -> None:
    client = valgrad.Client(URL)
    with client.with_options(timeout=1.0, max_retries=0) as derived:
        assert derived._http is client._http and derived.base_url == client.base_url
    assert not client._http.is_closed  # closing the copy left the pool open
    client.close()
    assert client._http.is_closed


def test_async_with_options_shares_the_pool_and_overrides() -> None:
    script = Script(failures=1)

    async def main() -> tuple[bool, bool]:
        async with valgrad.AsyncClient(URL, http_client=httpx.AsyncClient(transport=httpx.MockTransport(script)),
                                       backoff=FAST) as client:
            derived = client.with_options(timeout=9.0, max_retries=0)
            with pytest.raises(valgrad.ServiceUnavailableError):
                await derived.health()
            assert await derived.health() == valgrad.Health("ok")
            await derived.aclose()
            return derived._http is client._http, client._http.is_closed

    shared, closed = asyncio.run(main())
    assert shared and not closed
    assert [read_timeout(r) for r in script.requests] == [9.0, 9.0]


def paths(http: httpx.Client) -> list[tuple[str, str, Any]]:
    log: list[tuple[str, str, Any]] = []
    http.event_hooks["request"].append(lambda r: log.append((r.method, r.url.path, read_timeout(r))))
    return log


def test_remote_function_with_options_keeps_its_registration(testclient: httpx.Client) -> None:
    log = paths(testclient)
    client = valgrad.Client("http://testserver", http_client=testclient, timeout=5.0)
    g = client.value_and_gradients_function(seed)
    slow = g.with_options(timeout=300.0)
    value, grads = g(*SEED_ARGS)
    assert value.numpy() == SEED_VALUE and [d.numpy() for d in grads] == SEED_GRADIENTS
    value, grads = slow(*SEED_ARGS)
    assert value.numpy() == SEED_VALUE and [d.numpy() for d in grads] == SEED_GRADIENTS
    assert [(method, path == "/v1/functions", timeout) for method, path, timeout in log] == [
        ("POST", True, 5.0), ("POST", False, 5.0), ("POST", False, 300.0)]  # registered once, then by id


def test_gradients_function_with_options_still_gives_only_gradients(testclient: httpx.Client) -> None:
    g = valgrad.Client("http://testserver", http_client=testclient).gradients_function(seed, params=[1])
    (dy,) = g.with_options(max_retries=0)(*SEED_ARGS)
    assert dy.numpy() == SEED_GRADIENTS[1]
    batch = g.with_options(timeout=60.0).batch([tuple(SEED_ARGS), (1.0, 1.0)])
    assert [d[0].numpy() for d in batch] == [SEED_GRADIENTS[1], -1.0]


def test_async_remote_function_with_options() -> None:
    async def main() -> Any:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app())) as http:
            g = valgrad.AsyncClient("http://testserver", http_client=http).gradients_function(seed)
            return await g.with_options(timeout=60.0, max_retries=1)(*SEED_ARGS)

    assert [d.numpy() for d in asyncio.run(main())] == SEED_GRADIENTS
