"""Bodies on the wire: parse once with orjson, check the envelope, decode tensors with the engine's codec.

A request body is parsed exactly once; pydantic checks only the envelope's
keys, and each tensor becomes an ndarray with one NumPy call in
``engine.codec``. Responses are built from the codec's JSON forms and
serialised by orjson; finite float64 arrays in list encoding go to orjson as
arrays (``OPT_SERIALIZE_NUMPY``), which skips building a Python list.
Every function here also speaks MessagePack when the request negotiated it
(``app.msgpack_wire``): parsing, tensor decoding and encoding, ``dumps`` and
``JSONBytes`` follow the formats recorded for the request being served.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import chain, compress
from typing import Any, Literal, TypeVar

import numpy as np
import orjson
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from app import msgpack_wire
from app.errors import JSONTooDeepError, MalformedJSONError, RequestShapeError
from engine import ArgumentError, CotangentError, Limits, TooLargeError, decode_tensor, encode_tensor, join_pointer

__all__ = [
    "Encoding", "JSONBytes", "check_depth", "decode_args", "decode_dy", "decode_vectors", "dumps", "encode_result",
    "encode_tree", "parse_body", "parse_envelope",
]

Encoding = Literal["list", "base64"]
M = TypeVar("M", bound=BaseModel)


class JSONBytes(Response):
    """A body serialised already by ``dumps`` (JSON, or MessagePack when the request negotiated it).

    Labelled with the negotiated media type; a JSON body (starting ``{`` or ``[``, which no
    MessagePack map or array does) given when MessagePack was negotiated, such as a
    function's canonical form, is transcoded.
    """

    media_type = "application/json"

    def __init__(self, content: bytes, status_code: int = 200, headers: Mapping[str, str] | None = None) -> None:
        if msgpack_wire.response_is_msgpack():
            self.media_type = msgpack_wire.MSGPACK
            if content[:1] in (b"{", b"["):
                content = msgpack_wire.transcode(content)
        super().__init__(content, status_code, headers)


_NONFINITE_TOKENS = ("NaN", "Infinity", "-Infinity")
_TENSOR_FIELDS = frozenset(("args", "dy"))  # the codec bounds their depth (rank <= 32) itself
_CONTAINERS = frozenset((list, dict))
_BINARY = (dict, np.ndarray)  # a binary tensor: a JSON object, or an array MessagePack decoding made
_FIELD_CODES = {"function": "invalid_graph", "args": "invalid_args", "params": "invalid_params", "dy": "invalid_dy"}


def parse_body(body: bytes) -> Any:
    """The body as JSON (or MessagePack); a 400 that says what is wrong (and how to send NaN) otherwise."""
    if msgpack_wire.request_is_msgpack():
        return msgpack_wire.loads(body)
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
    binary = msgpack_wire.request_is_msgpack()
    if not isinstance(obj, dict):
        raise RequestShapeError(f"the body must be a {'MessagePack map' if binary else 'JSON object'}, got "
                                f"{_kind(obj)}")
    check_depth(obj, max_depth)
    if binary:
        msgpack_wire.check_function(obj)
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
        msgpack_wire.explain_binary(obj, pointer)
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
        return dict(zip(keys, values, strict=True)), any(isinstance(a, _BINARY) for a in args.values()), budget
    values, budget = _decode_all([(f"/args/{i}", a) for i, a in enumerate(args)], limits, budget)
    return values, any(isinstance(a, _BINARY) for a in args), budget


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
    if msgpack_wire.response_is_msgpack():
        return msgpack_wire.encode(x, encoding)
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


def decode_vectors(vectors: Any, n_params: int, name: str, limits: Limits, budget: int) -> Any:
    """``tangents``/``vectors``: one tensor per param (a list), or a bare tensor when there is one param."""
    if n_params == 1 and not (isinstance(vectors, list) and len(vectors) == 1):
        return _decode_all([("/" + name, vectors)], limits, budget)[0][0]
    if not isinstance(vectors, list) or len(vectors) != n_params:
        got = f"a list of {len(vectors)}" if isinstance(vectors, list) else "a single tensor"
        raise ArgumentError(f"{name} must hold one tensor per param: {n_params} param(s), got {got}", "/" + name)
    return _decode_all([(f"/{name}/{i}", v) for i, v in enumerate(vectors)], limits, budget)[0]


def encode_tree(obj: Any, encoding: Encoding) -> Any:
    """Nested lists of tensors (None stays null) in ``encoding``: Jacobian and Hessian blocks, batch results."""
    if isinstance(obj, list | tuple):
        return [encode_tree(x, encoding) for x in obj]
    return _encode(obj, encoding)


def dumps(obj: Any) -> bytes:
    """The response body: orjson with NumPy arrays allowed (callers pass only finite float arrays), or MessagePack."""
    if msgpack_wire.response_is_msgpack():
        return msgpack_wire.dumps(obj)
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)

