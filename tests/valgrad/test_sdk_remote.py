"""Remote functions against the real app in-process: same results as the local API, and the call flow."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from sdk_harness import AsyncRoundRobin, assert_same, make_app

import valgrad
from tests.support import SEED, SEED_ARGS, SEED_GRADIENTS, SEED_VALUE, seed

rng = np.random.default_rng(0)
A = rng.normal(size=(3, 4))
B = rng.normal(size=(4, 2))
V3 = rng.normal(size=3)
V4 = rng.normal(size=4)
P = rng.uniform(0.5, 2.0, size=(3, 4))
# As floats: with no params the local API passes arguments to f untouched (as TF does), so integers would
# give an integer value locally and a float64 one from the service, which converts every argument.
SEED_FLOATS = tuple(float(a) for a in SEED_ARGS)


# (name, f, args, options for value_and_gradients_function, dy)
CASES: list[tuple[str, Callable[..., Any], tuple[Any, ...], dict[str, Any], Any]] = [
    ("seed", seed, SEED_FLOATS, {}, None),
    ("seed params by index", seed, SEED_FLOATS, {"params": [1]}, None),
    ("seed params by name", seed, SEED_FLOATS, {"params": "x"}, None),
    ("repeated and negative params", seed, SEED_FLOATS, {"params": [-1, 0, -1]}, None),
    ("no params", seed, SEED_FLOATS, {"params": []}, None),
    ("elementwise", lambda x, y: np.sin(x) * np.exp(y) + x / (1.0 + y**2), (V3, V3[::-1].copy()), {}, None),
    ("unary math", lambda x: np.tanh(x) + np.log(x) - np.sqrt(x) * np.cos(x) + np.abs(-x), (P,), {}, None),
    ("broadcasting", lambda x, y: x * y - np.maximum(x, 0.5) / 2.0, (A, V4), {}, None),
    ("scalar with array", lambda x, y: np.exp(x * y), (0.5, V3), {}, None),
    ("sum with axis", lambda x: np.sum(x**2, axis=0), (A,), {}, None),
    ("mean keepdims", lambda x, y: np.mean(x, axis=1, keepdims=True) * y, (A, V4), {}, None),
    ("max over last axis", lambda x: np.max(x, axis=-1), (A,), {}, None),
    ("prod", lambda x: np.prod(x), (P[0],), {}, None),
    ("matmul", lambda w, x: np.sum(np.tanh(x @ w)), (B, A), {"params": ["w"]}, None),
    ("matmul both", lambda x, w: x @ w, (A, B), {}, None),
    ("basic slicing", lambda x, y: x[1:, ::2] * y[0], (A, V3), {}, None),
    ("new axis and ellipsis", lambda x, y: x[..., None] * y, (V3, V4), {}, None),
    ("integer index", lambda x: x[0] + x[-1, 1:3].sum(), (A,), {}, None),
    ("where", lambda x: np.where(x > 0, x, 0.1 * x), (A,), {}, None),
    ("captured constant", lambda x: np.sum(x @ B), (A,), {}, None),
    ("list output", lambda x, y: [x * y, np.sum(x)], (V3, V3), {}, None),
    ("list output with dy", lambda x, y: [x * y, np.sum(x)], (V3, V3), {}, [np.arange(3.0), 2.0]),
    ("list output with a None in dy", lambda x, y: [x * y, np.sum(x)], (V3, V3), {}, [None, 2.0]),
    ("one-element list", lambda x: [x * 2.0], (V3,), {}, None),
    ("tuple output", lambda x, y: (x + y, x - y), (V3, V3), {}, None),
    ("dict output", lambda x, y: {"b": x * 2.0, "a": np.sin(y)}, (V3, V4), {}, None),
    ("dict output with dy", lambda x, y: {"b": x * 2.0, "a": np.sin(y)}, (V3, V4), {}, {"a": V4, "b": 3.0}),
    ("dy on a tensor", lambda x, y: x * y, (A, V4), {}, np.ones((3, 4)) * 0.5),
    ("dy broadcast", lambda x: x * x, (A,), {}, 2.0),
    ("float32 stays float32", lambda x, y: x * y + 1.0, (A.astype(np.float32), V4.astype(np.float32)), {}, None),
    ("integer args become float64", lambda x: x * x, (np.arange(4),), {}, None),
    ("unconnected is None", lambda x, y: x * 2.0, (V3, V3), {}, None),
    ("unconnected zero", lambda x, y: x * 2.0, (V3, V3), {"unconnected_gradients": "zero"}, None),
    ("star args", lambda *xs: xs[0] * xs[1] + xs[2], (1.0, 2.0, 3.0), {}, None),
]
IDS = [c[0] for c in CASES]


def call(g: Callable[..., Any], args: tuple[Any, ...], dy: Any) -> Any:
    return g(*args) if dy is None else g(*args, dy=dy)


@pytest.mark.parametrize(("name", "f", "args", "options", "dy"), CASES, ids=IDS)
def test_remote_agrees_with_local(testclient: httpx.Client, name: str, f: Callable[..., Any],
                                  args: tuple[Any, ...], options: dict[str, Any], dy: Any) -> None:
    local = call(valgrad.value_and_gradients_function(f, **options), args, dy)
    remote = call(valgrad.Client("http://testserver", http_client=testclient)
                  .value_and_gradients_function(f, **options), args, dy)
    assert_same(local, remote)


def test_async_remote_agrees_with_local_on_every_case() -> None:
    async def main() -> list[Any]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app())) as http:
            client = valgrad.AsyncClient("http://testserver", http_client=http)
            return [await call(client.value_and_gradients_function(f, **options), args, dy)
                    for _, f, args, options, dy in CASES]

    for (_, f, args, options, dy), remote in zip(CASES, asyncio.run(main()), strict=True):
        assert_same(call(valgrad.value_and_gradients_function(f, **options), args, dy), remote)


def test_seed_example_in_process(testclient: httpx.Client) -> None:
    tfe = valgrad.Client("http://testserver", http_client=testclient)

    def f(x, y):  # type: ignore[no-untyped-def]
        return x * x * x * y - x * y * y
    f_val, (x_grad, y_grad) = tfe.value_and_gradients_function(f)(2.0, 3.0)
    assert f_val.numpy() == 6.0 and x_grad.numpy() == 27.0 and y_grad.numpy() == -4.0


def test_gradients_function_returns_only_gradients(testclient: httpx.Client) -> None:
    client = valgrad.Client("http://testserver", http_client=testclient)
    grads = client.gradients_function(seed, params=[1])(*SEED_ARGS)
    assert len(grads) == 1 and grads[0].numpy() == SEED_GRADIENTS[1]


def paths(testclient: httpx.Client) -> list[tuple[str, str, int]]:
    log: list[tuple[str, str, int]] = []
    testclient.event_hooks["response"].append(
        lambda r: log.append((r.request.method, r.request.url.path, r.status_code)))
    return log


def test_traces_and_registers_once_per_arity_then_sends_only_arguments(testclient: httpx.Client) -> None:
    log = paths(testclient)
    g = valgrad.Client("http://testserver", http_client=testclient).value_and_gradients_function(
        lambda *xs: xs[0] * xs[-1])
    for _ in range(3):
        g(2.0, 3.0)
    g(2.0, 3.0, 4.0)
    registrations = [entry for entry in log if entry[:2] == ("POST", "/v1/functions")]
    by_id = [entry for entry in log if entry[1].endswith("/value-and-gradients")]
    assert len(registrations) == 2 and len(by_id) == 4
    assert all(path.startswith("/v1/functions/") and status == 200 for _, path, status in by_id)


def test_registered_handle_evaluates_by_id(testclient: httpx.Client) -> None:
    client = valgrad.Client("http://testserver", http_client=testclient)
    handle = client.register(SEED)
    assert handle.inputs and handle.id
    value, grads = client.value_and_gradients(handle, dict(zip(SEED["inputs"], SEED_ARGS, strict=True)), params=["y"])
    assert value.numpy() == SEED_VALUE and [g.numpy() for g in grads] == [SEED_GRADIENTS[1]]
    assert client.get_function(handle.id)


def test_lower_level_calls(testclient: httpx.Client) -> None:
    client = valgrad.Client("http://testserver", http_client=testclient)
    value, grads = client.value_and_gradients(seed, SEED_ARGS, params=[0])
    assert value.numpy() == SEED_VALUE and grads[0].numpy() == SEED_GRADIENTS[0]
    value, grads = client.value_and_gradients({"inputs": ["x"], "expression": ["x*2", "x*x"]}, [3.0])
    assert isinstance(value, list) and [v.numpy() for v in value] == [6.0, 9.0] and grads[0].numpy() == 8.0
    assert client.health()
    assert "tanh" in str(client.ops())


def test_service_side_errors_surface_as_typed_errors(testclient: httpx.Client) -> None:
    client = valgrad.Client("http://testserver", http_client=testclient)
    with pytest.raises(valgrad.UnprocessableEntityError) as info:
        client.value_and_gradients({"inputs": ["x"], "expression": "x @ x"}, [np.ones(3), 1.0])
    assert isinstance(info.value, ValueError) and info.value.code and info.value.detail
    with pytest.raises(ValueError):  # shape mismatch found by the service's static checks
        client.value_and_gradients_function(lambda x, y: x @ y)(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(valgrad.NotFoundError):
        client.get_function("0" * 64)


def test_replica_without_the_function_gets_the_whole_function() -> None:
    """Strict round-robin over two in-process replicas: the first by-id call misses, then none do."""
    async def main() -> list[tuple[int, str, str, int]]:
        balancer = AsyncRoundRobin([httpx.ASGITransport(app=make_app()), httpx.ASGITransport(app=make_app())])
        async with httpx.AsyncClient(transport=balancer) as http:
            g = valgrad.AsyncClient("http://testserver", http_client=http).value_and_gradients_function(seed)
            for _ in range(6):
                value, grads = await g(*SEED_ARGS)
                assert value.numpy() == SEED_VALUE and [d.numpy() for d in grads] == SEED_GRADIENTS
        return balancer.log

    log = asyncio.run(main())
    statuses = [status for *_, status in log]
    assert statuses.count(404) == 1 and set(statuses) <= {200, 201, 404}
    # the miss taught the other replica too, so the last calls go by id to both replicas
    assert [(server, path.endswith("/value-and-gradients") and path != "/v1/value-and-gradients", status)
            for server, _, path, status in log[-4:]] == [(0, True, 200), (1, True, 200)] * 2
