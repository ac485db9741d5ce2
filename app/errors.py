"""Every failure becomes an RFC 9457 problem detail here, from one table.

The engine's typed errors, the service's own errors, FastAPI's validation
errors, Starlette's HTTP errors and unexpected exceptions all go through
``problem_response``: ``application/problem+json`` with ``type``, ``title``,
``status``, ``detail``, a stable ``code`` and, where one exists, a JSON
Pointer (RFC 6901) to the offending field. No traceback reaches a client;
unexpected exceptions are logged with theirs.

    ServiceError                 raised by the service itself
    ├── MalformedJSONError       the body is not JSON (400)
    ├── UnsupportedMediaTypeError the body is not declared as JSON (415)
    ├── RequestShapeError        the envelope has a wrong or unknown field (422)
    ├── UnknownFunctionError     this replica does not hold the function id (404)
    ├── BodyTooLargeError        the body is over the byte limit (413)
    ├── JSONTooDeepError         the body nests deeper than allowed (413)
    └── OverloadedError          every evaluation slot or the body budget is taken (503, Retry-After)

An evaluation past its deadline or memory cap (``app.pool``) is a
``ServiceError`` with code ``deadline_exceeded`` or ``out_of_memory``: 422,
as ``too_expensive``, because the request is what costs too much. A client
that goes away mid-request (Starlette's ``ClientDisconnect``) is logged as
such and counted as 499, nginx's "client closed request", not as a 5xx. A
body that does not arrive in time is answered 408 ``request_timeout`` by the
protocol (``app.protocol``), which marks the request so it is counted as such.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from engine import EngineError, join_pointer

__all__ = [
    "PROBLEMS",
    "BODY_TIMED_OUT",
    "CLIENT_CLOSED",
    "BodyTooLargeError",
    "JSONTooDeepError",
    "MalformedJSONError",
    "OverloadedError",
    "ProblemResponse",
    "RequestShapeError",
    "ServiceError",
    "UnknownFunctionError",
    "UnsupportedMediaTypeError",
    "install_error_handlers",
    "problem_body",
    "problem_response",
]

log = logging.getLogger("valgrad.errors")


class Problem(NamedTuple):
    status: int
    title: str
    hint: str = ""  # where the service helps further; the engine's messages never name routes


# The one table: stable code -> HTTP status and title. Codes never change meaning.
PROBLEMS: dict[str, Problem] = {
    "invalid_json": Problem(400, "Malformed JSON"),
    "bad_request": Problem(400, "Bad request"),
    "unauthorized": Problem(401, "Missing or invalid API key"),
    "not_found": Problem(404, "Not found"),
    "unknown_function": Problem(404, "Unknown function"),
    "method_not_allowed": Problem(405, "Method not allowed"),
    "request_timeout": Problem(408, "Request body not received in time"),
    "payload_too_large": Problem(413, "Payload too large"),
    "limit_exceeded": Problem(413, "Limit exceeded"),
    "json_too_deep": Problem(413, "JSON nested too deeply"),
    "unsupported_media_type": Problem(415, "Unsupported media type"),
    "invalid_request": Problem(422, "Invalid request"),
    "invalid_graph": Problem(422, "Invalid function"),
    "unknown_op": Problem(422, "Unknown op", "GET /v1/ops lists the op set"),
    "unknown_reference": Problem(422, "Unknown reference"),
    "wrong_arity": Problem(422, "Wrong number of arguments for an op"),
    "invalid_attrs": Problem(422, "Invalid op attributes"),
    "invalid_expression": Problem(422, "Invalid expression"),
    "shape_mismatch": Problem(422, "Shapes do not agree"),
    "invalid_args": Problem(422, "Invalid arguments"),
    "invalid_params": Problem(422, "Invalid params"),
    "invalid_dy": Problem(422, "Invalid dy"),
    "invalid_output": Problem(422, "Output cannot be differentiated"),
    "too_expensive": Problem(422, "Evaluation too expensive"),
    "deadline_exceeded": Problem(422, "Evaluation ran past its deadline"),
    "out_of_memory": Problem(422, "Evaluation ran out of memory"),
    "linalg_error": Problem(422, "Linear algebra error"),
    "tracing_error": Problem(422, "Tracing error"),
    "internal_error": Problem(500, "Internal server error"),
    "overloaded": Problem(503, "Server busy"),
    "not_ready": Problem(503, "Not ready"),
}
_CODE_FOR_STATUS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
                    415: "unsupported_media_type", 422: "invalid_request"}
BODY_TIMED_OUT = "valgrad.body_timed_out"  # scope key set by app.protocol when it answered 408
CLIENT_CLOSED = 499  # nginx's status for "client closed request": never sent, only logged and counted
TYPE_PREFIX = "urn:valgrad:problem:"
MEDIA_TYPE = "application/problem+json"


class ServiceError(Exception):
    """Base of the errors the service raises itself; ``code`` selects the row of ``PROBLEMS``."""

    code: str = "bad_request"

    def __init__(self, message: str, pointer: str | None = None, *, code: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.pointer = pointer
        self.headers = dict(headers or {})
        if code is not None:
            self.code = code


class MalformedJSONError(ServiceError):
    code = "invalid_json"


class UnsupportedMediaTypeError(ServiceError):
    code = "unsupported_media_type"


class RequestShapeError(ServiceError):
    code = "invalid_request"


class UnknownFunctionError(ServiceError):
    code = "unknown_function"


class BodyTooLargeError(ServiceError):
    code = "payload_too_large"


class JSONTooDeepError(ServiceError):
    code = "json_too_deep"


class OverloadedError(ServiceError):
    code = "overloaded"

    def __init__(self, message: str, retry_after: int, close: bool = False) -> None:
        headers = {"Retry-After": str(retry_after), **({"Connection": "close"} if close else {})}
        super().__init__(message, headers=headers)


class ProblemResponse(Response):
    media_type = MEDIA_TYPE


def problem_body(code: str, detail: str, pointer: str | None = None) -> dict[str, Any]:
    """The RFC 9457 object for ``code`` (unknown codes are 422s of their own name)."""
    status, title, hint = PROBLEMS.get(code, PROBLEMS["invalid_request"])
    if hint:
        detail = f"{detail} ({hint})"
    body: dict[str, Any] = {"type": TYPE_PREFIX + code, "title": title, "status": status,
                            "detail": detail, "code": code}
    if pointer is not None:
        body["pointer"] = pointer
    return body


def problem_response(code: str, detail: str, pointer: str | None = None,
                     headers: Mapping[str, str] | None = None) -> ProblemResponse:
    """A complete problem response; the status comes from the table."""
    body = problem_body(code, detail, pointer)
    return ProblemResponse(orjson.dumps(body), status_code=body["status"], headers=dict(headers or {}))


def _validation_pointer(loc: tuple[Any, ...]) -> str:
    # FastAPI prefixes a location ("body", "path", "query"); pydantic inserts union branch names.
    parts = [p for p in loc[1:] if isinstance(p, int) or (isinstance(p, str) and "[" not in p)]
    return join_pointer(*parts)


async def _engine_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, EngineError)
    return problem_response(exc.code, exc.message, exc.pointer)


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ServiceError)
    return problem_response(exc.code, exc.message, exc.pointer, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    loc = tuple(first.get("loc", ()))
    return problem_response("invalid_request", f"{loc[0] if loc else 'request'}: {first['msg']}",
                            _validation_pointer(loc) if len(loc) > 1 else None)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _CODE_FOR_STATUS.get(exc.status_code)
    if code is None:  # a status without a row of its own keeps its status and reason
        body = {"type": "about:blank", "title": str(exc.detail), "status": exc.status_code,
                "detail": str(exc.detail), "code": f"http_{exc.status_code}"}
        return ProblemResponse(orjson.dumps(body), status_code=exc.status_code, headers=exc.headers)
    detail = f"no route {request.url.path}" if code == "not_found" else str(exc.detail)
    return problem_response(code, detail, headers=exc.headers)


async def _linalg_error(request: Request, exc: Exception) -> Response:
    # NumPy raises LinAlgError for data a client sent (a singular matrix), as TF raises InvalidArgumentError.
    return problem_response("linalg_error", f"linear algebra failed on the arguments: {exc}")


async def _memory_error(request: Request, exc: Exception) -> Response:
    # Evaluations run in capped workers (app.pool); this is the server's own share of a request
    # (decoding its tensors), so the answer is the one a capped evaluation gets.
    log.warning("out of memory while serving %s", request.url.path)
    return problem_response("out_of_memory", "the server ran out of memory for this request; send smaller "
                            "tensors")


async def _client_disconnect(request: Request, exc: Exception) -> Response:
    if request.scope.get(BODY_TIMED_OUT):  # the protocol answered 408 and closed the connection
        log.info("request body not received in time (408)", extra={"path": request.url.path})
        return problem_response("request_timeout", "the request body was not received in time")
    log.info("client disconnected before sending the whole body", extra={"path": request.url.path})
    request.app.state.metrics.disconnects.inc()
    return Response(status_code=CLIENT_CLOSED)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error serving %s", request.url.path, exc_info=exc)
    return problem_response("internal_error", "the server failed to handle this request; "
                            "the error was logged (quote the X-Request-ID header when reporting it)")


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception class to its formatter (Starlette picks the nearest class in the MRO)."""
    app.add_exception_handler(EngineError, _engine_error)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(np.linalg.LinAlgError, _linalg_error)
    app.add_exception_handler(MemoryError, _memory_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
    app.add_exception_handler(Exception, _unexpected_error)
