"""Whatever a client sends, the answer is a 2xx or a 4xx problem: never a 500, never invalid JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from app_support import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXPRESSIONS = ["x * y", "sum(x) + y", "x @ y", "log(x) - exp(y)", "where(x > y, x, y)", "reshape(x, shape=[-1])",
               "x[0]", "maximum(x, y) / y", "mean(x, axis=0, keepdims=True) * y", "sqrt(abs(x)) ** y",
               "concatenate([x, y], axis=0)", "x", "tanh(x) * sigmoid(y)", "x +", "q * x", "sum(x, axis=9)"]
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.text(max_size=8),
                      st.floats(allow_nan=False, allow_infinity=False),
                      st.sampled_from(["NaN", "Infinity", "-Infinity"]))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                          max_leaves=12)
numbers = st.floats(-1e3, 1e3, allow_nan=False)
tensor = st.one_of(numbers, st.lists(numbers, min_size=0, max_size=4),
                   st.lists(st.lists(numbers, min_size=2, max_size=2), min_size=1, max_size=3), json_value)
envelope = st.fixed_dictionaries(
    {"function": st.one_of(st.builds(lambda e: {"inputs": ["x", "y"], "expression": e}, st.sampled_from(EXPRESSIONS)),
                           json_value),
     "args": st.one_of(st.lists(tensor, max_size=3), st.dictionaries(st.sampled_from(["x", "y", "z"]), tensor),
                       json_value)},
    optional={"params": st.one_of(json_value, st.lists(st.sampled_from(["x", "y", 0, 1, -1, 5, "z"]), max_size=3)),
              "dy": tensor, "unconnected_gradients": st.sampled_from(["none", "zero", "all"]),
              "encoding": st.sampled_from(["list", "base64", "hex"])})

def check(response: Any) -> None:
    assert response.status_code < 500, response.text
    json.loads(response.text, parse_constant=lambda token: (_ for _ in ()).throw(AssertionError(token)))
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=envelope)
def test_random_envelopes_never_cause_a_500(client: TestClient, body: dict[str, Any]) -> None:
    check(client.post("/v1/value-and-gradients", json=body))


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=64) | st.builds(lambda v: json.dumps(v).encode(), json_value))
def test_random_bodies_never_cause_a_500(client: TestClient, body: bytes) -> None:
    for path in ("/v1/value-and-gradients", "/v1/functions", "/v1/functions/sha256:0/value-and-gradients"):
        check(client.post(path, content=body, headers={"content-type": "application/json"}))
