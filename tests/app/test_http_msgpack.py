"""MessagePack on every JSON endpoint: same schema, bin tensors, negotiation, problems in JSON, limits alike."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np
import orjson
import pytest
from app_support import TestClient, assert_problem
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import SEED, SEED_ANSWER, SEED_ARGS, SEED_GRADIENTS, SEED_VALUE

URL = "/v1/value-and-gradients"
MP = "application/msgpack"
MP_HEADERS = {"content-type": MP}
BIG = {"inputs": ["x"], "expression": "sum(tanh(x) * x)"}


def binary(x: np.ndarray) -> dict[str, Any]:
    return {"dtype": x.dtype.name, "shape": list(x.shape), "data": x.astype(x.dtype.newbyteorder("<")).tobytes()}


def unbinary(obj: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(obj["data"], np.dtype(obj["dtype"]).newbyteorder("<")).reshape(obj["shape"])


def _nest(depth: int) -> list[Any]:
    out: list[Any] = []
    for _ in range(depth):
        out = [out]
    return out


def post_mp(client: TestClient, body: Any, url: str = URL, **headers: str) -> Any:
    return client.post(url, content=msgpack.packb(body), headers={**MP_HEADERS, **headers})


def answer(r: Any) -> Any:
    assert r.status_code in (200, 201), r.text[:500]
    assert r.headers["content-type"] == MP
    return msgpack.unpackb(r.content)


def test_seed_round_trips_in_msgpack(client: TestClient) -> None:
    assert answer(post_mp(client, {"function": SEED, "args": SEED_ARGS})) == SEED_ANSWER


def test_bin_tensors_in_and_out_match_json(client: TestClient) -> None:
    rng = np.random.default_rng(0)
    w, x = rng.standard_normal((3, 2)), rng.standard_normal((4, 3)).astype(np.float32)
    fn = {"inputs": ["w", "x"], "expression": "sum(tanh(x @ w))"}
    got = answer(post_mp(client, {"function": fn, "args": [binary(w), binary(x)]}))
    ref = client.post(URL, json={"function": fn, "args": [w.tolist(), x.astype(np.float64).tolist()],
                                 "params": [0]}).json()
    assert type(got["gradients"][0]["data"]) is bytes and got["gradients"][1]["dtype"] == "float32"
    assert unbinary(got["gradients"][0]).shape == (3, 2)
    np.testing.assert_allclose(unbinary(got["gradients"][0]), ref["gradients"][0], rtol=1e-5)


def test_accept_chooses_the_response_format(client: TestClient) -> None:
    body = {"function": SEED, "args": [binary(np.array(2.0)), binary(np.array(3.0))]}
    r = post_mp(client, body, accept="application/json")
    assert r.headers["content-type"] == "application/json"
    assert r.json()["gradients"][0]["data"] == "AAAAAAAAO0A="  # base64: the args were binary
    r = client.post(URL, json={"function": SEED, "args": SEED_ARGS}, headers={"accept": MP})
    assert answer(r)["gradients"] == SEED_GRADIENTS
    r = post_mp(client, {"function": SEED, "args": SEED_ARGS}, accept="*/*")
    assert answer(r)["value"] == SEED_VALUE


def test_registered_functions_and_gets_speak_msgpack(client: TestClient) -> None:
    info = answer(post_mp(client, {"function": SEED}, url="/v1/functions"))
    fid = info["id"]
    assert info["inputs"] == ["x", "y"]
    by_id = answer(post_mp(client, {"args": SEED_ARGS}, url=f"/v1/functions/{fid}/value-and-gradients"))
    assert by_id["value"] == SEED_VALUE
    canonical = answer(client.get(f"/v1/functions/{fid}", headers={"accept": MP}))
    assert canonical == client.get(f"/v1/functions/{fid}").json()
    assert answer(client.get("/v1/ops", headers={"accept": MP}))["ops"]
    assert answer(client.get("/healthz", headers={"accept": MP})) == {"status": "ok"}


def test_problems_stay_json(client: TestClient) -> None:
    r = post_mp(client, {"args": [1.0]}, url="/v1/functions/sha256:" + "0" * 64 + "/value-and-gradients")
    assert_problem(r, 404, "unknown_function")
    assert_problem(post_mp(client, {"function": SEED, "args": [1.0]}), 422, "invalid_args")


@pytest.mark.parametrize(("name", "body", "status", "code"), [
    ("empty", b"", 400, "bad_request"),
    ("truncated", msgpack.packb({"function": SEED})[:-3], 400, "bad_request"),
    ("trailing bytes", msgpack.packb({"function": SEED, "args": [1, 2]}) + b"\x01", 400, "bad_request"),
    ("never-used byte", b"\xc1", 400, "bad_request"),
    ("bad UTF-8", b"\x81\xa2\xff\xfe\x01", 400, "bad_request"),
    ("extension type", b"\x81\xa4args\xd4\x01\x01", 400, "bad_request"),
    ("integer key", b"\x81\x01\x01", 400, "bad_request"),
    ("deeper than the unpacker", b"\x91" * 2000 + b"\xc0", 413, "json_too_deep"),
    ("deeper than the limit", msgpack.packb({"function": {"inputs": ["x"], "nodes": _nest(70), "outputs": "x"},
                                             "args": [1.0]}), 413, "json_too_deep"),
    ("not a map", msgpack.packb([1, 2]), 422, "invalid_request"),
])
def test_bad_msgpack_is_a_client_error(client: TestClient, name: str, body: bytes, status: int, code: str) -> None:
    r = client.post(URL, content=body, headers=MP_HEADERS)
    problem = assert_problem(r, status, code)
    assert "MessagePack" in problem["detail"] or status != 400


@pytest.mark.parametrize(("tensor", "pointer", "code"), [
    ({"dtype": "float64", "shape": [2], "data": b"\x00" * 15}, "/args/0/data", "invalid_args"),
    ({"dtype": "float16", "shape": [2], "data": b"\x00" * 4}, "/args/0/dtype", "invalid_args"),
    ({"dtype": "float64", "shape": [-1], "data": b""}, "/args/0/shape/0", "invalid_args"),
    ({"dtype": "float64", "shape": [1], "data": b"\x00" * 8, "x": 1}, "/args/0/x", "invalid_args"),
    ({"dtype": "float64", "shape": [2**62, 2**62, 0], "data": b""}, "/args/0/shape", "payload_too_large"),
])
def test_malformed_bin_tensors_are_pointed_at(client: TestClient, tensor: dict[str, Any], pointer: str,
                                              code: str) -> None:
    r = post_mp(client, {"function": {"inputs": ["x"], "expression": "sum(x)"}, "args": [tensor]})
    assert_problem(r, 413 if code == "payload_too_large" else 422, code, pointer)


def test_limits_apply_alike(client_with: Any) -> None:
    c = client_with(max_tensor_elements=10, max_request_elements=15, max_json_lists=3, max_body_bytes=2000)
    fn = {"inputs": ["x", "y"], "expression": "sum(x) + sum(y)"}
    big = binary(np.zeros(11))
    for post in (lambda b: post_mp(c, b), lambda b: c.post(URL, content=orjson.dumps(b, default=_b64))):
        assert_problem(post({"function": fn, "args": [big, 1.0]}), 413, "payload_too_large", "/args/0")
        assert_problem(post({"function": fn, "args": [binary(np.zeros(8)), binary(np.zeros(8))]}), 413,
                       "payload_too_large", "/args/1")
        assert_problem(post({"function": fn, "args": [[[1.0], [2.0], [3.0]], 1.0]}), 413, "payload_too_large",
                       "/args/0")
        assert_problem(post({"function": fn, "args": [binary(np.zeros(200)), 1.0]}), 413, "payload_too_large")


def _b64(obj: Any) -> Any:
    import pybase64
    return pybase64.b64encode(obj).decode()


def test_function_must_be_json_data(client: TestClient) -> None:
    for bad, pointer in [({"inputs": ["x"], "expression": b"x"}, "/function/expression"),
                         ({"inputs": ["x"], "expression": "x", "n": float("nan")}, "/function/n"),
                         ({"inputs": [b"x"], "expression": "x"}, "/function/inputs/0")]:
        assert_problem(post_mp(client, {"function": bad, "args": [1.0]}), 422, "invalid_graph", pointer)
    bin_key = b"\x82\xa8function\x82\xa6inputs\x91\xa1x\xc4\x01k\x01\xa4args\x91\x01"
    assert_problem(client.post(URL, content=bin_key, headers=MP_HEADERS), 422, "invalid_graph", "/function")


def test_binary_constants_give_the_json_id(client: TestClient) -> None:
    c = np.array([1.5, -2.0])
    graph = {"inputs": ["x"], "nodes": [{"id": "y", "op": "mul", "args": ["x", None]},
                                        {"id": "s", "op": "sum", "args": ["y"]}], "outputs": "s"}

    def with_constant(const: Any) -> dict[str, Any]:
        return {**graph, "nodes": [{**graph["nodes"][0], "args": ["x", const]}, graph["nodes"][1]]}

    mp = answer(post_mp(client, {"function": with_constant(binary(c))}, url="/v1/functions"))
    js = client.post("/v1/functions", json={"function": with_constant(c.tolist())}).json()
    assert mp["id"] == js["id"]
    got = answer(post_mp(client, {"function": with_constant(binary(c)), "args": [binary(np.ones(2))]}))
    np.testing.assert_array_equal(unbinary(got["gradients"][0]), c)


def test_list_encoding_keeps_non_finite_numbers_native(client: TestClient) -> None:
    fn = {"inputs": ["x"], "expression": "x * 1"}
    got = answer(post_mp(client, {"function": fn, "args": [[1.0, float("nan"), float("-inf")]], "encoding": "list"}))
    assert got["value"][0] == 1.0 and np.isnan(got["value"][1]) and got["value"][2] == -np.inf
    got = answer(post_mp(client, {"function": fn, "args": [binary(np.array([np.inf]))], "encoding": "list"}))
    assert got["value"] == [np.inf]


def test_args_by_name_and_dy(client: TestClient) -> None:
    fn = {"inputs": ["a", "b"], "expression": ["a * b", "a + b"]}
    body = {"function": fn, "args": {"a": binary(np.arange(3.0)), "b": 2.0}, "params": ["a"],
            "dy": [binary(np.ones(3)), 2.0]}
    got = answer(post_mp(client, body))
    np.testing.assert_array_equal(unbinary(got["gradients"][0]), [4.0, 4.0, 4.0])
    assert [unbinary(v).tolist() for v in got["value"]] == [[0.0, 2.0, 4.0], [2.0, 3.0, 4.0]]


def test_a_large_tensor_round_trips_exactly(client: TestClient) -> None:
    x = np.random.default_rng(1).standard_normal(200_000)
    got = answer(post_mp(client, {"function": {"inputs": ["x"], "expression": "x * 1"}, "args": [binary(x)]}))
    assert unbinary(got["value"]).tobytes() == x.tobytes()
    assert unbinary(got["gradients"][0]).tobytes() == np.ones_like(x).tobytes()


def test_version_2_paths_speak_msgpack_too(client: TestClient) -> None:
    fn = {"inputs": ["x"], "expression": "sum(x * x * x)"}
    got = answer(post_mp(client, {"function": fn, "args": [binary(np.array([1.0, 2.0]))]}, url="/v1/hessian"))
    np.testing.assert_array_equal(unbinary(got["hessian"][0][0]), [[6.0, 0.0], [0.0, 12.0]])


def test_openapi_documents_both_media_types(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    op = schema["paths"][URL]["post"]
    assert set(op["requestBody"]["content"]) >= {"application/json", MP}
    assert set(op["responses"]["200"]["content"]) >= {"application/json", MP}


@pytest.mark.slow  # fuzzing: `make test`
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=64), st.builds(
    lambda obj, cut: msgpack.packb(obj)[:cut], st.recursive(
        st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | st.text(max_size=5)
        | st.binary(max_size=16),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
            ["function", "args", "params", "dy", "encoding", "dtype", "shape", "data", "inputs", "expression"]),
            inner, max_size=4), max_leaves=12), st.integers(1, 200))))
def test_no_msgpack_body_is_a_server_error(client: TestClient, body: bytes) -> None:
    r = client.post(URL, content=body, headers=MP_HEADERS)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.headers["content-type"] == "application/problem+json"
