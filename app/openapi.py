"""What FastAPI cannot infer about the routes: bodies read raw, problem responses, MessagePack, examples.

FastAPI documents what it parses and returns: every route declares its ``response_model``. The
evaluation routes read their bodies raw (parsed once, in a worker thread, because FastAPI's body
parsing costs more than a small evaluation), and so does registration (its body may be MessagePack,
which FastAPI does not parse); ``operation`` declares such a body in ``openapi_extra`` as a ``$ref`` to
its pydantic model, and ``responses`` the MessagePack twin of the answer, its examples and the RFC 9457
problems. ``install_openapi`` adds the components no route hands to FastAPI; nothing else rewrites
the generated document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app import bodies
from app.auth import SECURITY, SECURITY_SCHEMES
from app.errors import problem_body
from app.schemas import EvaluateRequest, Problem, RegisterRequest, ValueAndGradientsRequest
from engine import load_function

__all__ = [
    "EXAMPLES", "SEED", "SEED_FUNCTION_ID", "SEED_GRAPH", "install_openapi", "operation", "ref", "responses",
]

REF_TEMPLATE = "#/components/schemas/{model}"
SEED = {"inputs": ["x", "y"], "expression": "x*x*x*y - x*y*y"}
SEED_GRAPH = load_function(SEED)  # the function the registered-function examples name: held from startup
SEED_FUNCTION_ID = SEED_GRAPH.id


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
    "seed_registered": {"summary": "TF's seed at (2, 3)", "value": {"args": [2, 3]}},
    "params_by_name_registered": {"summary": "only the gradient with respect to y", "value": {
        "args": {"x": 2, "y": 3}, "params": ["y"]}},
    "register_seed": {"summary": "TF's seed as a text expression", "value": {"function": SEED}},
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
_HEADERS = {401: {"WWW-Authenticate": {"schema": {"type": "string"}}},
            503: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}}
_ID_DOC = "the id returned by registration: sha256:<hex>"
_FUNCTION_ID = {"name": "function_id", "in": "path", "required": True, "description": _ID_DOC,
                "example": SEED_FUNCTION_ID,
                "schema": {"type": "string", "title": "Function Id", "description": _ID_DOC}}


def ref(model: type[BaseModel]) -> dict[str, str]:
    """A ``$ref`` to ``model``'s component (named after the class, as pydantic and FastAPI name it)."""
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def _examples(names: Sequence[str]) -> dict[str, Any]:
    return {"examples": {name: EXAMPLES[name] for name in names}} if names else {}


def _msgpack(model: type[BaseModel]) -> dict[str, Any]:
    """The MessagePack twin of a JSON body: same schema, binary tensors' data as bin (``app.msgpack_wire``)."""
    return {"application/msgpack": {"schema": ref(model)}}


def operation(body: type[BaseModel] | None = None, *examples: str, by_id: bool = False) -> dict[str, Any]:
    """``openapi_extra`` of an operation under ``/v1/``: the API keys, the body it reads itself (Swagger UI's
    "Try it out" sends the first example) and the ``function_id`` path parameter, which the routes read from
    ``request.path_params`` (FastAPI's typed path parameter costs about 14 µs a request, a tenth of a
    registered call, for a string it would not check anyway)."""
    extra: dict[str, Any] = {"security": SECURITY}
    if body is not None:
        extra["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": ref(body), **_examples(examples)}, **_msgpack(body)}}
    if by_id:
        extra["parameters"] = [_FUNCTION_ID]
    return extra


def responses(model: type[BaseModel] | None, *problems: int, examples: Sequence[str] = (), status: int = 200,
              description: str = "Success") -> dict[int | str, dict[str, Any]]:
    """``responses`` of a route: the answer with status ``status`` (FastAPI writes its JSON schema from
    ``model``), its examples and MessagePack twin, and the problems with statuses ``problems``."""
    out: dict[int | str, dict[str, Any]] = {}
    if model is not None:
        out[status] = {"model": model, "description": description,
                       "content": {"application/json": _examples(examples), **_msgpack(model)}}
    for problem in problems:
        code, detail, pointer = _PROBLEMS[problem]
        out[problem] = {"description": _DESCRIPTIONS[problem], "content": {"application/problem+json": {
            "schema": ref(Problem), "example": problem_body(code, detail, pointer)}}}
        if problem in _HEADERS:
            out[problem]["headers"] = _HEADERS[problem]
    return out


# Components no route hands to FastAPI: the bodies read raw, and problems, which the error handlers write.
UNPARSED: tuple[type[BaseModel], ...] = (
    ValueAndGradientsRequest, EvaluateRequest, RegisterRequest, *bodies.REQUESTS, Problem)


def install_openapi(app: FastAPI) -> None:
    """Add the components of ``UNPARSED`` and the API-key schemes to the document FastAPI generates.

    FastAPI collects components only from the models routes parse or return, and security schemes only
    from dependencies; the raw bodies, the problems and the API keys (checked by
    ``app.auth.ApiKeyMiddleware``, a header scan, where a dependency costs more than a small evaluation)
    reach the document as ``$ref``s and ``security`` in ``openapi_extra``. Overriding ``app.openapi`` is
    FastAPI's documented way to extend the document. FastAPI generates in validation mode too
    (``separate_input_output_schemas=False``), so where both generate a component the two agree (but
    for the null defaults FastAPI leaves out).
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()  # FastAPI's document, which it caches as ``app.openapi_schema``
        _, defs = models_json_schema([(m, "validation") for m in UNPARSED], ref_template=REF_TEMPLATE)
        components = schema["components"]
        components["schemas"] = dict(sorted({**components["schemas"], **defs["$defs"]}.items()))
        components["securitySchemes"] = SECURITY_SCHEMES
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
