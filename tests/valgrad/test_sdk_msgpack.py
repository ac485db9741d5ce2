"""The SDK's wire encoding: MessagePack by default (bin tensors both ways), JSON when asked, same results."""

from __future__ import annotations

import json
from typing import Any

import httpx
import msgpack
import numpy as np
import pytest

import valgrad
from valgrad.errors import APIResponseError, UnprocessableEntityError
from valgrad.wire import Body, payload, serialize

URL = "http://valgrad.test"


def loss(w: Any, x: Any) -> Any:
    return np.sum(np.tanh(x @ w))


class Recorder:
    """Records requests; answers with ``answer`` in MessagePack (``media``) or JSON."""

    def __init__(self, answer: Any, media: str = "application/msgpack") -> None:
        self.requests: list[httpx.Request] = []
        self.answer, self.media = answer, media

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = msgpack.packb(self.answer) if self.media == "application/msgpack" else json.dumps(self.answer).encode()
        return httpx.Response(200, content=body, headers={"content-type": self.media})


def client_for(rec: Recorder, **kwargs: Any) -> valgrad.Client:
    return valgrad.Client(URL, http_client=httpx.Client(transport=httpx.MockTransport(rec)), **kwargs)


def test_msgpack_is_the_default_and_arrays_go_as_bin() -> None:
    grad = np.arange(6.0).reshape(3, 2)
    rec = Recorder({"value": 1.0, "gradients": [{"dtype": "float64", "shape": [3, 2], "data": grad.tobytes()}],
                    "params": [0]})
    w = np.ones((3, 2))
    value, (dw,) = client_for(rec).value_and_gradients(loss, [w, np.ones((4, 3), np.float32)], params=[0])
    request = rec.requests[0]
    assert request.headers["content-type"] == "application/msgpack"
    assert request.headers["accept"] == "application/msgpack"
    sent = msgpack.unpackb(request.content)
    assert sent["args"][0] == {"dtype": "float64", "shape": [3, 2], "data": w.tobytes()}
    assert sent["args"][1]["dtype"] == "float32" and type(sent["args"][1]["data"]) is bytes
    np.testing.assert_array_equal(dw, grad)
    dw[0, 0] = 7.0  # results are writable, as local ones are
    assert float(value) == 1.0


def test_json_opts_out() -> None:
    rec = Recorder({"value": 1.0, "gradients": [[1.0, 2.0]], "params": [0]}, media="application/json")
    client_for(rec, encoding="json").value_and_gradients(loss, [np.ones(2), np.ones((1, 2))], params=[0])
    request = rec.requests[0]
    assert request.headers["content-type"] == "application/json"
    assert isinstance(json.loads(request.content)["args"][0]["data"], str)


def test_the_answer_is_read_by_its_media_type() -> None:
    rec = Recorder({"value": 2.0, "gradients": [3.0], "params": [0]}, media="application/json")
    value, (g,) = client_for(rec).value_and_gradients({"inputs": ["x"], "expression": "x*x"}, [1.0])
    assert float(value) == 2.0 and float(g) == 3.0


def test_bad_encoding_and_bad_answers_are_refused() -> None:
    with pytest.raises(ValueError, match="msgpack"):
        valgrad.Client(URL, encoding="xml")
    bad = httpx.Response(200, content=b"\xc1", headers={"content-type": "application/msgpack"})
    with pytest.raises(APIResponseError, match="MessagePack"):
        payload(bad)
    short = msgpack.packb({"value": {"dtype": "float64", "shape": [2], "data": b"\x00" * 8}})
    with pytest.raises(APIResponseError, match="8 bytes"):
        payload(httpx.Response(200, content=short, headers={"content-type": "application/msgpack"}))


def test_serialize_packs_arrays_without_base64() -> None:
    x = np.arange(4, dtype=np.float32)[::2]  # not contiguous
    packed = serialize(Body({"args": [x]}), "msgpack")
    assert packed is not None
    assert msgpack.unpackb(packed)["args"][0] == {"dtype": "float32", "shape": [2], "data": x.tobytes()}
    as_json = serialize(Body({"args": [x]}), "json")
    assert as_json is not None and json.loads(as_json)["args"][0]["data"] == "AAAAAAAAAEA="


@pytest.mark.parametrize("encoding", ["msgpack", "json"])
def test_both_encodings_give_the_local_answer(testclient: httpx.Client, encoding: str) -> None:
    client = valgrad.Client("http://testserver", http_client=testclient, encoding=encoding)
    rng = np.random.default_rng(0)
    w, x = rng.standard_normal((3, 2)), rng.standard_normal((5, 3)).astype(np.float32)
    remote = client.value_and_gradients_function(loss)
    local = valgrad.value_and_gradients_function(loss)
    (rv, rg), (lv, lg) = remote(w, x), local(w, x)
    np.testing.assert_allclose(rv, lv, rtol=1e-6)
    for a, b in zip(rg, lg, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-5)
    with pytest.raises(UnprocessableEntityError):  # problems are JSON either way
        client.value_and_gradients({"inputs": ["x"], "expression": "x @ x"}, [np.ones((2, 3))])


def test_registered_calls_and_gets_in_msgpack(testclient: httpx.Client) -> None:
    client = valgrad.Client("http://testserver", http_client=testclient)
    handle = client.register({"inputs": ["x"], "expression": "sum(x * x)"})
    as_json = valgrad.Client("http://testserver", http_client=testclient, encoding="json")
    assert client.get_function(handle.id) == as_json.get_function(handle.id)
    _, (g,) = client.value_and_gradients(handle, [np.arange(3.0)])
    np.testing.assert_array_equal(g, [0.0, 2.0, 4.0])
    assert client.health() == valgrad.Health("ok")
