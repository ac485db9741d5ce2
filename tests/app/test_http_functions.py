"""Registered functions: idempotent registration, canonical form, evaluation by id, 404 for unknown ids."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from app_support import TestClient, assert_problem

from tests.support import SEED, SEED_ARGS, SEED_GRADIENTS


def test_registration_is_201_then_200_with_same_info(client_with: Callable[..., TestClient]) -> None:
    c = client_with()
    first = c.post("/v1/functions", json={"function": SEED})
    again = c.post("/v1/functions", json={"function": SEED})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    info = first.json()
    assert info["id"].startswith("sha256:") and len(info["id"]) == 7 + 64
    assert info["inputs"] == ["x", "y"] and info["opset"] == 1 and isinstance(info["outputs"], str)


def test_equal_functions_spelled_differently_share_an_id(client: TestClient) -> None:
    graph = {"inputs": ["x", "y"], "outputs": "f", "nodes": [
        {"id": "t0", "op": "mul", "args": ["x", "x"]}, {"id": "t1", "op": "multiply", "args": ["t0", "x"]},
        {"id": "t2", "op": "mul", "args": ["t1", "y"]}, {"id": "t3", "op": "mul", "args": ["x", "y"]},
        {"id": "t4", "op": "mul", "args": ["t3", "y"]}, {"id": "f", "op": "sub", "args": ["t2", "t4"]}]}
    spaced = {"expression": "x * x * x * y - x * y * y", "inputs": ["x", "y"]}
    ids = {client.post("/v1/functions", json={"function": f}).json()["id"] for f in (SEED, spaced)}
    assert len(ids) == 1
    assert client.post("/v1/functions", json={"function": graph}).json()["id"] != ids.pop()  # node ids differ


def test_get_function_returns_canonical_form_hashing_to_id(client: TestClient) -> None:
    fid = client.post("/v1/functions", json={"function": SEED}).json()["id"]
    r = client.get(f"/v1/functions/{fid}")
    assert r.status_code == 200 and r.headers["etag"] == f'"{fid}"'
    assert "sha256:" + hashlib.sha256(r.content).hexdigest() == fid
    assert r.json()["version"] == 1 and [i["name"] for i in r.json()["inputs"]] == ["x", "y"]


def test_registered_canonical_form_registers_to_same_id(client: TestClient) -> None:
    fid = client.post("/v1/functions", json={"function": SEED}).json()["id"]
    canonical = client.get(f"/v1/functions/{fid}").json()
    assert client.post("/v1/functions", json={"function": canonical}).json()["id"] == fid


def test_registered_function_evaluates_like_one_shot(client: TestClient) -> None:
    fid = client.post("/v1/functions", json={"function": SEED}).json()["id"]
    dy = SEED_GRADIENTS[1]
    for params, grads in ((None, SEED_GRADIENTS), (["y"], [dy]), ([1], [dy])):
        body = {"args": SEED_ARGS} if params is None else {"args": SEED_ARGS, "params": params}
        r = client.post(f"/v1/functions/{fid}/value-and-gradients", json=body)
        assert r.status_code == 200 and r.json()["gradients"] == grads


def test_one_shot_function_is_cached_under_its_id(client_with: Callable[..., TestClient]) -> None:
    c = client_with()
    f = {"inputs": ["a"], "expression": "a * 7"}
    assert c.post("/v1/value-and-gradients", json={"function": f, "args": [1]}).status_code == 200
    fid = c.post("/v1/functions", json={"function": f})
    assert fid.status_code == 200  # already held: the one-shot request cached it
    assert c.post(f"/v1/functions/{fid.json()['id']}/value-and-gradients", json={"args": [2]}).json()["value"] == 14.0


def test_unknown_function_is_404_with_code(client: TestClient) -> None:
    missing = "sha256:" + "ab" * 32
    for r in (client.get(f"/v1/functions/{missing}"),
              client.post(f"/v1/functions/{missing}/value-and-gradients", json={"args": [1]})):
        body = assert_problem(r, 404, "unknown_function")
        assert "/v1/value-and-gradients" in body["detail"]


def test_registered_evaluation_rejects_a_function_field(client: TestClient) -> None:
    fid = client.post("/v1/functions", json={"function": SEED}).json()["id"]
    r = client.post(f"/v1/functions/{fid}/value-and-gradients", json={"function": SEED, "args": SEED_ARGS})
    assert_problem(r, 422, "invalid_request", "/function")


def test_register_requires_function(client: TestClient) -> None:
    assert_problem(client.post("/v1/functions", json={}), 422, "invalid_graph", "/function")
    assert_problem(client.post("/v1/functions", json={"function": SEED, "args": [1]}), 422, "invalid_request", "/args")
