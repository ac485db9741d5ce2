"""POST /v1/value-and-gradients: TF's contract over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from app_support import TestClient, assert_problem

from app.openapi import EXAMPLES
from tests.support import SEED, SEED_ANSWER, SEED_ARGS, SEED_GRADIENTS, SEED_GRAPH, SEED_VALUE

URL = "/v1/value-and-gradients"
X, Y = SEED_ARGS
DX, DY = SEED_GRADIENTS


@pytest.mark.parametrize(("params", "gradients", "names"), [
    (None, [DX, DY], ["x", "y"]),
    (["x", "y"], [DX, DY], ["x", "y"]),
    ([1], [DY], ["y"]),
    (["y"], [DY], ["y"]),
    ("y", [DY], ["y"]),
    (-1, [DY], ["y"]),
    ([], [], []),
    (["x", "x"], [DX, DX], ["x", "x"]),
])
def test_seed_returns_value_and_requested_gradients(client: TestClient, params: Any, gradients: list[float],
                                                    names: list[str]) -> None:
    body: dict[str, Any] = {"function": SEED, "args": SEED_ARGS}
    if params is not None:
        body["params"] = params
    r = client.post(URL, json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"value": SEED_VALUE, "gradients": gradients, "params": names}


def test_mixed_params_is_tf_error_message(client: TestClient) -> None:
    r = client.post(URL, json={"function": SEED, "args": SEED_ARGS, "params": [0, "y"]})
    body = assert_problem(r, 422, "invalid_params")
    assert body["detail"] == "params must be all strings or all integers; got [0, 'y']."


@pytest.mark.parametrize(("params", "pointer"), [(["z"], "/params/0"), ([2], "/params/0"), ([1.0], None)])
def test_bad_params_are_422_naming_the_parameter(client: TestClient, params: Any, pointer: str | None) -> None:
    r = client.post(URL, json={"function": SEED, "args": SEED_ARGS, "params": params})
    body = assert_problem(r, 422, "invalid_params", pointer)
    assert "x" in body["detail"] or "1.0" in body["detail"]


def test_args_by_name_match_args_by_position(client: TestClient) -> None:
    by_name = client.post(URL, json={"function": SEED, "args": {"y": Y, "x": X}}).json()
    assert by_name == client.post(URL, json={"function": SEED, "args": SEED_ARGS}).json()


def test_dy_weights_gradients_not_value(client: TestClient) -> None:
    r = client.post(URL, json={"function": SEED, "args": SEED_ARGS, "dy": 2}).json()
    assert r == {"value": SEED_VALUE, "gradients": [2 * DX, 2 * DY], "params": ["x", "y"]}


def test_list_output_takes_one_dy_per_output(client: TestClient) -> None:
    f = {"inputs": ["x"], "expression": ["x * x", "3 * x"]}
    r = client.post(URL, json={"function": f, "args": [[1.0, 2.0]], "dy": [[1.0, 1.0], 2.0]})
    assert r.json() == {"value": [[1.0, 4.0], [3.0, 6.0]], "gradients": [[8.0, 10.0]], "params": ["x"]}


@pytest.mark.parametrize(("mode", "gradient"), [("none", None), ("zero", [0.0, 0.0])])
def test_unconnected_gradients_are_null_or_zero(client: TestClient, mode: str, gradient: Any) -> None:
    f = {"inputs": ["x", "y"], "expression": "2 * x"}
    r = client.post(URL, json={"function": f, "args": [1.0, [5.0, 6.0]], "unconnected_gradients": mode})
    assert r.json()["gradients"] == [2.0, gradient]


def test_graph_and_expression_forms_agree(client: TestClient) -> None:
    r = client.post(URL, json={"function": SEED_GRAPH, "args": SEED_ARGS})
    assert r.json() == SEED_ANSWER


def test_gradients_have_argument_shapes(client: TestClient) -> None:
    f = {"inputs": ["w", "x"], "expression": "sum(tanh(x @ w))"}
    r = client.post(URL, json={"function": f, "args": [[[0.1], [0.2]], [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]]})
    dw, dx = r.json()["gradients"]
    assert len(dw) == 2 and len(dw[0]) == 1
    assert len(dx) == 3 and len(dx[0]) == 2


def test_float32_arguments_stay_float32(client: TestClient) -> None:
    f = {"inputs": ["x"], "expression": "x * 3"}
    arg = {"dtype": "float32", "shape": [], "data": "AADAPw=="}  # 1.5f
    r = client.post(URL, json={"function": f, "args": [arg]}).json()
    assert r["value"]["dtype"] == "float32" and r["gradients"][0]["dtype"] == "float32"


@pytest.mark.parametrize("name", ["seed", "params_by_name", "graph", "base64"])
def test_documented_request_examples_run(client: TestClient, name: str) -> None:
    r = client.post(URL, json=EXAMPLES[name]["value"])
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("request_name", "response_name"), [
    ("seed", "seed_response"), ("base64", "base64_response")])
def test_documented_response_examples_are_real(client: TestClient, request_name: str, response_name: str) -> None:
    assert client.post(URL, json=EXAMPLES[request_name]["value"]).json() == EXAMPLES[response_name]["value"]
