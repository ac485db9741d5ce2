"""Registered functions: hold a function once, then send only arguments.

The ``function_id`` path parameter is read from ``request.path_params`` and
documented by hand (``FUNCTION_ID``): FastAPI's typed path parameter costs
about 14 µs per request, a tenth of a registered call, for a plain string it
would not check anyway.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.deps import read_body, service_of
from app.openapi import request_body, responses, with_links
from app.wire import JSONBytes

router = APIRouter(tags=["functions"])
_ID_DOC = "the id returned by registration: sha256:<hex>"
FUNCTION_ID: dict[str, Any] = {
    "name": "function_id", "in": "path", "required": True, "description": _ID_DOC,
    "schema": {"type": "string", "title": "Function Id", "description": _ID_DOC, "examples": ["sha256:" + "0" * 64]},
}


def _function_id(request: Request) -> str:
    function_id: str = request.path_params["function_id"]
    return function_id


@router.post(
    "/v1/functions",
    operation_id="registerFunction",
    summary="Register a function",
    status_code=201,
    response_class=JSONBytes,
    openapi_extra=request_body("RegisterRequest"),
    responses=with_links({**responses("FunctionInfo", 400, 401, 413, 415, 422, 503, ok_status=201,
                                      ok_description="Registered now"),
                          **responses("FunctionInfo", ok_description="Already registered")}, (200, 201), {
        "GetFunction": {"operationId": "getFunction", "parameters": {"function_id": "$response.body#/id"},
                        "description": "the canonical form of the function just registered"},
        "EvaluateFunction": {"operationId": "valueAndGradientsOfFunction",
                             "parameters": {"function_id": "$response.body#/id"},
                             "description": "evaluate it by id, sending only arguments"}}),
)
async def register_function(request: Request) -> JSONBytes:
    """Hold a function under its content address; idempotent (201 the first time, 200 after)."""
    new, info = await service_of(request).answer_register(await read_body(request))
    return JSONBytes(info, status_code=201 if new else 200)


@router.get(
    "/v1/functions/{function_id}",
    operation_id="getFunction",
    summary="Get a registered function",
    response_class=JSONBytes,
    openapi_extra={"parameters": [FUNCTION_ID]},
    responses=responses("GraphFunction", 401, 404, ok_description="The canonical function"),
)
async def get_function(request: Request) -> JSONBytes:
    """The function in canonical form: hashing it (SHA-256) gives its id."""
    graph = await service_of(request).find(_function_id(request))
    return JSONBytes(graph.canonical, headers={"ETag": f'"{graph.id}"'})


@router.post(
    "/v1/functions/{function_id}/value-and-gradients",
    operation_id="valueAndGradientsOfFunction",
    summary="Value and gradients of a registered function",
    response_class=JSONBytes,
    openapi_extra={**request_body("EvaluateRequest"), "parameters": [FUNCTION_ID]},
    responses=responses("ValueAndGradientsResponse", 400, 401, 404, 413, 415, 422, 503,
                        examples=("seed_response", "params_response")),
)
async def value_and_gradients_of_function(request: Request) -> JSONBytes:
    """Evaluate a registered function; a 404 unknown_function means: resend it with POST /v1/value-and-gradients."""
    service = service_of(request)
    return JSONBytes(await service.answer_registered(_function_id(request), await read_body(request)))
