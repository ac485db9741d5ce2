"""Every status maps to its error class with the problem details; httpx exceptions never leak."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

import valgrad
from valgrad.errors import status_error_class

URL = "http://valgrad.test"


def problem(status: int, code: str, detail: str, pointer: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"type": f"https://valgrad.dev/problems/{code}", "title": code.replace("_", " "),
                            "status": status, "code": code, "detail": detail}
    if pointer:
        body["pointer"] = pointer
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


def client_for(handler: Any, **kwargs: Any) -> valgrad.Client:
    return valgrad.Client(URL, max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(handler)),
                          **kwargs)


STATUS_CLASSES = [
    (400, valgrad.BadRequestError),
    (401, valgrad.AuthenticationError),
    (403, valgrad.APIStatusError),
    (404, valgrad.NotFoundError),
    (408, valgrad.APIStatusError),
    (409, valgrad.APIStatusError),
    (413, valgrad.PayloadTooLargeError),
    (422, valgrad.UnprocessableEntityError),
    (429, valgrad.RateLimitError),
    (500, valgrad.InternalServerError),
    (502, valgrad.InternalServerError),
    (503, valgrad.ServiceUnavailableError),
    (504, valgrad.InternalServerError),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
def test_status_maps_to_exactly_its_class(status: int, cls: type[Exception]) -> None:
    assert status_error_class(status) is cls


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
def test_error_response_raises_its_class_with_problem_details(status: int, cls: type[Exception]) -> None:
    client = client_for(lambda request: problem(status, "some_code", "what went wrong", "/args/1"))
    with pytest.raises(cls) as info:
        client.ops()
    err = info.value
    assert type(err) is cls
    assert isinstance(err, valgrad.APIStatusError) and isinstance(err, valgrad.APIError)
    assert (err.status, err.code, err.detail, err.pointer) == (status, "some_code", "what went wrong", "/args/1")
    assert "what went wrong" in str(err) and "/args/1" in str(err)


def test_unprocessable_entity_is_a_value_error() -> None:
    client = client_for(lambda request: problem(422, "invalid_params", "params must be all strings"))
    with pytest.raises(ValueError, match="params must be all strings"):
        client.health()


@pytest.mark.parametrize("status", [400, 401, 404, 413, 429, 500, 503])
def test_other_errors_are_not_value_errors(status: int) -> None:
    client = client_for(lambda request: problem(status, "x", "y"))
    with pytest.raises(valgrad.APIStatusError) as info:
        client.health()
    assert not isinstance(info.value, ValueError)


def test_error_without_problem_details_uses_the_body_text() -> None:
    client = client_for(lambda request: httpx.Response(502, text="<html>Bad Gateway</html>"))
    with pytest.raises(valgrad.InternalServerError) as info:
        client.health()
    assert info.value.code == "http_502" and "Bad Gateway" in info.value.detail and info.value.pointer is None


def raise_(exc: Exception) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc
    return handler


@pytest.mark.parametrize(("exc", "cls"), [
    (httpx.ConnectError("refused"), valgrad.APIConnectionError),
    (httpx.ReadError("reset"), valgrad.APIConnectionError),
    (httpx.RemoteProtocolError("garbage"), valgrad.APIConnectionError),
    (httpx.ConnectTimeout("slow connect"), valgrad.APITimeoutError),
    (httpx.ReadTimeout("slow read"), valgrad.APITimeoutError),
    (httpx.PoolTimeout("pool"), valgrad.APITimeoutError),
])
def test_transport_failures_are_wrapped(exc: Exception, cls: type[Exception]) -> None:
    with pytest.raises(cls) as info:
        client_for(raise_(exc)).health()
    assert type(info.value) is cls and not isinstance(info.value, httpx.HTTPError)
    assert info.value.__cause__ is exc


def test_async_transport_failures_are_wrapped() -> None:
    async def main() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(raise_(httpx.ReadTimeout("slow"))))
        async with valgrad.AsyncClient(URL, max_retries=0, http_client=http) as client:
            await client.health()
    with pytest.raises(valgrad.APITimeoutError):
        asyncio.run(main())


def test_async_error_response_raises_its_class() -> None:
    async def main() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: problem(413, "payload_too_large", "big")))
        async with valgrad.AsyncClient(URL, max_retries=0, http_client=http) as client:
            await client.ops()
    with pytest.raises(valgrad.PayloadTooLargeError, match="big"):
        asyncio.run(main())


def test_success_that_is_not_json_is_a_response_error() -> None:
    with pytest.raises(valgrad.APIResponseError):
        client_for(lambda request: httpx.Response(200, text="not json")).health()


def test_success_with_malformed_tensors_is_a_response_error() -> None:
    client = client_for(lambda request: httpx.Response(200, json={"value": {"dtype": "int8"}, "gradients": []}))
    with pytest.raises(valgrad.APIResponseError):
        client.value_and_gradients({"inputs": ["x"], "expression": "x"}, [1.0])


def test_status_errors_carry_the_response_and_its_request_id() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        response = problem(404, "unknown_function", "no such function")
        response.headers["X-Request-ID"] = "req-42"
        return response
    with pytest.raises(valgrad.NotFoundError) as info:
        client_for(handler).get_function("sha256:" + "0" * 64)
    err = info.value
    assert err.status_code == err.status == 404 and err.request_id == "req-42"
    assert err.response is not None and err.response.status_code == 404
    assert err.response.request.url == f"{URL}/v1/functions/sha256:{'0' * 64}"


def test_request_id_is_none_without_the_header() -> None:
    with pytest.raises(valgrad.InternalServerError) as info:
        client_for(lambda request: httpx.Response(502, text="Bad Gateway")).health()
    assert info.value.request_id is None and info.value.response is not None


@pytest.mark.parametrize("exc", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow read")])
def test_connection_errors_name_the_url_they_tried(exc: Exception) -> None:
    with pytest.raises(valgrad.APIConnectionError) as info:
        client_for(raise_(exc)).ops()
    err = info.value
    assert (err.method, err.url) == ("GET", f"{URL}/v1/ops")
    assert str(err) == f"GET {URL}/v1/ops: {type(exc).__name__}: {exc}"


def test_async_connection_errors_name_the_url_they_tried() -> None:
    async def main() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(raise_(httpx.ConnectError("refused"))))
        async with valgrad.AsyncClient(URL, max_retries=0, http_client=http) as client:
            await client.health()
    with pytest.raises(valgrad.APIConnectionError, match=f"GET {URL}/healthz: ConnectError: refused") as info:
        asyncio.run(main())
    assert info.value.url == f"{URL}/healthz"


def test_the_real_services_request_id_reaches_the_error(testclient: httpx.Client) -> None:
    client = valgrad.Client("http://testserver", http_client=testclient)
    with pytest.raises(valgrad.NotFoundError) as info:
        client.get_function("sha256:" + "0" * 64)
    err = info.value
    assert err.code == "unknown_function" and err.status_code == 404 and err.response is not None
    assert err.request_id and err.request_id == err.response.headers["x-request-id"]
