"""Every error is an RFC 9457 problem with a stable code, the right status and, where one exists, a pointer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from app_support import TestClient, assert_problem, make_client

from app.errors import PROBLEMS
from engine.errors import LimitError, TracingError
from tests.support import SEED, SEED_ARGS

URL = "/v1/value-and-gradients"
LIMITED = dict(max_flops=10**6, max_tensor_elements=10**5, max_request_elements=150_000, max_body_bytes=2 * 10**6,
               max_json_depth=16, registry_max_bytes=4096, max_nodes=50, max_expression_length=200)


def fn(expression: str | list[str], *inputs: str) -> dict[str, Any]:
    return {"inputs": list(inputs or ["x"]), "expression": expression}


def graph(*nodes: dict[str, Any], inputs: Any = ("x",), outputs: Any = "a") -> dict[str, Any]:
    return {"inputs": list(inputs), "nodes": list(nodes), "outputs": outputs}


# (case, request kwargs for client.post(URL, ...), status, code, pointer)
CASES: list[tuple[str, dict[str, Any], int, str, str | None]] = [
    ("bare NaN", {"content": b'{"function": {"inputs": ["x"], "expression": "x"}, "args": [NaN]}'},
     400, "invalid_json", None),
    ("truncated", {"content": b'{"function": '}, 400, "invalid_json", None),
    ("empty body", {"content": b""}, 400, "invalid_json", None),
    ("deeper than orjson parses", {"content": b"[" * 2000 + b"]" * 2000}, 413, "json_too_deep", None),
    ("deeper than the limit", {"content": b'{"function": {"inputs": ["x"], "nodes": ' + b"[" * 70 + b"]" * 70
                                          + b', "outputs": "x"}, "args": [1.0]}'}, 413, "json_too_deep", None),
    ("not JSON media type", {"content": b"{}", "headers": {"content-type": "text/plain"}},
     415, "unsupported_media_type", None),
    ("body is an array", {"json": [1]}, 422, "invalid_request", None),
    ("unknown field", {"json": {"function": SEED, "args": SEED_ARGS, "x": 1}}, 422, "invalid_request", "/x"),
    ("bad encoding", {"json": {"function": SEED, "args": SEED_ARGS, "encoding": "hex"}},
     422, "invalid_request", "/encoding"),
    ("function missing", {"json": {"args": [1]}}, 422, "invalid_graph", "/function"),
    ("nodes not a list", {"json": {"function": {"inputs": ["x"], "nodes": 3, "outputs": "x"}, "args": [1]}},
     422, "invalid_graph", "/function/nodes"),
    ("unknown op", {"json": {"function": graph({"id": "a", "op": "frobnicate", "args": ["x"]}), "args": [1]}},
     422, "unknown_op", "/function/nodes/0/op"),
    ("unknown reference", {"json": {"function": graph({"id": "a", "op": "add", "args": ["x", "q"]}), "args": [1]}},
     422, "unknown_reference", "/function/nodes/0/args/1"),
    ("wrong arity", {"json": {"function": graph({"id": "a", "op": "add", "args": ["x"]}), "args": [1]}},
     422, "wrong_arity", "/function/nodes/0/args"),
    ("bad attribute", {"json": {"function": graph({"id": "a", "op": "sum", "args": ["x"], "attrs": {"axis": "z"}}),
                                "args": [1]}}, 422, "invalid_attrs", "/function/nodes/0/attrs/axis"),
    ("bad expression", {"json": {"function": fn("__import__('os')"), "args": [1]}},
     422, "invalid_expression", "/function/expression"),
    ("shapes disagree", {"json": {"function": fn("x + y", "x", "y"), "args": [[1, 2], [1, 2, 3]]}},
     422, "shape_mismatch", "/function/nodes/0"),
    ("too few args", {"json": {"function": SEED, "args": [1]}}, 422, "invalid_args", "/args"),
    ("args not a list", {"json": {"function": SEED, "args": 5}}, 422, "invalid_args", "/args"),
    ("string arg", {"json": {"function": SEED, "args": [1, "two"]}}, 422, "invalid_args", "/args/1"),
    ("ragged arg", {"json": {"function": fn("x"), "args": [[[1, 2], [3]]]}}, 422, "invalid_args", "/args/0/1"),
    ("bad base64", {"json": {"function": fn("x"),
                             "args": [{"dtype": "float64", "shape": [1], "data": "!!!!!!!!!!!="}]}},
     422, "invalid_args", "/args/0/data"),
    ("mixed params", {"json": {"function": SEED, "args": SEED_ARGS, "params": [0, "y"]}}, 422, "invalid_params", None),
    ("unknown param", {"json": {"function": SEED, "args": SEED_ARGS, "params": ["q"]}},
     422, "invalid_params", "/params/0"),
    ("dy wrong shape", {"json": {"function": SEED, "args": SEED_ARGS, "dy": [1, 2]}}, 422, "invalid_dy", "/dy"),
    ("dy not a number", {"json": {"function": SEED, "args": SEED_ARGS, "dy": "big"}}, 422, "invalid_dy", "/dy"),
    ("dy count", {"json": {"function": fn(["x", "x"]), "args": [1], "dy": [1]}}, 422, "invalid_dy", "/dy"),
    ("singular matrix", {"json": {"function": fn("sum(linalg.inv(x))"), "args": [[[1.0, 2.0], [2.0, 4.0]]]}},
     422, "linalg_error", None),
    ("no route", {"url": "/v2/nothing"}, 404, "not_found", None),
]
LIMITED_CASES: list[tuple[str, dict[str, Any], int, str, str | None]] = [
    ("body over limit", {"content": b'{"function": ' + b" " * 2_100_000 + b"}"}, 413, "payload_too_large", None),
    ("streamed body over limit", {"content": iter([b" " * 1_500_000, b" " * 1_500_000])},
     413, "payload_too_large", None),
    ("tensor over limit", {"json": {"function": fn("x"), "args": [[0.0] * 100_001]}},
     413, "payload_too_large", "/args/0"),
    ("tensors over request limit", {"json": {"function": fn("x + y", "x", "y"), "args": [[0.0] * 80_000] * 2}},
     413, "payload_too_large", "/args/1"),
    ("intermediate over limit", {"json": {"function": fn("sum(broadcast_to(x, shape=[1000, 1000]))"), "args": [1]}},
     413, "payload_too_large", "/function/nodes/0"),
    ("expression too long", {"json": {"function": fn("x" + " + x" * 60), "args": [1]}},
     413, "payload_too_large", "/function/expression"),
    ("too many flops", {"json": {"function": fn("x @ x"), "args": [[[1.0] * 300] * 300]}},
     422, "too_expensive", None),
]
OTHER_MODULES = {"unauthorized": "test_http_auth", "overloaded": "test_http_limits", "not_ready": "below",
                 "bad_request": "test_http_limits", "method_not_allowed": "below", "unknown_function": "functions",
                 "internal_error": "below", "out_of_memory": "below", "tracing_error": "below",
                 "limit_exceeded": "below", "deadline_exceeded": "test_bounds", "request_timeout": "test_bounds",
                 "invalid_output": "tests/engine/test_derivatives (the derivative routes raise it)"}


@pytest.fixture(scope="module")
def limited() -> Iterator[TestClient]:
    with make_client(**LIMITED) as c:
        yield c


def send(client: TestClient, kwargs: dict[str, Any]) -> Any:
    kwargs = dict(kwargs)
    url = kwargs.pop("url", URL)
    if "content" in kwargs:
        kwargs.setdefault("headers", {"content-type": "application/json"})
    return client.post(url, **kwargs)


@pytest.mark.parametrize(("case", "kwargs", "status", "code", "pointer"), CASES, ids=[c[0] for c in CASES])
def test_client_errors_are_problems(client: TestClient, case: str, kwargs: dict[str, Any], status: int, code: str,
                                    pointer: str | None) -> None:
    body = assert_problem(send(client, kwargs), status, code, pointer)
    assert body["title"] == PROBLEMS[code].title


@pytest.mark.parametrize(("case", "kwargs", "status", "code", "pointer"), LIMITED_CASES,
                         ids=[c[0] for c in LIMITED_CASES])
def test_limits_are_problems(limited: TestClient, case: str, kwargs: dict[str, Any], status: int, code: str,
                             pointer: str | None) -> None:
    assert_problem(send(limited, kwargs), status, code, pointer)


def test_bare_nan_detail_says_how_to_send_it(client: TestClient) -> None:
    for token in (b"NaN", b"Infinity", b"-Infinity"):
        body = assert_problem(send(client, {"content": b'{"args": [1.0, ' + token + b"]}"}), 400, "invalid_json")
        assert '"NaN", "Infinity" and "-Infinity"' in body["detail"]


def test_function_too_big_for_the_cache_cannot_be_registered(limited: TestClient) -> None:
    big = graph({"id": "a", "op": "add", "args": ["x", [0.5] * 1000]})
    assert_problem(limited.post("/v1/functions", json={"function": big}), 413, "payload_too_large", "/function")
    r = limited.post(URL, json={"function": big, "args": [1.0]})  # one-shot still evaluates it
    assert r.status_code == 200 and len(r.json()["value"]) == 1000


def test_wrong_method_is_405_problem(client: TestClient) -> None:
    r = client.delete("/v1/ops")
    assert_problem(r, 405, "method_not_allowed")
    assert "GET" in r.headers["allow"]


def test_readiness_fails_until_started() -> None:
    c = make_client()  # not entered: the lifespan has not run
    assert_problem(c.get("/readyz"), 503, "not_ready")
    assert c.get("/healthz").status_code == 200


class FailingService:
    """Stands in for ``app.state.service``: every evaluation raises ``exc``."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    async def answer_one_shot(self, body: bytes) -> bytes:
        raise self.exc


@pytest.mark.parametrize(("exc", "status", "code"), [
    (RuntimeError("secret internals"), 500, "internal_error"),
    (MemoryError(), 422, "out_of_memory"),
    (TracingError("no value in a trace"), 422, "tracing_error"),
    (LimitError("over a limit"), 413, "limit_exceeded"),
])
def test_server_side_failures_map_through_the_table(exc: BaseException, status: int, code: str) -> None:
    with make_client() as c:
        c.app.state.service = FailingService(exc)  # type: ignore[attr-defined]
        r = c.post(URL, json={"function": SEED, "args": SEED_ARGS})
    body = assert_problem(r, status, code)
    assert "secret internals" not in body["detail"] and r.headers["x-request-id"]


def test_every_code_in_the_table_is_tested() -> None:
    tested = {c[3] for c in CASES + LIMITED_CASES} | set(OTHER_MODULES)
    assert tested == set(PROBLEMS)


def test_an_unknown_op_is_told_where_the_op_set_is_listed(client: TestClient) -> None:
    # the engine's message names no route; the service adds its own hint at the HTTP boundary
    body = assert_problem(send(client, {"json": {"function": graph({"id": "a", "op": "frobnicate", "args": ["x"]}),
                                                 "args": [1]}}), 422, "unknown_op", "/function/nodes/0/op")
    assert body["detail"] == "unknown op 'frobnicate' (GET /v1/ops lists the op set)"
