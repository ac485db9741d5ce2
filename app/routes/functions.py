"""Registered functions: hold a function once, then send only arguments.

Registration reads its body raw, as the evaluation routes do: the body may be MessagePack, which
FastAPI does not parse, and the service parses it once with the errors and pointers every route
gives. The ``function_id`` path parameter is read from ``request.path_params`` and documented by
``app.openapi.operation``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.openapi import operation, responses
from app.route_support import read_body, service_of
from app.schemas import (
    EvaluateRequest,
    FunctionInfo,
    GraphFunction,
    RegisterRequest,
    ValueAndGradientsResponse,
)
from app.wire import JSONBytes

router = APIRouter(tags=["functions"])
_LINKS: dict[str, Any] = {  # what a client can do next with a registration's answer
    "GetFunction": {"operationId": "getFunction", "parameters": {"function_id": "$response.body#/id"},
                    "description": "the canonical form of the function just registered"},
    "EvaluateFunction": {"operationId": "valueAndGradientsOfFunction",
                         "parameters": {"function_id": "$response.body#/id"},
                         "description": "evaluate it by id, sending only arguments"},
}


def _function_id(request: Request) -> str:
    function_id: str = request.path_params["function_id"]
    return function_id


def _registered() -> dict[int | str, dict[str, Any]]:
    out = {**responses(FunctionInfo, 400, 401, 413, 415, 422, 503, status=201, description="Registered now"),
           **responses(FunctionInfo, description="Already registered")}
    for status in (200, 201):
        out[status]["links"] = _LINKS
    return out


@router.post(
    "/v1/functions",
    operation_id="registerFunction",
    summary="Register a function",
    status_code=201,
    response_model=FunctionInfo,
    openapi_extra=operation(RegisterRequest, "register_seed"),
    responses=_registered(),
)
async def register_function(request: Request) -> JSONBytes:
    """Hold a function under its content address; idempotent (201 the first time, 200 after)."""
    new, info = await service_of(request).answer_register(await read_body(request))
    return JSONBytes(info, status_code=201 if new else 200)


@router.get(
    "/v1/functions/{function_id}",
    operation_id="getFunction",
    summary="Get a registered function",
    response_model=GraphFunction,
    openapi_extra=operation(by_id=True),
    responses=responses(GraphFunction, 401, 404, description="The canonical function"),
)
async def get_function(request: Request) -> JSONBytes:
    """The function in canonical form: hashing it (SHA-256) gives its id."""
    graph = await service_of(request).find(_function_id(request))
    return JSONBytes(graph.canonical, headers={"ETag": f'"{graph.id}"'})


@router.post(
    "/v1/functions/{function_id}/value-and-gradients",
    operation_id="valueAndGradientsOfFunction",
    summary="Value and gradients of a registered function",
    response_model=ValueAndGradientsResponse,
    openapi_extra=operation(EvaluateRequest, "seed_registered", "params_by_name_registered", by_id=True),
    responses=responses(ValueAndGradientsResponse, 400, 401, 404, 413, 415, 422, 503,
                        examples=("seed_response", "params_response")),
)
async def value_and_gradients_of_function(request: Request) -> JSONBytes:
    """Evaluate a registered function; a 404 unknown_function means: resend it with POST /v1/value-and-gradients."""
    service = service_of(request)
    return JSONBytes(await service.answer_registered(_function_id(request), await read_body(request)))
