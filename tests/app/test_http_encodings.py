"""Tensors on the wire: list and base64 encodings bit-exact, non-finite values both ways, 1e6 elements."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
import pybase64
import pytest
from app_support import TestClient

URL = "/v1/value-and-gradients"
TIMES_ONE = {"inputs": ["x"], "expression": "x * 1"}  # value == x and gradient == dy, both exactly
HARD = np.array([0.1, 1 / 3, -0.0, 0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1e-300,
                 123456789.12345679, 2.0**-1074 * 3, np.pi, -np.e])


def b64(x: np.ndarray) -> dict[str, Any]:
    little = x.astype(x.dtype.newbyteorder("<"))
    return {"dtype": x.dtype.name, "shape": list(x.shape), "data": pybase64.b64encode(little.tobytes()).decode()}


def from_b64(obj: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(obj["dtype"]).newbyteorder("<")
    return np.frombuffer(pybase64.b64decode(obj["data"]), dtype=dtype).reshape(obj["shape"])


def post(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post(URL, content=orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
                    headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text[:500]
    strict = json.loads(r.text, parse_constant=lambda token: pytest.fail(f"bare {token} in a response"))
    assert isinstance(strict, dict)
    return strict


def same_bits(a: Any, b: np.ndarray) -> bool:
    a = np.asarray(a, dtype=b.dtype)
    return bool(a.shape == b.shape and a.tobytes() == b.tobytes())


def test_list_encoding_round_trips_bit_exactly(client: TestClient) -> None:
    x = np.concatenate([HARD, np.random.default_rng(0).standard_normal(200) * 10.0 ** np.arange(-100, 100)])
    dy = np.random.default_rng(1).standard_normal(x.shape)
    r = post(client, {"function": TIMES_ONE, "args": [x.tolist()], "dy": dy.tolist()})
    assert same_bits(r["value"], x) and same_bits(r["gradients"][0], dy)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_base64_encoding_round_trips_bit_exactly(client: TestClient, dtype: str) -> None:
    with np.errstate(over="ignore"):  # 1.8e308 becomes inf in float32: a value worth sending too
        x = np.concatenate([HARD, np.random.default_rng(2).standard_normal(300)]).astype(dtype).reshape(4, -1)
    dy = np.random.default_rng(3).standard_normal(x.shape).astype(dtype)
    r = post(client, {"function": TIMES_ONE, "args": [b64(x)], "dy": b64(dy)})
    assert r["value"]["dtype"] == dtype and r["value"]["shape"] == [4, x.shape[1]]
    assert same_bits(from_b64(r["value"]), x) and same_bits(from_b64(r["gradients"][0]), dy)


def test_float32_in_list_encoding_round_trips(client: TestClient) -> None:
    x = np.random.default_rng(4).standard_normal(50).astype(np.float32)
    r = post(client, {"function": TIMES_ONE, "args": [b64(x)], "encoding": "list"})
    assert same_bits(np.asarray(r["value"], dtype=np.float32), x)


def test_non_finite_strings_in_both_directions(client: TestClient) -> None:
    r = post(client, {"function": TIMES_ONE, "args": [["NaN", "Infinity", "-Infinity", 1.5]],
                      "dy": [1.0, "NaN", 2.0, "-Infinity"]})
    assert r["value"][:3] == ["NaN", "Infinity", "-Infinity"] and r["value"][3] == 1.5
    assert r["gradients"][0] == [1.0, "NaN", 2.0, "-Infinity"]


def test_non_finite_results_are_strings_never_null(client: TestClient) -> None:
    f = {"inputs": ["x"], "expression": "log(x)"}
    r = post(client, {"function": f, "args": [[0.0, -1.0, 1.0]]})
    assert r["value"][0] == "-Infinity" and r["value"][1] == "NaN" and r["value"][2] == 0.0
    assert r["gradients"][0][0] == "Infinity"


def test_non_finite_values_in_base64(client: TestClient) -> None:
    x = np.array([np.nan, np.inf, -np.inf, 2.0])
    r = post(client, {"function": TIMES_ONE, "args": [b64(x)]})
    out = from_b64(r["value"])
    assert np.isnan(out[0]) and list(out[1:]) == [np.inf, -np.inf, 2.0]


@pytest.mark.parametrize(("args", "encoding", "expected"), [
    ([1.0], None, "list"),
    ([{"dtype": "float64", "shape": [], "data": "AAAAAAAA8D8="}], None, "base64"),
    ([1.0], "base64", "base64"),
    ([{"dtype": "float64", "shape": [], "data": "AAAAAAAA8D8="}], "list", "list"),
])
def test_response_encoding_follows_request(client: TestClient, args: list[Any], encoding: str | None,
                                           expected: str) -> None:
    body: dict[str, Any] = {"function": TIMES_ONE, "args": args}
    if encoding:
        body["encoding"] = encoding
    value = post(client, body)["value"]
    assert (isinstance(value, dict) and value["data"] == "AAAAAAAA8D8=") if expected == "base64" else value == 1.0


def test_any_binary_argument_selects_base64(client: TestClient) -> None:
    f = {"inputs": ["x", "y"], "expression": "x * y"}
    r = post(client, {"function": f, "args": {"x": 2.0, "y": b64(np.array([3.0]))}})
    assert same_bits(from_b64(r["value"]), np.array([6.0])) and same_bits(from_b64(r["gradients"][0]), np.array(3.0))


@pytest.mark.slow  # a million elements each way: `make test`
@pytest.mark.parametrize("encoding", ["base64", "list"])
def test_million_element_round_trip(client: TestClient, encoding: str) -> None:
    x = np.random.default_rng(5).standard_normal(10**6)
    f = {"inputs": ["x"], "expression": "x * 2"}
    arg: Any = b64(x) if encoding == "base64" else x
    r = post(client, {"function": f, "args": [arg]})
    value, grad = (from_b64(r["value"]), from_b64(r["gradients"][0])) if encoding == "base64" else (
        np.asarray(r["value"]), np.asarray(r["gradients"][0]))
    assert same_bits(value, x * 2) and value.shape == (10**6,)
    assert np.all(grad == 2.0)


EMPTY: list[Any] = [[[], []], {"dtype": "float64", "shape": [2, 0], "data": ""}]


@pytest.mark.parametrize("arg", EMPTY)
def test_empty_tensors_keep_their_shape(client: TestClient, arg: Any) -> None:
    r = post(client, {"function": TIMES_ONE, "args": [arg]})
    expected: Any = [[], []] if isinstance(arg, list) else [2, 0]
    assert (r["value"] if isinstance(arg, list) else r["value"]["shape"]) == expected
