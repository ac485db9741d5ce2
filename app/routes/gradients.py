"""POST /v1/value-and-gradients: a function and its arguments in one request."""

from __future__ import annotations

from fastapi import APIRouter, Request

from app.openapi import operation, responses
from app.route_support import read_body, service_of
from app.schemas import ValueAndGradientsRequest, ValueAndGradientsResponse
from app.wire import JSONBytes

router = APIRouter(tags=["gradients"])


@router.post(
    "/v1/value-and-gradients",
    operation_id="valueAndGradients",
    summary="Value and gradients of a function",
    response_model=ValueAndGradientsResponse,
    openapi_extra=operation(ValueAndGradientsRequest, "seed", "params_by_name", "graph", "base64"),
    responses=responses(ValueAndGradientsResponse, 400, 401, 413, 415, 422, 503,
                        examples=("seed_response", "params_response", "base64_response")),
)
async def value_and_gradients(request: Request) -> JSONBytes:
    """Evaluate a function (JSON graph or text expression) and its gradients; the function is cached under its id."""
    return JSONBytes(await service_of(request).answer_one_shot(await read_body(request)))
