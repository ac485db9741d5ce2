"""Version 2 in the SDK: every kind equals the local API, traces per signature and closure, nests, batches."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from sdk_harness import AsyncRoundRobin, assert_same, make_app

import valgrad
from tests.support import ROOT, SEED_ARGS, LiveServer, seed

rng = np.random.default_rng(3)
A = rng.standard_normal((3, 4))
V4 = rng.standard_normal(4)
V3 = rng.standard_normal(3)


# (name, f, args, params, vectors: one per param)
CASES: list[tuple[str, Callable[..., Any], tuple[Any, ...], Any, Any]] = [
    ("seed", seed, tuple(SEED_ARGS), None, [1.0, -0.5]),
    ("seed by name", seed, tuple(SEED_ARGS), ["y"], 2.0),
    ("matrix-vector", lambda w, x: np.tanh(w @ x), (A, V4), None, [np.ones_like(A), V4]),
    ("one param of two", lambda w, x: np.sum(np.sin(w @ x) * x.shape[0]), (A, V4), [1], V4[::-1].copy()),
    ("tuple output", lambda x, y: (np.sum(x * y), np.sin(x) * y[0]), (V3, V3 + 1.0), None, [V3, np.ones(3)]),
    ("dict output", lambda x: {"a": x * 2.0, "b": np.sum(np.exp(x))}, (V3,), None, V3),
    ("float32", lambda x: np.sum(np.tanh(x) ** 2), (V3.astype(np.float32),), None, np.ones(3, np.float32)),
]
KINDS = ["value_and_jvp_function", "value_and_jacobian_function", "hessian_function", "hvp_function"]
_VECTOR = {"value_and_jvp_function": "tangents", "hvp_function": "vectors"}


@pytest.fixture
def client(testclient: httpx.Client) -> valgrad.Client:
    return valgrad.Client("http://testserver", http_client=testclient, max_retries=0)


def _call(g: Callable[..., Any], kind: str, args: tuple[Any, ...], vectors: Any) -> Any:
    return g(*args, **({_VECTOR[kind]: vectors} if kind in _VECTOR else {}))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_kind_through_the_client_equals_the_local_function(client: valgrad.Client, kind: str,
                                                                 case: Any) -> None:
    _, f, args, params, vectors = case
    local = _call(getattr(valgrad, kind)(f, params), kind, args, vectors)
    remote = _call(getattr(client, kind)(f, params), kind, args, vectors)
    assert_same(local, remote)


def test_unconnected_blocks_are_none_or_zeros_as_locally(client: valgrad.Client) -> None:
    f = lambda x, y: np.sum(x * x)
    for unconnected in ("none", "zero"):
        for kind in KINDS:
            local = _call(getattr(valgrad, kind)(f, None, unconnected), kind, (V3, V3), [V3, V3])
            remote = _call(getattr(client, kind)(f, None, unconnected), kind, (V3, V3), [V3, V3])
            assert_same(local, remote)


def test_local_argument_errors_are_raised_before_any_request(client: valgrad.Client) -> None:
    with pytest.raises(TypeError, match="tangents="):
        client.value_and_jvp_function(seed)(*SEED_ARGS)
    with pytest.raises(ValueError, match="one array per param"):
        client.hvp_function(seed)(*SEED_ARGS, vectors=[1.0, 2.0, 3.0])


def test_async_client_has_every_kind(testclient: httpx.Client) -> None:
    async def run() -> None:
        transport = httpx.ASGITransport(app=make_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            client = valgrad.AsyncClient("http://testserver", http_client=http)
            for kind in KINDS:
                _, f, args, params, vectors = CASES[2]
                assert_same(_call(getattr(valgrad, kind)(f, params), kind, args, vectors),
                            await _call(getattr(client, kind)(f, params), kind, args, vectors))
            g = client.value_and_gradients_function(seed)
            assert_same(await g.batch([tuple(SEED_ARGS), (1.0, 2.0)]),
                        [valgrad.value_and_gradients_function(seed)(*SEED_ARGS),
                         valgrad.value_and_gradients_function(seed)(1.0, 2.0)])

    asyncio.run(run())


def test_a_replica_that_lacks_the_function_gets_it_one_shot() -> None:
    async def run() -> list[tuple[int, str, str, int]]:
        balancer = AsyncRoundRobin([httpx.ASGITransport(app=make_app()), httpx.ASGITransport(app=make_app())])
        async with httpx.AsyncClient(transport=balancer, base_url="http://testserver") as http:
            client = valgrad.AsyncClient("http://testserver", http_client=http)
            f = CASES[2][1]
            h = client.hessian_function(f)
            for _ in range(3):
                assert_same(valgrad.hessian_function(f)(A, V4), await h(A, V4))
            f2 = lambda w, x: np.sum(np.cos(w @ x))
            g = client.value_and_gradients_function(f2)
            for _ in range(3):
                assert_same([valgrad.value_and_gradients_function(f2)(A, V4)] * 2, await g.batch([(A, V4)] * 2))
        return balancer.log

    log = asyncio.run(run())
    statuses = [(path.rsplit("/", 1)[-1], status) for _, _, path, status in log]
    assert ("hessian", 404) in statuses and ("hessian", 200) in statuses
    assert any(path == "/v1/hessian" for _, _, path, _ in log)  # the one-shot fallback
    batch = [(path, status) for _, _, path, status in log if path.endswith("batch/value-and-gradients")]
    assert any(status == 404 for _, status in batch) and ("/v1/batch/value-and-gradients", 200) in batch


def test_traces_once_per_signature_so_shapes_work_in_traced_code(client: valgrad.Client) -> None:
    traces: dict[int, Any] = {}  # dicts are not fingerprinted (a list of numbers would be, and retrace)

    def f(x: Any) -> Any:
        traces[len(traces)] = x.shape
        return np.sum(x * len(x)) + x.size * x.ndim

    g = client.value_and_gradients_function(f)
    for x in (np.ones(3), np.ones(4), np.ones(3), np.ones((2, 2)), np.ones(3, np.float32)):
        assert_same(valgrad.value_and_gradients_function(f)(x), g(x))
    assert len(traces) == 5 + 4  # local calls trace every time; remote ones once per new shape or dtype


def test_a_changed_global_or_closure_retraces_never_a_stale_value(client: valgrad.Client) -> None:
    traces: dict[int, int] = {}
    scale = np.array([1.0, 2.0, 3.0])
    offset = [0.5]

    def f(x: Any) -> Any:
        traces[len(traces)] = 1
        return np.sum(scale * x + GLOBAL_WEIGHTS) * offset[0]

    g = client.value_and_gradients_function(f)
    x = np.ones(3)
    for change in (None, "cell", "global", None, "list"):
        if change == "cell":
            scale[0] = 10.0
        elif change == "global":
            GLOBAL_WEIGHTS[1] = -4.0
        elif change == "list":
            offset[0] = 2.0
        assert_same(valgrad.value_and_gradients_function(f)(x), g(x))
    assert len(traces) == 5 + 4  # five local traces, four remote ones (the unchanged call reuses its trace)


GLOBAL_WEIGHTS = np.zeros(3)


def test_a_remote_function_inside_a_traced_one_traces_through(client: valgrad.Client) -> None:
    f = lambda x: np.sum(np.sin(x) * x)
    second = client.gradients_function(lambda x: client.gradients_function(f)(x)[0])
    local = valgrad.gradients_function(lambda x: valgrad.gradients_function(f)(x)[0])
    assert_same(local(V3), second(V3))
    hessian_of_remote_gradient = client.hessian_function(lambda x: np.sum(client.gradients_function(f)(x)[0] ** 2))
    assert_same(valgrad.hessian_function(lambda x: np.sum(valgrad.gradients_function(f)(x)[0] ** 2))(V3),
                hessian_of_remote_gradient(V3))
    # nesting inside the local API too: the remote function runs on the local tape
    assert_same(local(V3), valgrad.gradients_function(lambda x: client.gradients_function(f)(x)[0])(V3))


def test_batch_returns_results_in_order_chunked_and_errors_in_place(testclient: httpx.Client) -> None:
    sent: list[str] = []
    original = testclient.send

    def counting(request: httpx.Request, **kw: Any) -> httpx.Response:
        sent.append(request.url.path)
        return original(request, **kw)

    testclient.send = counting  # type: ignore[method-assign]
    client = valgrad.Client("http://testserver", http_client=testclient, max_retries=0)
    g = client.value_and_gradients_function(seed)
    calls = [(float(i), 2.0) for i in range(7)] + [(np.ones(2), 3.0)]
    results = g.batch(calls, max_items=3)
    assert_same([valgrad.value_and_gradients_function(seed)(*c) for c in calls], results)
    assert sum(p.endswith("batch/value-and-gradients") for p in sent) == 3 + 1  # 7 scalars in 3s, one vector
    grads = client.gradients_function(seed).batch([(1.0, 2.0)])
    assert_same([valgrad.gradients_function(seed)(1.0, 2.0)], grads)
    bad = client.value_and_gradients_function(lambda x: np.sum(x[:, 0]))
    out = bad.batch([(np.ones((2, 2)),), (np.ones(2),), (np.ones((3, 1)),)], return_exceptions=True)
    assert isinstance(out[1], valgrad.EngineError) and "does not fit shape [2]" in str(out[1])  # traced here
    assert_same(valgrad.value_and_gradients_function(lambda x: np.sum(x[:, 0]))(np.ones((3, 1))), out[2])
    with pytest.raises(valgrad.EngineError):
        bad.batch([(np.ones((2, 2)),), (np.ones(2),)])
    mismatched = client.value_and_gradients_function(seed).batch([(np.ones(2), np.ones(3))], return_exceptions=True)
    assert isinstance(mismatched[0], valgrad.EngineError) and "broadcast" in str(mismatched[0])


def test_batch_splits_a_chunk_the_service_refuses_as_too_expensive() -> None:
    from fastapi.testclient import TestClient

    import engine
    from app.main import create_app
    from app.settings import Settings

    f = lambda x: np.sum(np.sin(x) * x)
    flops = engine.abstract_eval({"inputs": ["x"], "expression": "sum(sin(x) * x)"}, [{"shape": [50]}])["cost"]
    with TestClient(create_app(Settings(max_flops=4 * flops["flops"], access_log=False)),
                    base_url="http://testserver") as http:
        client = valgrad.Client("http://testserver", http_client=http, max_retries=0)
        calls = [(np.full(50, i / 10),) for i in range(10)]
        assert_same([valgrad.value_and_gradients_function(f)(*c) for c in calls],
                    client.value_and_gradients_function(f).batch(calls))


@pytest.mark.slow
def test_scipy_optimize_reaches_the_local_optimum(client: valgrad.Client) -> None:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import scipy_optimize as example
    finally:
        sys.path.pop(0)
    loss, w0 = example.logistic_problem()
    for f, x0 in ((example.rosenbrock, np.full(10, -1.0)), (loss, w0)):
        for method in ("trust-ncg", "L-BFGS-B"):
            remote, local = example.solve(client, f, x0, method), example.solve(valgrad, f, x0, method)
            assert remote.success and local.success
            np.testing.assert_allclose(remote.x, local.x, atol=1e-8)
            if f is example.rosenbrock:
                np.testing.assert_allclose(remote.x, np.ones(10), atol=1e-6)


@pytest.mark.slow
def test_every_kind_over_a_live_server(live: LiveServer) -> None:
    with valgrad.Client(live.url) as client:
        for kind in KINDS:
            _, f, args, params, vectors = CASES[4]
            assert_same(_call(getattr(valgrad, kind)(f, params), kind, args, vectors),
                        _call(getattr(client, kind)(f, params), kind, args, vectors))
        g = client.value_and_gradients_function(seed)
        assert_same([valgrad.value_and_gradients_function(seed)(*SEED_ARGS)] * 2, g.batch([tuple(SEED_ARGS)] * 2))
