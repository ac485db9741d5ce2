"""The OpenAPI document: request bodies, examples and problem responses the routes cannot infer.

Routes read raw bodies (parsed once, in a worker thread), so FastAPI cannot
see their schemas; ``request_body`` and ``responses`` describe them, and
``install_openapi`` adds the envelope models and the hand-written components
of ``app.schemas`` and turns ``{"x-ref": name}`` markers into ``$ref``s.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app import bodies
from app.auth import PROTECTED_PREFIX, SECURITY, SECURITY_SCHEMES
from app.errors import problem_body
from app.schemas import (
    COMPONENTS,
    EvaluateRequest,
    FunctionInfo,
    Health,
    OpSet,
    Problem,
    RegisterRequest,
    ValueAndGradientsRequest,
    ValueAndGradientsResponse,
)

__all__ = ["EXAMPLES", "install_openapi", "request_body", "responses", "with_links"]

_MODELS: tuple[type[BaseModel], ...] = (
    EvaluateRequest, ValueAndGradientsRequest, RegisterRequest, ValueAndGradientsResponse, FunctionInfo, OpSet, Health,
    Problem, *bodies.REQUESTS, *bodies.RESPONSES)
SEED = {"inputs": ["x", "y"], "expression": "x*x*x*y - x*y*y"}
SEED_ID = "sha256:" + "0" * 64  # illustrative; the real id is returned by POST /v1/functions


def _b64(data: str, shape: list[int] | None = None) -> dict[str, Any]:
    return {"dtype": "float64", "shape": shape or [], "data": data}


EXAMPLES: dict[str, dict[str, Any]] = {
    "seed": {"summary": "TF's example: f(x, y) = x*x*x*y - x*y*y at (2, 3)",
             "value": {"function": SEED, "args": [2, 3]}},
    "params_by_name": {"summary": "only the gradient with respect to y", "value": {
        "function": SEED, "args": {"x": 2, "y": 3}, "params": ["y"]}},
    "graph": {"summary": "a JSON graph with a reduction and a cotangent", "value": {
        "function": {"version": 1, "opset": 1, "inputs": ["w", "x"],
                     "nodes": [{"id": "z", "op": "matmul", "args": ["x", "w"]},
                               {"id": "t", "op": "tanh", "args": ["z"]},
                               {"id": "s", "op": "sum", "args": ["t"], "attrs": {"axis": 0}}],
                     "outputs": "s"},
        "args": [[0.5, -0.25], [[1.0, 2.0], [3.0, 4.0]]], "params": ["w"], "dy": 2.0}},
    "base64": {"summary": "binary tensors (the response comes back in base64 too)", "value": {
        "function": SEED, "args": [_b64("AAAAAAAAAEA="), _b64("AAAAAAAACEA=")]}},
    "seed_response": {"summary": "value and both gradients", "value": {
        "value": 6.0, "gradients": [27.0, -4.0], "params": ["x", "y"]}},
    "params_response": {"summary": "with params [1] or [\"y\"]", "value": {
        "value": 6.0, "gradients": [-4.0], "params": ["y"]}},
    "base64_response": {"summary": "binary encoding", "value": {
        "value": _b64("AAAAAAAAGEA="), "gradients": [_b64("AAAAAAAAO0A="), _b64("AAAAAAAAEMA=")],
        "params": ["x", "y"]}},
    **bodies.EXAMPLES,  # Version 2's paths
}

_PROBLEMS: dict[int, tuple[str, str, str | None]] = {
    400: ("invalid_json", 'bare NaN/Infinity tokens are not JSON (RFC 8259); send non-finite numbers as the strings '
                          '"NaN", "Infinity" and "-Infinity" (line 1, column 60)', None),
    401: ("unauthorized", "this server requires an API key: send 'Authorization: Bearer <key>' or "
                          "'X-API-Key: <key>'", None),
    404: ("unknown_function", "this server does not hold function 'sha256:…'; register it (POST /v1/functions) or "
                              "send it with the arguments (POST /v1/value-and-gradients)", None),
    413: ("payload_too_large", "tensor of shape [100000, 1000] has more than 16777216 elements", "/args/0"),
    415: ("unsupported_media_type", "the body must be JSON: send 'Content-Type: application/json'", None),
    422: ("invalid_params", "params must be all strings or all integers; got [0, 'y'].", None),
    503: ("overloaded", "all 4 evaluation slots are busy; retry after 1 s", None),
}
_DESCRIPTIONS = {400: "Malformed JSON", 401: "Missing or invalid API key (only when the server sets keys)",
                 404: "Unknown function", 413: "Body, tensor or function too large", 415: "Body not JSON",
                 422: "Invalid function, args, params or dy", 503: "Every evaluation slot is busy (Retry-After)"}


def _msgpack(component: str) -> dict[str, Any]:
    """The MessagePack twin of a JSON media type: same schema, binary tensors' data as bin (app.msgpack_wire)."""
    return {"application/msgpack": {"schema": {"x-ref": component}}}


def request_body(component: str, *examples: str) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its JSON body itself."""
    media: dict[str, Any] = {"schema": {"x-ref": component}}
    if examples:
        media["examples"] = {name: EXAMPLES[name] for name in examples}
    return {"requestBody": {"required": True, "content": {"application/json": media, **_msgpack(component)}}}


def responses(ok: str | None = None, *statuses: int, examples: tuple[str, ...] = (),
              ok_status: int = 200, ok_description: str = "Success") -> dict[int | str, dict[str, Any]]:
    """The success response (schema ``ok``) and the problem responses ``statuses`` of a route."""
    out: dict[int | str, dict[str, Any]] = {}
    if ok is not None:
        media: dict[str, Any] = {"schema": {"x-ref": ok}}
        if examples:
            media["examples"] = {name: EXAMPLES[name] for name in examples}
        out[ok_status] = {"description": ok_description, "content": {"application/json": media, **_msgpack(ok)}}
    for status in statuses:
        code, detail, pointer = _PROBLEMS[status]
        entry: dict[str, Any] = {"description": _DESCRIPTIONS[status], "content": {"application/problem+json": {
            "schema": {"x-ref": "Problem"}, "example": problem_body(code, detail, pointer)}}}
        if status == 503:
            entry["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
        if status == 401:
            entry["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        out[status] = entry
    return out


def with_links(out: dict[int | str, dict[str, Any]], statuses: tuple[int, ...],
               links: dict[str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """``out`` with OpenAPI links (what a client can do next with the answer) on the responses ``statuses``."""
    for status in statuses:
        out[status]["links"] = links
    return out


def _link(node: Any) -> Any:
    """Replace every ``{"x-ref": name, ...}`` by ``{"$ref": "#/components/schemas/name", ...}``."""
    if isinstance(node, dict):
        if "x-ref" in node:
            rest = {k: _link(v) for k, v in node.items() if k in ("description", "default")}
            return {"$ref": f"#/components/schemas/{node['x-ref']}", **rest}
        return {k: _link(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_link(v) for v in node]
    return node


def _secure(schema: dict[str, Any]) -> None:
    """Document the API-key schemes on every operation that ``ApiKeyMiddleware`` guards."""
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in schema.get("paths", {}).items():
        if path.startswith(PROTECTED_PREFIX):
            for operation in operations.values():
                operation["security"] = SECURITY


def _tidy(schema: dict[str, Any]) -> None:
    """Drop FastAPI's automatic 422 ``HTTPValidationError`` (our 422s are problems)."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            response = operation.get("responses", {}).get("422", {})
            if "HTTPValidationError" in str(response):
                del operation["responses"]["422"]
    for name in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` include the envelope models, hand-written components and the auth schemes."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            _, defs = models_json_schema([(m, "validation") for m in _MODELS],
                                         ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(defs.get("$defs", {}))
            components.update(COMPONENTS)
            components.update(bodies.COMPONENTS)
            _secure(schema)
            _tidy(schema)
            app.openapi_schema = _link(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
