"""The SDK against live uvicorn processes on 127.0.0.1: one server, two behind round-robin, restarts, asyncio."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pytest
from sdk_harness import AsyncRoundRobin, Retarget, RoundRobin, assert_same

import valgrad
from tests.support import LiveServer, seed

pytestmark = pytest.mark.slow  # every test talks to uvicorn subprocesses

FAST = valgrad.Backoff(base=0.02, cap=0.1)


def test_seed_example_runs_unchanged(live: LiveServer) -> None:
    url = live.url
    tfe = valgrad.Client(url)

    def f(x, y):  # type: ignore[no-untyped-def]
        return x * x * x * y - x * y * y

    val_grads_fn = tfe.value_and_gradients_function(f)
    x = 2.0
    y = 3.0
    f_val, (x_grad, y_grad) = val_grads_fn(x, y)
    assert f_val.numpy() == 2.0 * 2.0 * 2.0 * 3.0 - 2.0 * 3.0 * 3.0
    assert x_grad.numpy() == 3.0 * 2.0 * 2.0 * 3.0 - 3.0 * 3.0
    assert y_grad.numpy() == 2.0 * 2.0 * 2.0 - 2.0 * 2.0 * 3.0

    val_ygrad_fn = tfe.value_and_gradients_function(f, params=[1])
    f_val, (y_grad,) = val_ygrad_fn(x, y)
    assert f_val.numpy() == 2.0 * 2.0 * 2.0 * 3.0 - 2.0 * 3.0 * 3.0
    assert y_grad.numpy() == 2.0 * 2.0 * 2.0 - 2.0 * 2.0 * 3.0

    f_val, (x_grad, y_grad) = valgrad.value_and_gradients_function(f)(2.0, 3.0)
    assert f_val.numpy() == 6.0 and x_grad.numpy() == 27.0 and y_grad.numpy() == -4.0


def test_design_example_with_env_url(live: LiveServer, monkeypatch: Any) -> None:
    monkeypatch.setenv("VALGRAD_URL", live.url)
    rng = np.random.default_rng(1)
    w0, x0 = rng.normal(size=(4, 2)), rng.normal(size=(3, 4))
    with valgrad.Client() as client:
        g = client.value_and_gradients_function(lambda w, x: np.sum(np.tanh(x @ w)), params=["w"])
        value, (dw,) = g(w0, x0)
    local_value, (local_dw,) = valgrad.value_and_gradients_function(
        lambda w, x: np.sum(np.tanh(x @ w)), params=["w"])(w0, x0)
    np.testing.assert_allclose(value.numpy(), local_value.numpy(), rtol=1e-12)
    np.testing.assert_allclose(dw.numpy(), local_dw.numpy(), rtol=1e-12)


FUNCTIONS: list[tuple[Callable[..., Any], Callable[[int], tuple[Any, ...]]]] = [
    (seed, lambda i: (float(i), 3.0)),
    (lambda x, y: [np.sum(x * y, axis=0), np.tanh(y)], lambda i: (np.full((2, 3), i + 1.0), np.ones(3) * i)),
    (lambda x: {"sq": x @ x.T, "first": x[0]}, lambda i: (np.arange(6.0).reshape(2, 3) + i,)),
]


def check_against_local(f: Any, args: tuple[Any, ...], remote: Any) -> None:
    assert_same(valgrad.value_and_gradients_function(f)(*args), remote)


def test_every_call_succeeds_behind_strict_round_robin(live_pair: tuple[LiveServer, LiveServer]) -> None:
    balancer = RoundRobin([s.url for s in live_pair])
    with httpx.Client(transport=balancer) as http:
        client = valgrad.Client(live_pair[0].url, http_client=http, max_retries=0)
        for f, make_args in FUNCTIONS:
            g = client.value_and_gradients_function(f)
            for i in range(5):
                check_against_local(f, make_args(i), g(*make_args(i)))
    assert {server for server, *_ in balancer.log} == {0, 1}
    assert any(status == 404 for *_, status in balancer.log)  # misses happened and were never surfaced
    assert all(status in (200, 201, 404) for *_, status in balancer.log)


def test_async_client_under_gather_of_50_calls(live_pair: tuple[LiveServer, LiveServer]) -> None:
    f = FUNCTIONS[1][0]
    make_args = FUNCTIONS[1][1]

    balancer = AsyncRoundRobin([Retarget(s.url) for s in live_pair])

    async def main() -> list[Any]:
        async with httpx.AsyncClient(transport=balancer) as http, \
                valgrad.AsyncClient(live_pair[0].url, http_client=http, backoff=FAST) as client:
            g = client.value_and_gradients_function(f)
            return list(await asyncio.gather(*(g(*make_args(i)) for i in range(50))))

    results = asyncio.run(main())
    assert len(results) == 50
    # concurrent first calls do not all register: one registers, the others go one-shot meanwhile
    registered = [status for _, _, path, status in balancer.log if path == "/v1/functions"]
    assert len([status for status in registered if status in (200, 201)]) == 1  # 503s (load shed) are retried
    for i, remote in enumerate(results):
        check_against_local(f, make_args(i), remote)


def test_server_restarted_mid_sequence(live_pair: tuple[LiveServer, LiveServer]) -> None:
    """A restarted replica has lost its cache: the by-id call misses and the SDK resends the function."""
    server = live_pair[1]
    log: list[tuple[str, str, int]] = []
    hooks = {"response": [lambda r: log.append((r.request.method, r.request.url.path, r.status_code))]}
    f, make_args = FUNCTIONS[0]
    with httpx.Client(event_hooks=hooks) as http:
        g = valgrad.Client(server.url, http_client=http, backoff=FAST).value_and_gradients_function(f)
        for i in range(3):
            check_against_local(f, make_args(i), g(*make_args(i)))
        assert all(status in (200, 201) for *_, status in log)
        server.restart()
        del log[:]
        for i in range(3, 6):
            check_against_local(f, make_args(i), g(*make_args(i)))
    one_shot, by_id = "/v1/value-and-gradients", "/v1/functions/"
    # the miss is answered by a one-shot; the next call is sent whole too, then by id again (cached)
    assert [(path.startswith(by_id), path == one_shot, status) for _, path, status in log] == [
        (True, False, 404), (False, True, 200), (False, True, 200), (True, False, 200)]


def test_replica_down_then_back_under_round_robin(live_pair: tuple[LiveServer, LiveServer]) -> None:
    """Connection errors are retried (onto the next replica); a replica back up without the function still works."""
    down = live_pair[1]
    balancer = RoundRobin([s.url for s in live_pair])
    f, make_args = FUNCTIONS[0]
    with httpx.Client(transport=balancer) as http:
        g = valgrad.Client(live_pair[0].url, http_client=http, backoff=FAST).value_and_gradients_function(f)
        check_against_local(f, make_args(0), g(*make_args(0)))
        down.stop()
        try:
            for i in range(1, 5):
                check_against_local(f, make_args(i), g(*make_args(i)))
        finally:
            down.start()
        for i in range(5, 9):
            check_against_local(f, make_args(i), g(*make_args(i)))
    assert any(status == 0 for *_, status in balancer.log)  # refused connections happened


def test_threads_sharing_a_remote_function_register_each_signature_once(live: LiveServer) -> None:
    """16 threads start together on one remote function with 4 argument signatures: 4 registrations, right answers."""
    def f(x: Any, y: Any) -> Any:
        return np.sum(np.tanh(x) * y) - x * y

    shapes: list[tuple[Any, ...]] = [(2.0, 3.0), (np.ones(3), np.ones(3)), (np.ones((2, 3)), np.ones(3)),
                                     (np.ones(3, np.float32), np.ones(3, np.float32))]
    threads, calls = 16, 8
    start = threading.Barrier(threads)
    log: list[tuple[str, str, int]] = []
    hooks = {"response": [lambda r: log.append((r.request.method, r.request.url.path, r.status_code))]}

    def worker(t: int) -> list[tuple[tuple[Any, ...], Any]]:
        start.wait()
        out = []
        for c in range(calls):
            x, y = shapes[(t + c) % len(shapes)]
            args = (x * (t + 1) / 7.0, y - c / 3.0)
            out.append((args, g(*args)))
        return out

    with httpx.Client(event_hooks=hooks) as http:
        g = valgrad.Client(live.url, http_client=http, backoff=FAST, max_retries=5).value_and_gradients_function(f)
        with ThreadPoolExecutor(threads) as pool:
            results = [r for rs in pool.map(worker, range(threads)) for r in rs]
    assert len(results) == threads * calls
    for args, remote in results:
        check_against_local(f, args, remote)
    registered = [status for method, path, status in log if (method, path) == ("POST", "/v1/functions")]
    assert len([s for s in registered if s in (200, 201)]) == len(shapes)  # 503s (load shed) are retried
    ids = {path.split("/")[3] for _, path, status in log if path.startswith("/v1/functions/") and status == 200}
    assert len(ids) == len(shapes)  # each signature called by its own id
    assert {status for *_, status in log} <= {200, 201, 503}
