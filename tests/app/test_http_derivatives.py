"""Version 2's endpoints over HTTP: every kind equals the local engine, one-shot and registered, inline and in
worker processes; pricing refuses before running; batches are admitted whole and fail item by item."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from app_support import TestClient, assert_problem

import engine
from app.bodies import EXAMPLES
from engine.codec import decode_tensor, encode_tensor
from tests.support import SEED, SEED_ANSWER, SEED_ARGS, LiveServer

rng = np.random.default_rng(7)
W = rng.standard_normal((4, 3))
X3 = rng.standard_normal(3)
NET = {"inputs": ["w", "x"], "expression": "tanh(w @ x)"}
LISTED = {"inputs": ["x", "y"], "expression": ["sum(x * y)", "sin(x) * y[0]"]}
# (name, function, args, params, vectors for jvp/hvp)
CASES: list[tuple[str, dict[str, Any], list[Any], Any, Any]] = [
    ("seed", SEED, SEED_ARGS, None, [1.0, -0.5]),
    ("seed one param", SEED, SEED_ARGS, ["y"], 2.0),
    ("matrix-vector", NET, [W, X3], None, [np.ones_like(W), X3]),
    ("by index", NET, [W, X3], [1], X3[::-1].copy()),
    ("list output", LISTED, [X3, X3 + 1.0], None, [X3, np.ones(3)]),
]
KINDS = {"value-and-jvp": ("jvp", "tangents"), "value-and-jacobian": ("jacobian", None),
         "hessian": ("hessian", None), "hvp": ("hvp", "vectors")}


def _wire(x: Any) -> Any:
    return encode_tensor(np.asarray(x, dtype=np.float64), "base64") if isinstance(x, np.ndarray) else x


def _args(args: list[Any]) -> list[Any]:
    return [_wire(a) for a in args]


def _vectors(v: Any) -> Any:
    return [_wire(x) for x in v] if isinstance(v, list) else _wire(v)


def _read(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_read(x) for x in obj]
    if obj is None:
        return None
    return decode_tensor(obj, "/")


def _local(path: str, function: dict[str, Any], args: list[Any], params: Any, vectors: Any) -> Any:
    prepare: Callable[..., Any] = {"value-and-jvp": engine.prepare_jvp, "value-and-jacobian": engine.prepare_jacobian,
                                   "hessian": engine.prepare_hessian, "hvp": engine.prepare_hvp}[path]
    extra = [vectors] if KINDS[path][1] else []
    return prepare(function, args, params, *extra).run()


def _assert_close(local: Any, remote: Any) -> None:
    if isinstance(local, list | tuple):
        assert isinstance(remote, list) and len(remote) == len(local)
        for a, b in zip(local, remote, strict=True):
            _assert_close(a, b)
    elif local is None:
        assert remote is None
    else:
        assert np.shape(remote) == np.shape(local)
        np.testing.assert_allclose(remote, local, rtol=1e-12, atol=1e-12)


def _body(path: str, args: list[Any], params: Any, vectors: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"args": _args(args)}
    if params is not None:
        body["params"] = params
    field = KINDS[path][1]
    if field:
        body[field] = _vectors(vectors)
    return body


def _check_kind(c: TestClient | httpx.Client, path: str, case: tuple[str, dict[str, Any], list[Any], Any, Any]) -> None:
    _, function, args, params, vectors = case
    body = _body(path, args, params, vectors)
    one = c.post(f"/v1/{path}", json={"function": function, **body})
    assert one.status_code == 200, one.text
    fid = c.post("/v1/functions", json={"function": function}).json()["id"]
    registered = c.post(f"/v1/functions/{fid}/{path}", json=body)
    assert registered.json() == one.json()
    out = one.json()
    local = _local(path, function, args, params, vectors)
    fields = ["value", *{"value-and-jvp": ["jvp"], "value-and-jacobian": ["jacobian"],
                         "hessian": ["gradients", "hessian"], "hvp": ["gradients", "hvp"]}[path]]
    assert list(out) == [*fields, "params"]
    for name, expected in zip(fields, local, strict=True):
        _assert_close(expected, _read(out[name]))


@pytest.mark.parametrize("path", list(KINDS))
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_kind_over_http_equals_the_local_engine(client: TestClient, path: str, case: Any) -> None:
    _check_kind(client, path, case)


@pytest.mark.parametrize("path", list(KINDS))
def test_every_kind_in_a_worker_process_equals_the_local_engine(client_with: Any, path: str) -> None:
    c = client_with(inline_max_flops=0)  # nothing is tiny: every evaluation goes to a worker process
    for case in CASES[::2]:
        _check_kind(c, path, case)


def test_a_jacobian_of_1e4_by_1e4_is_refused_up_front(client: TestClient) -> None:
    x = encode_tensor(np.zeros(10_000), "base64")
    r = client.post("/v1/value-and-jacobian", json={"function": {"inputs": ["x"], "expression": "tanh(x)"},
                                                    "args": [x]})
    assert "Jacobian" in assert_problem(r, 422, "too_expensive", "/params")["detail"]


def test_bad_tangents_and_vectors_are_422s(client: TestClient) -> None:
    r = client.post("/v1/value-and-jvp", json={"function": SEED, "args": SEED_ARGS, "tangents": [1, 2, 3]})
    assert_problem(r, 422, "invalid_args", "/tangents")
    r = client.post("/v1/hvp", json={"function": SEED, "args": SEED_ARGS})
    assert_problem(r, 422, "invalid_request", "/vectors")
    r = client.post("/v1/hvp", json={"function": SEED, "args": SEED_ARGS, "vectors": [[1, 2], 0]})
    assert_problem(r, 422, "invalid_args", "/vectors/0")


@pytest.mark.parametrize("path", [*KINDS, "abstract-eval", "check-gradients", "batch/value-and-gradients"])
def test_registered_paths_answer_404_for_unknown_functions(client: TestClient, path: str) -> None:
    r = client.post(f"/v1/functions/sha256:{'ab' * 32}/{path}", json={"args": [1.0]})
    assert_problem(r, 404, "unknown_function")


def test_abstract_eval_gives_shapes_and_cost_without_data(client: TestClient) -> None:
    specs = [{"dtype": "float32", "shape": [4, 3]}, {"dtype": "float32", "shape": [3]}]
    out = client.post("/v1/abstract-eval", json={"function": NET, "args": specs, "params": ["x"]}).json()
    assert out["outputs"] == [{"dtype": "float32", "shape": [4]}]
    assert out["gradients"] == [{"dtype": "float32", "shape": [3]}] and out["params"] == ["x"]
    assert set(out["cost"]) == {"flops", "elements", "bytes"} and out["cost"]["flops"] > 0
    r = client.post("/v1/abstract-eval", json={"function": NET, "args": [{"shape": [4, 3]}, {"shape": [2]}]})
    assert_problem(r, 422, "shape_mismatch")


def test_check_gradients_reports_per_param_errors(client_with: Any) -> None:
    for c in (client_with(), client_with(inline_max_flops=0)):
        out = c.post("/v1/check-gradients", json={"function": NET, "args": _args([W, X3]), "directions": 3}).json()
        assert out["ok"] is True and out["params"] == ["w", "x"] and out["directions"] == 3
        assert len(out["max_abs_error"]) == 2 and max(out["max_rel_error"]) < 1e-5


@pytest.mark.parametrize("inline", [10_000, 0], ids=["in-thread", "in-worker"])
def test_batch_items_fail_independently_and_keep_their_order(client_with: Any, inline: int) -> None:
    c = client_with(inline_max_flops=inline)
    requests = [{"args": SEED_ARGS}, {"args": [1]}, {"args": [1, 2], "params": ["y"]}, {"args": [1, 2], "dy": [1, 2]},
                {"args": "x"}, {"args": [1, 2], "extra": 1}, {"args": [1, 2], "dy": 2.0}]
    out = c.post("/v1/batch/value-and-gradients", json={"function": SEED, "requests": requests}).json()["results"]
    assert out[0] == SEED_ANSWER
    assert out[1]["error"]["code"] == "invalid_args" and out[1]["error"]["pointer"] == "/requests/1/args"
    assert out[2] == {"value": -2.0, "gradients": [-3.0], "params": ["y"]}
    assert out[3]["error"]["code"] == "invalid_dy" and out[3]["error"]["pointer"].startswith("/requests/3/dy")
    assert out[4]["error"]["code"] == "invalid_args" and out[5]["error"]["pointer"] == "/requests/5/extra"
    assert out[6] == {"value": -2.0, "gradients": [2 * 2.0, 2 * -3.0], "params": ["x", "y"]}  # dy weights the sum


def test_a_batch_is_admitted_or_refused_whole_by_its_total_cost(client_with: Any) -> None:
    function = {"inputs": ["x"], "expression": "sum(sin(x) * x)"}
    flops = engine.abstract_eval(function, [{"shape": [100]}])["cost"]["flops"]
    c = client_with(max_flops=10 * flops)
    item = {"args": [encode_tensor(np.ones(100), "base64")]}
    ten = c.post("/v1/batch/value-and-gradients", json={"function": function, "requests": [item] * 10}).json()
    assert all("value" in r for r in ten["results"])
    eleven = c.post("/v1/batch/value-and-gradients", json={"function": function, "requests": [item] * 11})
    assert_problem(eleven, 422, "too_expensive", "/requests")


def test_an_evaluation_past_its_deadline_is_stopped(client_with: Any) -> None:
    c = client_with(eval_timeout_seconds=0.001)
    x = encode_tensor(np.ones(400), "base64")
    w = encode_tensor(np.ones((400, 400)) / 400, "base64")
    r = c.post("/v1/hessian", json={"function": {"inputs": ["w", "x"], "expression": "sum(tanh(tanh(w @ x)))"},
                                    "args": [w, x], "params": ["x"]})
    assert_problem(r, 422, "deadline_exceeded")


@pytest.mark.parametrize("name,path", [("jvp", "value-and-jvp"), ("jacobian", "value-and-jacobian"),
                                       ("hessian", "hessian"), ("hvp", "hvp"), ("abstract_eval", "abstract-eval"),
                                       ("check", "check-gradients"), ("batch", "batch/value-and-gradients")])
def test_openapi_examples_answer_200_with_the_documented_body(client: TestClient, name: str, path: str) -> None:
    operation = client.get("/openapi.json").json()["paths"][f"/v1/{path}"]["post"]
    example = operation["requestBody"]["content"]["application/json"]["examples"][name]["value"]
    assert example == EXAMPLES[name]["value"]
    r = client.post(f"/v1/{path}", json=example)
    documented = operation["responses"]["200"]["content"]["application/json"]["examples"][f"{name}_response"]
    if name == "check":  # the errors are floating-point noise; the rest is exact
        assert {k: v for k, v in r.json().items() if "error" not in k} == {
            k: v for k, v in documented["value"].items() if "error" not in k}
    else:
        assert r.json() == documented["value"]


@pytest.mark.slow
def test_every_new_path_over_uvicorn(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url, timeout=30) as http:
        for name, path in [("jvp", "value-and-jvp"), ("jacobian", "value-and-jacobian"), ("hessian", "hessian"),
                           ("hvp", "hvp"), ("abstract_eval", "abstract-eval"), ("batch", "batch/value-and-gradients")]:
            r = http.post(f"/v1/{path}", json=EXAMPLES[name]["value"])
            assert r.json() == EXAMPLES[name + "_response"]["value"], path
        _check_kind(http, "hessian", CASES[2])
