"""Client configuration and the checks a remote call makes locally, before any request."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import msgpack
import numpy as np
import pytest

import valgrad
from tests.support import SEED_ARGS, seed

URL = "http://valgrad.test"
SEED_POINT = tuple(SEED_ARGS)


class Recorder:
    """A MockTransport handler that records requests and answers a fixed body."""

    def __init__(self, answer: Any = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = {"status": "ok"} if answer is None else answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=self.answer)

    def client(self, base_url: str | None = URL, **kwargs: Any) -> valgrad.Client:
        return valgrad.Client(base_url, http_client=httpx.Client(transport=httpx.MockTransport(self)), **kwargs)


def sent(request: httpx.Request) -> Any:
    """A request's body as sent: MessagePack (the default) or JSON."""
    if request.headers["content-type"] == "application/msgpack":
        return msgpack.unpackb(request.content)
    return json.loads(request.content)


def test_env_gives_url_and_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALGRAD_URL", "http://from-env.test:9000/")
    monkeypatch.setenv("VALGRAD_API_KEY", "s3cret")
    rec = Recorder()
    rec.client(None).health()
    assert str(rec.requests[0].url) == "http://from-env.test:9000/healthz"
    assert rec.requests[0].headers["authorization"] == "Bearer s3cret"


def test_arguments_beat_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALGRAD_URL", "http://from-env.test")
    monkeypatch.setenv("VALGRAD_API_KEY", "env-key")
    rec = Recorder({"opset": 2, "ops": []})
    rec.client("http://explicit.test", api_key="arg-key").ops()
    assert str(rec.requests[0].url) == "http://explicit.test/v1/ops"
    assert rec.requests[0].headers["authorization"] == "Bearer arg-key"


def test_no_api_key_sends_no_authorization(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VALGRAD_API_KEY", raising=False)
    rec = Recorder()
    rec.client().health()
    assert "authorization" not in rec.requests[0].headers


@pytest.mark.parametrize("url", ["", "ftp://nope", "127.0.0.1:8000"])
def test_bad_url_is_rejected(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.delenv("VALGRAD_URL", raising=False)
    with pytest.raises(valgrad.ValgradError):
        valgrad.Client(url)


def test_the_default_url_is_make_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VALGRAD_URL", raising=False)
    with valgrad.Client() as client:
        assert str(client.base_url).rstrip("/") == "http://127.0.0.1:8000"


def test_options_after_base_url_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        valgrad.Client(URL, "key")  # type: ignore[call-arg]


def test_negative_max_retries_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        valgrad.Client(URL, max_retries=-1)


def test_context_manager_closes_its_own_http_client() -> None:
    with valgrad.Client(URL) as client:
        http = client._http
    assert http.is_closed


def test_context_manager_leaves_an_injected_http_client_open() -> None:
    http = httpx.Client(transport=httpx.MockTransport(Recorder()))
    with valgrad.Client(URL, http_client=http):
        pass
    assert not http.is_closed


def test_async_context_manager_closes_its_own_http_client() -> None:
    async def main() -> httpx.AsyncClient:
        async with valgrad.AsyncClient(URL) as client:
            return client._http
    assert asyncio.run(main()).is_closed


def test_timeout_applies_per_request() -> None:
    rec = Recorder()
    rec.client(timeout=3.5).health()
    assert rec.requests[0].extensions["timeout"]["read"] == 3.5


# -- local checks: the same errors as the local API, before any request -------------------------

LOCAL_ERRORS = [
    ("mixed params", dict(params=[0, "y"]), SEED_POINT, {},
     r"params must be all strings or all integers; got \[0, 'y'\]\."),
    ("float param", dict(params=[1.0]), SEED_POINT, {}, "params must be all strings or all integers"),
    ("unknown name", dict(params=["z"]), SEED_POINT, {}, "unknown parameter 'z'; valid names: x, y"),
    ("index out of range", dict(params=[2]), SEED_POINT, {}, "parameter index 2 is out of range"),
    ("keyword argument", {}, (2.0,), {"y": 3.0}, "Functions to be differentiated cannot receive keyword arguments."),
    ("string argument", {}, ("a", 3.0), {}, "argument 0 must be a real number"),
    ("complex argument", {}, (np.array([1j]), 3.0), {}, "argument 0 must be a real number"),
    # a complex dy once lost its imaginary part on the way to the service, with a warning at most
    ("complex dy", {}, SEED_POINT, {"dy": np.array(1 + 2j)}, "dy must be real"),
    ("text dy", {}, SEED_POINT, {"dy": "one"}, "dy must be numeric"),
]


@pytest.mark.parametrize(("why", "options", "args", "kwargs", "message"), LOCAL_ERRORS,
                         ids=[e[0] for e in LOCAL_ERRORS])
def test_remote_call_raises_local_errors_before_any_request(why: str, options: dict[str, Any], args: tuple[Any, ...],
                                                            kwargs: dict[str, Any], message: str) -> None:
    rec = Recorder()
    g = rec.client().value_and_gradients_function(seed, **options)
    with pytest.raises(ValueError, match=message):
        g(*args, **kwargs)
    local = valgrad.value_and_gradients_function(seed, **options)
    with pytest.raises(ValueError, match=message):
        local(*args, **kwargs)
    assert rec.requests == []


def test_bad_unconnected_gradients_is_rejected_at_once() -> None:
    with pytest.raises(ValueError, match="unconnected_gradients"):
        Recorder().client().value_and_gradients_function(seed, unconnected_gradients="zeros")


def test_control_flow_on_values_fails_to_trace_before_any_request() -> None:
    rec = Recorder()
    g = rec.client().value_and_gradients_function(lambda x: x if x > 0 else -x)
    with pytest.raises(valgrad.TracingError):
        g(1.0)
    assert rec.requests == []


def test_function_returning_none_is_rejected_before_any_request() -> None:
    rec = Recorder()
    with pytest.raises(ValueError, match="returns None"):
        rec.client().value_and_gradients_function(lambda x: None)(1.0)
    assert rec.requests == []


def test_dy_count_must_match_list_outputs_before_any_request() -> None:
    rec = Recorder()
    g = rec.client().value_and_gradients_function(lambda x: [x * 2.0, x * 3.0])
    with pytest.raises(ValueError, match="dy must hold one cotangent per output"):
        g(1.0, dy=[1.0, 2.0, 3.0])
    assert rec.requests == []


def test_async_remote_call_raises_local_errors_before_any_request() -> None:
    rec = Recorder()
    client = valgrad.AsyncClient(URL, http_client=httpx.AsyncClient(transport=httpx.MockTransport(rec)))
    g = client.value_and_gradients_function(seed, params=[0, "y"])
    with pytest.raises(ValueError, match=r"got \[0, 'y'\]\."):
        asyncio.run(g(*SEED_ARGS))
    assert rec.requests == []


# -- what goes on the wire --------------------------------------------------------------------

@pytest.mark.parametrize(("arg", "expected"), [
    (2.0, 2.0),
    (3, 3.0),
    (True, 1.0),
    (np.float64(2.5), 2.5),
])
def test_python_numbers_go_as_json_numbers(arg: Any, expected: float) -> None:
    rec = Recorder({"value": 1.0, "gradients": [1.0, 1.0], "params": [0, 1]})
    rec.client().value_and_gradients(seed, [arg, 1.0])
    body = sent(rec.requests[0])
    assert body["args"][0] == expected and body["encoding"] == "base64" and "function" in body


@pytest.mark.parametrize(("arg", "dtype"), [
    (np.ones((2, 3)), "float64"),
    (np.ones(3, np.float32), "float32"),
    (np.arange(4), "float64"),
    (np.float32(1.5), "float32"),
    ([[1.0, 2.0]], "float64"),
    (float("nan"), "float64"),
])
def test_arrays_go_as_base64_tensors_keeping_float32(arg: Any, dtype: str) -> None:
    rec = Recorder({"value": 1.0, "gradients": [1.0, 1.0], "params": [0, 1]})
    rec.client().value_and_gradients(seed, [arg, 1.0])
    arg0 = sent(rec.requests[0])["args"][0]
    assert arg0["dtype"] == dtype and arg0["shape"] == list(np.shape(arg)) and isinstance(arg0["data"], bytes)


def test_params_are_sent_as_resolved_indices() -> None:
    rec = Recorder({"value": 1.0, "gradients": [1.0], "params": [1]})
    rec.client().value_and_gradients(seed, SEED_ARGS, params="y")
    assert sent(rec.requests[0])["params"] == [1]
