"""Version 2's paths, one-shot (``/v1/<path>``) and registered (``/v1/functions/{id}/<path>``).

Routes are declared from one table (``ROUTES``): each path's summary,
description, operation ids and examples, so the fourteen operations cannot
drift apart. Handlers only read the body and hand it to ``app.derivatives``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple

from fastapi import APIRouter, Request

from app.bodies import MODELS
from app.derivatives import answer
from app.openapi import operation, responses
from app.route_support import read_body, service_of
from app.wire import JSONBytes

router = APIRouter()

_ERRORS = (400, 401, 413, 415, 422, 503)


class Route(NamedTuple):
    path: str
    operation: str  # camelCase operation id of the one-shot path; the registered one adds "OfFunction"
    summary: str
    doc: str
    example: str  # EXAMPLES key of the one-shot body; "_response" its answer, "_registered" the registered twins


ROUTES = (
    Route("value-and-jvp", "valueAndJvp", "Value and Jacobian-vector product",
          "Forward mode: J . tangents, one array per output, with one tangent per param.", "jvp"),
    Route("value-and-jacobian", "valueAndJacobian", "Value and Jacobian",
          "Per output, a block per param of shape output.shape + param.shape (forward or reverse by size).",
          "jacobian"),
    Route("hessian", "hessian", "Value, gradients and Hessian",
          "The Hessian of the sum of the outputs: hessian[i][j] has shape param_i.shape + param_j.shape.",
          "hessian"),
    Route("hvp", "hvp", "Value, gradients and Hessian-vector products",
          "hvp[i] = sum over j of H_ij . v_j (forward over reverse), with one vector per param.", "hvp"),
    Route("abstract-eval", "abstractEval", "Shapes, dtypes and cost without data",
          "The static pass alone: output and gradient shapes and dtypes and the estimated cost; no NumPy call.",
          "abstract_eval"),
    Route("check-gradients", "checkGradients", "Check gradients against finite differences",
          "Reverse-mode products against central differences along seeded random directions.", "check"),
    Route("batch/value-and-gradients", "batchValueAndGradients", "Value and gradients at many points",
          "One admission decision by total cost; each item answers its result or {error: <problem>}.",
          "batch"),
)


def _one_shot(path: str) -> Callable[[Request], Awaitable[JSONBytes]]:
    async def endpoint(request: Request) -> JSONBytes:
        return JSONBytes(await answer(service_of(request), path, None, await read_body(request)))

    return endpoint


def _registered(path: str) -> Callable[[Request], Awaitable[JSONBytes]]:
    async def endpoint(request: Request) -> JSONBytes:
        function_id: str = request.path_params["function_id"]
        return JSONBytes(await answer(service_of(request), path, function_id, await read_body(request)))

    return endpoint


def _add(r: Route) -> None:
    """The one-shot and the registered operation of ``r``."""
    registered, one_shot, answer_model = MODELS[r.path]
    router.add_api_route(
        f"/v1/{r.path}", _one_shot(r.path), methods=["POST"], operation_id=r.operation, summary=r.summary,
        description=r.doc, tags=["gradients"], response_model=answer_model,
        openapi_extra=operation(one_shot, r.example),
        responses=responses(answer_model, *_ERRORS, examples=(r.example + "_response",)))
    router.add_api_route(
        f"/v1/functions/{{function_id}}/{r.path}", _registered(r.path), methods=["POST"],
        operation_id=r.operation + "OfFunction", summary=r.summary + " of a registered function",
        description=r.doc + " A 404 unknown_function means: send it whole to the one-shot path.",
        tags=["functions"], response_model=answer_model,
        openapi_extra=operation(registered, r.example + "_registered", by_id=True),
        responses=responses(answer_model, 404, *_ERRORS, examples=(r.example + "_registered_response",)))


for route in ROUTES:
    _add(route)
