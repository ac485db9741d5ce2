"""Op set 2 over HTTP: the same answers as in-process, the same refusals, and GET /v1/ops saying which opset.

Each case is written three ways — eager Python, a text expression and the SDK's symbolic trace sent as a
JSON graph — and the HTTP answers must equal the local ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from app_support import TestClient, assert_problem

from engine import trace, value_and_gradients_function

URL = "/v1/value-and-gradients"
A = np.array([[1.0, 2.0], [3.0, 4.0]])
V = np.array([0.5, -1.5, 2.0, 3.0])

CASES: list[tuple[str, Callable[..., Any], str, list[Any]]] = [
    # name, Python function, the same as text, arguments
    ("spectral norm", lambda a: np.linalg.norm(a, ord=2), "linalg.norm(a, ord=2)", [A]),
    ("nuclear norm", lambda a: np.linalg.norm(a, ord="nuc"), "linalg.norm(a, ord='nuc')", [A]),
    ("eigenvalues", lambda a: np.sum(np.linalg.eigh(a @ a.T)[0] ** 2), "sum(linalg.eigh(a @ transpose(a))[0] ** 2)",
     [A]),
    ("slogdet", lambda a: np.linalg.slogdet(a)[1], "linalg.slogdet(a)[1]", [A]),
    ("split", lambda a: np.sum(np.split(a, 2)[1] ** 2), "sum(split(a, 2)[1] ** 2)", [V]),
    ("sort", lambda a: np.sum(np.sort(a) * np.arange(4.0)), "sum(sort(a) * [0, 1, 2, 3])", [V]),
    ("remainder and floor", lambda a: np.sum(a % 1.25 + np.floor(a)), "sum(a % 1.25 + floor(a))", [V]),
    ("hstack", lambda a: np.sum(np.hstack([a, a * a])), "sum(hstack([a, a * a]))", [V]),
    ("tensordot", lambda a: np.tensordot(a, a, axes=2), "tensordot(a, a, axes=2)", [A]),
    ("advanced index", lambda a: np.sum(a[[0, 2, 2]] ** 2), "sum(a[[0, 2, 2]] ** 2)", [V]),
    ("cumprod", lambda a: np.sum(np.cumprod(a)), "sum(cumprod(a))", [V]),
]


def _body(function: Any, args: list[Any]) -> dict[str, Any]:
    return {"function": function, "args": [np.asarray(x).tolist() for x in args]}


@pytest.mark.parametrize(("name", "f", "text", "args"), CASES, ids=[c[0] for c in CASES])
def test_http_answers_equal_local_ones(client: TestClient, name: str, f: Callable[..., Any], text: str,
                                       args: list[Any]) -> None:
    value, grads = value_and_gradients_function(f)(*args)
    for function in ({"inputs": ["a"], "expression": text}, trace(f, len(args)).graph):
        r = client.post(URL, json=_body(function, args))
        assert r.status_code == 200, r.text
        out = r.json()
        np.testing.assert_allclose(out["value"], value, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(out["gradients"][0], grads[0], rtol=1e-10, atol=1e-12)


def test_the_spectral_norm_gradient_is_the_top_singular_pair(client: TestClient) -> None:
    u, _, vh = np.linalg.svd(A)
    r = client.post(URL, json=_body({"inputs": ["a"], "expression": "linalg.norm(a, ord=2)"}, [A]))
    np.testing.assert_allclose(r.json()["gradients"][0], np.outer(u[:, 0], vh[0]), rtol=1e-10)
    _, (local,) = value_and_gradients_function(lambda a: np.linalg.norm(a, ord=2))(A)
    np.testing.assert_allclose(local, np.outer(u[:, 0], vh[0]), rtol=1e-10)


def test_an_op_set_2_op_in_an_opset_1_graph_is_refused_with_a_pointer(client: TestClient) -> None:
    graph = {"version": 1, "opset": 1, "inputs": ["x"],
             "nodes": [{"id": "s", "op": "sort", "args": ["x"]}], "outputs": "s"}
    problem = assert_problem(client.post(URL, json=_body(graph, [V])), 422, "invalid_graph", "/function/nodes/0/op")
    assert "opset 2" in problem["detail"]


def test_opset_1_functions_keep_their_ids(client: TestClient) -> None:
    seed = {"inputs": ["x", "y"], "nodes": [{"id": "a", "op": "mul", "args": ["x", "y"]}], "outputs": "a"}
    ids = {client.post("/v1/functions", json={"function": {**seed, **extra}}).json()["id"]
           for extra in ({}, {"opset": 1}, {"opset": 2})}
    assert len(ids) == 1
    assert client.post("/v1/functions", json={"function": seed}).json()["opset"] == 1


def test_ops_list_their_opset_and_gradient_rule(client: TestClient) -> None:
    ops = {op["name"]: op for op in client.get("/v1/ops").json()["ops"]}
    assert ops["add"]["opset"] == 1 and ops["sort"]["opset"] == 2 and ops["linalg.eigh"]["opset"] == 2
    assert all(op["doc"] for op in ops.values())
    assert "gradient" in ops["floor"]["doc"] or "zero" in ops["floor"]["doc"]
    assert not any(name.startswith("_") for name in ops)


@pytest.mark.parametrize(("text", "words"), [
    ("linalg.eigh(a)", "several results"),
    ("linalg.eigh(a)[2]", "out of range"),
    ("a[a > 0]", "where(x > 0, x, 0)"),
])
def test_text_refusals_say_what_to_write(client: TestClient, text: str, words: str) -> None:
    r = client.post(URL, json=_body({"inputs": ["a"], "expression": text}, [A]))
    problem = assert_problem(r, 422, r.json()["code"], "/function/expression")
    assert words in problem["detail"]


def test_a_dy_of_the_wrong_shape_is_refused(client: TestClient) -> None:
    body = {**_body({"inputs": ["a"], "expression": "a * 2"}, [V]), "dy": [1.0, 2.0]}
    assert_problem(client.post(URL, json=body), 422, "invalid_dy", "/dy")
