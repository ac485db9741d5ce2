"""Bodies on the wire: parse once with orjson, check the envelope, decode tensors with the engine's codec.

A request body is parsed exactly once; pydantic checks only the envelope's
keys, and each tensor becomes an ndarray with one NumPy call in
``engine.codec``. Responses are built from the codec's JSON forms and
serialised by orjson; finite float64 arrays in list encoding go to orjson as
arrays (``OPT_SERIALIZE_NUMPY``), which skips building a Python list.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain, compress
from typing import Any, Literal, TypeVar

import numpy as np
import orjson
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from app.errors import JSONTooDeepError, MalformedJSONError, RequestShapeError
from engine.codec import decode_tensor, encode_tensor
from engine.errors import ArgumentError, CotangentError, TooLargeError, join_pointer
from engine.limits import Limits

__all__ = [
    "Encoding", "JSONBytes", "check_depth", "decode_args", "decode_dy", "dumps", "encode_result", "parse_body",
    "parse_envelope",
]

Encoding = Literal["list", "base64"]
M = TypeVar("M", bound=BaseModel)


class JSONBytes(Response):
    """A JSON body serialised already (by orjson)."""

    media_type = "application/json"


_NONFINITE_TOKENS = ("NaN", "Infinity", "-Infinity")
_TENSOR_FIELDS = frozenset(("args", "dy"))  # the codec bounds their depth (rank <= 32) itself
_CONTAINERS = frozenset((list, dict))
_FIELD_CODES = {"function": "invalid_graph", "args": "invalid_args", "params": "invalid_params", "dy": "invalid_dy"}


def parse_body(body: bytes) -> Any:
    """The body as JSON; a 400 that says what is wrong (and how to send NaN) otherwise."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        if "depth" in e.msg or "recursion" in e.msg:
            raise JSONTooDeepError("the body nests JSON arrays/objects more than 1024 levels deep") from None
        raise MalformedJSONError(_json_message(body, e)) from None


def _json_message(body: bytes, e: orjson.JSONDecodeError) -> str:
    if not body.strip():
        return "the request body is empty; send a JSON object"
    text = body.decode("utf-8", errors="replace")
    here = text[max(e.pos - 1, 0):e.pos + 9]  # orjson points at the token, or just after a '-'
    if any(tok in here for tok in _NONFINITE_TOKENS):
        return ('bare NaN/Infinity tokens are not JSON (RFC 8259); send non-finite numbers as the strings '
                '"NaN", "Infinity" and "-Infinity"' + f" (line {e.lineno}, column {e.colno})")
    return f"malformed JSON: {e.msg} at line {e.lineno}, column {e.colno}"


def check_depth(envelope: dict[str, Any], max_depth: int) -> None:
    """Raise if the envelope nests deeper than ``max_depth`` (tensor fields are bounded by the codec)."""
    # Level by level, with the per-element work in C (map/compress), so a 200,000-node graph costs
    # milliseconds; the pointer is worked out only when a level is too deep.
    level = [v for k, v in envelope.items() if k not in _TENSOR_FIELDS and type(v) in _CONTAINERS]
    depth = 2
    while level:
        if depth > max_depth:
            raise JSONTooDeepError(f"JSON nests deeper than {max_depth} levels", _deep_pointer(envelope, max_depth))
        values = list(chain.from_iterable(c.values() if type(c) is dict else c for c in level))
        level = list(compress(values, map(_CONTAINERS.__contains__, map(type, values))))
        depth += 1


def _deep_pointer(envelope: dict[str, Any], max_depth: int) -> str:
    """The pointer of a container nested deeper than ``max_depth`` (the error path only)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [
        (v, (k,)) for k, v in envelope.items() if k not in _TENSOR_FIELDS and type(v) in _CONTAINERS]
    while stack:
        node, path = stack.pop()
        if len(path) >= max_depth:
            return join_pointer(*path)
        items = node.items() if type(node) is dict else enumerate(node)
        stack.extend((v, (*path, k)) for k, v in items if type(v) in _CONTAINERS)
    return ""


def parse_envelope(body: bytes, model: type[M], max_depth: int) -> M:
    """Parse the body once and check its envelope against ``model`` (tensors stay raw JSON)."""
    obj = parse_body(body)
    if not isinstance(obj, dict):
        raise RequestShapeError(f"the body must be a JSON object, got {_kind(obj)}")
    check_depth(obj, max_depth)
    try:
        return model.model_validate(obj)
    except ValidationError as e:
        raise _envelope_error(e, model) from None


def _kind(obj: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(obj), "a number")


def _envelope_error(e: ValidationError, model: type[BaseModel]) -> RequestShapeError:
    err = e.errors(include_url=False)[0]
    field = str(err["loc"][0]) if err["loc"] else ""
    fields = ", ".join(model.model_fields)
    code = _FIELD_CODES.get(field)
    if err["type"] == "extra_forbidden":
        message, code = f"unknown field {field!r} (fields: {fields})", None
    elif err["type"] == "missing":
        message = f"{field!r} is required"
    elif field == "args":
        message = "args must be a list (by position) or an object (by input name)"
    elif field == "function":
        message = 'function must be an object: a JSON graph or {"inputs": [...], "expression": "..."}'
    else:
        message = f"{field}: {err['msg']}"
    return RequestShapeError(message, "/" + field if field else None, code=code)


def _decode_all(items: Sequence[tuple[str, Any]], limits: Limits, budget: int) -> tuple[list[np.ndarray], int]:
    """Decode tensors in order, keeping their total element count under ``budget``."""
    out = []
    for pointer, obj in items:
        cap = min(limits.max_tensor_elements, budget)
        try:
            x = decode_tensor(obj, pointer, limits=limits, max_elements=cap)
        except TooLargeError as e:
            if cap == limits.max_tensor_elements:
                raise
            raise TooLargeError(f"{e.message}: only {cap} elements of the request's limit are left for it; "
                                "send fewer or smaller tensors", pointer) from None
        budget -= x.size
        out.append(x)
    return out, budget


def decode_args(args: list[Any] | dict[str, Any], limits: Limits,
                budget: int) -> tuple[list[np.ndarray] | dict[str, np.ndarray], bool, int]:
    """Decoded args (same container), whether any was binary, and the element budget left."""
    if isinstance(args, dict):
        keys = list(args)
        values, budget = _decode_all([("/args" + join_pointer(k), args[k]) for k in keys], limits, budget)
        return dict(zip(keys, values, strict=True)), any(isinstance(a, dict) for a in args.values()), budget
    values, budget = _decode_all([(f"/args/{i}", a) for i, a in enumerate(args)], limits, budget)
    return values, any(isinstance(a, dict) for a in args), budget


def decode_dy(dy: Any, outputs: int, is_list: bool, limits: Limits, budget: int) -> Any:
    """``dy`` as arrays: one tensor for a single output, a list of ``outputs`` tensors for a list output."""
    if dy is None:
        return None
    if is_list and (not isinstance(dy, list) or len(dy) != outputs):
        got = f"a list of {len(dy)}" if isinstance(dy, list) else "a single tensor"
        raise CotangentError(f"the function has a list of {outputs} output(s): dy must be a list of "
                             f"{outputs} tensor(s), got {got}", "/dy")
    items = [(f"/dy/{i}", d) for i, d in enumerate(dy)] if is_list else [("/dy", dy)]
    try:
        values, _ = _decode_all(items, limits, budget)
    except ArgumentError as e:  # the codec speaks of arguments; here the tensor is a cotangent
        raise CotangentError(e.message, e.pointer) from None
    return values if is_list else values[0]


def _encode(x: Any, encoding: Encoding) -> Any:
    if x is None:
        return None
    arr = np.asarray(x)
    if encoding == "list" and arr.dtype == np.float64:
        if arr.ndim == 0:  # scalars, the common small answer: a float, unless it is NaN or infinite
            number = float(arr)
            if math.isfinite(number):
                return number
        elif np.isfinite(arr).all():
            return np.ascontiguousarray(arr)  # orjson writes it directly; same digits as float repr
    return encode_tensor(arr, encoding)


def encode_result(value: Any, grads: Sequence[Any], names: Sequence[str], encoding: Encoding) -> bytes:
    """The response body ``{"value", "gradients", "params"}`` in ``encoding``."""
    encoded = [_encode(v, encoding) for v in value] if isinstance(value, list) else _encode(value, encoding)
    return dumps({"value": encoded, "gradients": [_encode(g, encoding) for g in grads], "params": list(names)})


def dumps(obj: Any) -> bytes:
    """orjson with NumPy arrays allowed (callers pass only finite float arrays)."""
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)

