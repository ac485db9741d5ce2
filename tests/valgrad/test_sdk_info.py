"""Typed answers: ops(), health(), get_function() and register() read the service's JSON into frozen dataclasses."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httpx
import pytest
from sdk_harness import make_app

import valgrad
from tests.support import SEED, SEED_ARGS, SEED_GRADIENTS, SEED_VALUE

URL = "http://valgrad.test"
LIST_OUTPUT = {"inputs": ["x", {"name": "y", "dtype": "float32", "shape": [None, 3]}], "expression": ["x*y", "sum(y)"]}


def test_ops_is_the_services_op_set(testclient: httpx.Client) -> None:
    ops = valgrad.Client("http://testserver", http_client=testclient).ops()
    raw = testclient.get("/v1/ops").json()
    assert isinstance(ops, valgrad.OpSet) and ops.opset == raw["opset"]
    assert [op.name for op in ops] == [op["name"] for op in raw["ops"]] and len(ops) == len(raw["ops"])
    assert "tanh" in ops and "abs" in ops and "no_such_op" not in ops
    assert ops["abs"] is ops["absolute"] and ops["absolute"].aliases == ("abs",)
    total = ops["sum"]
    assert (total.opset, total.min_args, total.max_args) == (1, 1, 1)
    assert [(a.name, a.required, a.default) for a in total.attrs] == [("axis", False, None), ("keepdims", False, False)]
    assert all(isinstance(a, valgrad.AttrInfo) and a.doc for a in total.attrs)
    assert all(isinstance(op, valgrad.OpInfo) and 1 <= op.opset <= ops.opset and op.doc for op in ops)
    assert any(op.max_args is None for op in ops)  # variadic ops (concatenate, stack, einsum)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ops.opset = 0  # type: ignore[misc]


def test_health_is_typed(testclient: httpx.Client) -> None:
    assert valgrad.Client("http://testserver", http_client=testclient).health() == valgrad.Health("ok")


def test_get_function_wraps_the_canonical_graph(testclient: httpx.Client) -> None:
    client = valgrad.Client("http://testserver", http_client=testclient)
    registered = client.register(LIST_OUTPUT)
    got = client.get_function(registered.id)
    assert isinstance(got, valgrad.FunctionHandle)
    assert (got.id, got.inputs, got.outputs, got.opset) == (registered.id, ("x", "y"), ("t0", "t1"), 1)
    assert (registered.inputs, registered.outputs, registered.opset) == (got.inputs, got.outputs, got.opset)
    assert got.function == testclient.get(f"/v1/functions/{registered.id}").json()  # the raw JSON, whole
    assert got.function["inputs"][1] == {"dtype": "float32", "name": "y", "shape": [None, 3]}


def test_a_fetched_function_evaluates_by_id(testclient: httpx.Client) -> None:
    client = valgrad.Client("http://testserver", http_client=testclient)
    handle = client.get_function(client.register(SEED).id)
    assert isinstance(handle.outputs, str)  # one output, not a list
    value, (dy,) = client.value_and_gradients(handle, SEED_ARGS, params=["y"])
    assert value.numpy() == SEED_VALUE and dy.numpy() == SEED_GRADIENTS[1]


def test_async_client_gives_the_same_typed_answers() -> None:
    async def main() -> tuple[Any, ...]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app())) as http:
            client = valgrad.AsyncClient("http://testserver", http_client=http)
            handle = await client.register(LIST_OUTPUT)
            return await client.ops(), await client.health(), handle, await client.get_function(handle.id)

    ops, health, registered, got = asyncio.run(main())
    assert isinstance(ops, valgrad.OpSet) and "tanh" in ops and health == valgrad.Health("ok")
    assert (got.id, got.inputs, got.outputs) == (registered.id, ("x", "y"), ("t0", "t1"))


FUNCTION_ID = "sha256:" + "0" * 64
GRAPH = {"version": 1, "opset": 1, "inputs": ["x"], "nodes": [], "outputs": "x"}
OP = {"name": "exp", "opset": 1, "aliases": [], "min_args": 1, "max_args": 1, "attrs": [], "doc": "e**x"}

# (call, the service's 200 answer, what the error says)
MALFORMED: list[tuple[str, Any, str]] = [
    ("health", [], "GET /healthz: / must be an object"),
    ("health", {"state": "ok"}, "GET /healthz: /status must be a string, it is missing"),
    ("health", {"status": 1}, "GET /healthz: /status must be a string, got 1"),
    ("ops", {"ops": []}, "GET /v1/ops: /opset must be an integer, it is missing"),
    ("ops", {"opset": "2", "ops": []}, "GET /v1/ops: /opset must be an integer, got '2'"),
    ("ops", {"opset": 2, "ops": {}}, "GET /v1/ops: /ops must be a list, got {}"),
    ("ops", {"opset": 2, "ops": ["exp"]}, "GET /v1/ops: /ops/0 must be an object, got 'exp'"),
    ("ops", {"opset": 2, "ops": [{**OP, "min_args": True}]}, "/ops/0/min_args must be an integer, got True"),
    ("ops", {"opset": 2, "ops": [{**OP, "aliases": [1]}]}, "/ops/0/aliases must be a list of strings"),
    ("ops", {"opset": 2, "ops": [{**OP, "attrs": [{"name": "axis"}]}]},
     "/ops/0/attrs/0/required must be a boolean, it is missing"),
    ("ops", {"opset": 2, "ops": [{k: v for k, v in OP.items() if k != "max_args"}]},
     "/ops/0/max_args must be an integer, it is missing"),
    ("get_function", {**GRAPH, "outputs": 3}, f"GET /v1/functions/{FUNCTION_ID}: /outputs must be a list of strings"),
    ("get_function", {**GRAPH, "inputs": [{"dtype": "float64"}]}, "/inputs/0/name must be a string, it is missing"),
    ("get_function", {k: v for k, v in GRAPH.items() if k != "nodes"}, "/nodes must be a list of nodes, it is missing"),
    ("register", {"inputs": ["x"], "outputs": "x", "opset": 1}, "POST /v1/functions: /id must be a string"),
]


@pytest.mark.parametrize(("call", "answer", "message"), MALFORMED, ids=[m[2] for m in MALFORMED])
def test_an_answer_of_the_wrong_shape_is_a_response_error_naming_the_field(call: str, answer: Any,
                                                                          message: str) -> None:
    client = valgrad.Client(URL, http_client=httpx.Client(
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=answer))))
    args = {"health": (), "ops": (), "get_function": (FUNCTION_ID,), "register": (GRAPH,)}[call]
    with pytest.raises(valgrad.APIResponseError, match="unexpected answer to ") as info:
        getattr(client, call)(*args)
    assert message in str(info.value)


def test_unknown_fields_are_ignored() -> None:
    answer = {"opset": 3, "ops": [{**OP, "cost": "cheap"}], "generated": "now"}
    client = valgrad.Client(URL, http_client=httpx.Client(
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=answer))))
    assert client.ops() == valgrad.OpSet(3, (valgrad.OpInfo("exp", 1, (), 1, 1, (), "e**x"),))
