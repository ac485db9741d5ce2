"""Tensors to and from JSON: numbers, nested lists, and binary base64 objects.

A JSON tensor is a number, a rectangular nested list, or
``{"dtype": "float64"|"float32", "shape": [...], "data": "<base64>"}`` with
the raw little-endian bytes. Non-finite numbers follow the protobuf JSON
mapping (strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``), so every
response is valid JSON. Lists take one ``np.asarray`` call on the fast path;
a careful level-by-level walk runs only to place an error or to read
non-finite strings. ``pybase64`` (SIMD base64) is used when importable and
the standard library otherwise, with identical results.
"""

from __future__ import annotations

import binascii
import math
import sys
from collections.abc import Mapping
from itertools import chain
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from engine.attrs import MAX_RANK
from engine.errors import ArgumentError, EngineError, GraphError, TooLargeError, join_pointer
from engine.limits import DEFAULT_LIMITS, Limits

try:
    import pybase64 as b64
except ImportError:  # pragma: no cover - the accelerator is optional
    import base64 as b64  # type: ignore[no-redef]

__all__ = [
    "NONFINITE",
    "decode_constant",
    "decode_tensor",
    "encode_constant",
    "encode_tensor",
]

Array = npt.NDArray[Any]
Encoding = Literal["list", "base64"]

NONFINITE: dict[str, float] = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_WIRE_DTYPES: dict[str, np.dtype[Any]] = {"float64": np.dtype("<f8"), "float32": np.dtype("<f4")}
_BINARY_KEYS = frozenset(("dtype", "shape", "data"))
_NUMBER_TYPES = (int, float, np.integer, np.floating)
_NOT_NUMBERS = (bool, np.bool_)
_NATIVE_LE = sys.byteorder == "little"


def _describe(v: Any) -> str:
    """A short name for a JSON value, for messages ("the string 'abc'", "true", "null")."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"the string {v[:40]!r}"
    if isinstance(v, list | tuple):
        return f"a list of length {len(v)}"
    if isinstance(v, Mapping):
        return "an object"
    if isinstance(v, float) or (isinstance(v, int) and v.bit_length() < 128):
        return f"the number {v!r}"
    return f"a value of type {type(v).__name__}"


def _scalar(v: Any, pointer: str, strings: bool, err: type[EngineError]) -> float:
    """One JSON number (or non-finite string, when allowed) as a Python float."""
    if isinstance(v, _NUMBER_TYPES) and not isinstance(v, _NOT_NUMBERS):
        try:
            return float(v)
        except OverflowError:
            raise err("number is too large for float64 (above 1.8e308)", pointer) from None
    if strings and isinstance(v, str) and v in NONFINITE:
        return NONFINITE[v]
    hint = ""
    if isinstance(v, str):
        hint = ' (the only strings allowed are "NaN", "Infinity", "-Infinity")' if strings else (
            ' (wrap non-finite values as {"value": ...})' if v in NONFINITE else "")
    elif isinstance(v, bool):
        hint = " (booleans are not numbers; send 1.0 or 0.0)"
    elif isinstance(v, list | tuple):
        hint = " (the nested lists are ragged)"
    raise err(f"expected a number, got {_describe(v)}{hint}", pointer)


def _probe_shape(obj: Any, pointer: str, max_rank: int, err: type[EngineError]) -> list[int]:
    """The shape implied by the first element at every level (verified later)."""
    shape: list[int] = []
    probe = obj
    while isinstance(probe, list | tuple):
        shape.append(len(probe))
        if len(shape) > max_rank:
            raise err(f"nested lists are deeper than {max_rank} dimensions", pointer)
        if not probe:
            break
        probe = probe[0]
    return shape


def _pointer_at(base: str, flat: int, dims: list[int]) -> str:
    """JSON Pointer of element ``flat`` of a level whose leading dimensions are ``dims``."""
    index: list[int] = []
    for n in reversed(dims):
        flat, i = divmod(flat, n)
        index.append(i)
    return base + join_pointer(*reversed(index))


def _walk(obj: Any, shape: list[int], pointer: str, strings: bool, err: type[EngineError]) -> Array:
    """Slow path: check every level is rectangular, then read each number; errors carry the exact pointer."""
    level: list[Any] = [obj]
    for d, n in enumerate(shape):
        nxt: list[Any] = []
        for p, item in enumerate(level):
            if not isinstance(item, list | tuple) or len(item) != n:
                raise err(
                    f"ragged nested list: expected a list of length {n} like its first sibling, got {_describe(item)}",
                    _pointer_at(pointer, p, shape[:d]),
                )
            nxt.extend(item)
        level = nxt
    values = [
        v if type(v) is float else _scalar(v, _pointer_at(pointer, p, shape), strings, err)
        for p, v in enumerate(level)
    ]
    return np.array(values, dtype=np.float64).reshape(shape)


def _decode_list(obj: Any, pointer: str, max_elements: int, limits: Limits, strings: bool,
                 err: type[EngineError]) -> Array:
    shape = _probe_shape(obj, pointer, min(MAX_RANK, limits.max_json_depth), err)
    if math.prod(shape) > max_elements:
        raise TooLargeError(f"tensor of shape {shape} has more than {max_elements} elements", pointer)
    lists = sum(math.prod(shape[:d]) for d in range(len(shape)))  # JSON arrays over every level
    if lists > limits.max_json_lists:
        raise TooLargeError(f"nested lists of shape {shape} are {lists} JSON arrays, more than "
                            f"{limits.max_json_lists}; send large tensors in binary form "
                            '({"dtype", "shape", "data"})', pointer)
    flat: Any = obj
    for _ in range(len(shape) - 1):
        flat = chain.from_iterable(flat)
    try:
        # bool is an int subclass that NumPy would silently read as 1.0: only exact float/int pass.
        if set(map(type, flat)) <= {float, int}:
            return np.asarray(obj, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        pass
    return _walk(obj, shape, pointer, strings, err)


def _check_shape(shape: Any, pointer: str, err: type[EngineError]) -> list[int]:
    if not isinstance(shape, list | tuple) or len(shape) > MAX_RANK:
        raise err(f"shape must be a list of at most {MAX_RANK} sizes, got {_describe(shape)}", pointer)
    for i, n in enumerate(shape):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise err(f"a size must be a non-negative integer, got {_describe(n)}", pointer + join_pointer(i))
    return list(shape)


def _decode_binary(obj: Mapping[str, Any], pointer: str, max_elements: int, limits: Limits,
                   err: type[EngineError]) -> Array:
    """``{"dtype", "shape", "data"}``: sizes are checked before a byte is decoded."""
    for key in obj:
        if key not in _BINARY_KEYS:
            raise err(f"unknown key {str(key)[:40]!r} in a binary tensor (keys: dtype, shape, data)",
                      pointer + join_pointer(str(key)))
    for key in ("dtype", "shape", "data"):
        if key not in obj:
            raise err(f"a binary tensor needs '{key}' (keys: dtype, shape, data)", pointer)
    dtype = _WIRE_DTYPES.get(obj["dtype"]) if isinstance(obj["dtype"], str) else None
    if dtype is None:
        raise err(f'dtype must be "float64" or "float32", got {_describe(obj["dtype"])}', pointer + "/dtype")
    shape = _check_shape(obj["shape"], pointer + "/shape", err)
    n = math.prod(shape)
    if n > max_elements:
        raise TooLargeError(f"tensor of shape {shape} has more than {max_elements} elements", pointer)
    bound = max(max_elements, limits.max_tensor_elements)  # a request's budget may be below a zero-size shape
    big = next((k for k in shape if k > bound), None)
    if big is not None:  # [2**62, 2**62, 0] has no elements, but NumPy cannot even describe it
        raise TooLargeError(f"tensor of shape {shape} has a dimension of size {big}, more than the "
                            f"{bound} elements a tensor may have", pointer + "/shape")
    data = obj["data"]
    nbytes = n * dtype.itemsize
    want = 4 * -(-nbytes // 3)
    if not isinstance(data, str) or len(data) != want:
        got = f"{len(data)} characters" if isinstance(data, str) else _describe(data)
        raise err(f"data must be {want} base64 characters ({nbytes} bytes of {obj['dtype']} for shape {shape}), "
                  f"got {got}", pointer + "/data")
    try:
        raw = b64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise err("data is not valid base64 (RFC 4648, with padding)", pointer + "/data") from None
    if len(raw) != nbytes:
        raise err(f"data decodes to {len(raw)} bytes, expected {nbytes}", pointer + "/data")
    # A bytearray makes the result writable (frombuffer over bytes is read-only); the copy is a memcpy.
    arr = np.frombuffer(bytearray(raw), dtype=dtype).reshape(shape)
    return arr if _NATIVE_LE else arr.astype(dtype.newbyteorder("="))


def _decode(obj: Any, pointer: str, max_elements: int, limits: Limits, strings: bool,
            err: type[EngineError]) -> Array:
    if type(obj) is float or type(obj) is int:  # the common scalar, before the slower ABC checks below
        return np.asarray(_scalar(obj, pointer, strings, err), dtype=np.float64)
    if isinstance(obj, list | tuple):
        return _decode_list(obj, pointer, max_elements, limits, strings, err)
    if isinstance(obj, Mapping):
        return _decode_binary(obj, pointer, max_elements, limits, err)
    if isinstance(obj, np.ndarray):  # Python callers may hand arrays straight in
        if obj.size > max_elements:
            raise TooLargeError(f"tensor of shape {list(obj.shape)} has more than {max_elements} elements", pointer)
        return _as_float(obj)
    return np.asarray(_scalar(obj, pointer, strings, err), dtype=np.float64)


def decode_tensor(obj: Any, pointer: str = "", *, limits: Limits = DEFAULT_LIMITS,
                  max_elements: int | None = None) -> Array:
    """A JSON tensor (number, nested list or binary object) as an ndarray: float64 unless binary float32.

    Raises ``ArgumentError`` at ``pointer`` (and below it) for anything malformed and
    ``TooLargeError`` when the element count exceeds ``max_elements`` (default:
    ``limits.max_tensor_elements``), checked before anything large is allocated.
    """
    cap = limits.max_tensor_elements if max_elements is None else max_elements
    return _decode(obj, pointer, cap, limits, True, ArgumentError)


def decode_constant(obj: Any, pointer: str = "", *, limits: Limits = DEFAULT_LIMITS) -> float | Array:
    """A graph constant: a number becomes a Python float (weakly typed under NEP 50), anything else an ndarray.

    ``{"value": ...}`` wraps a constant and is the one place where the strings
    "NaN", "Infinity", "-Infinity" may stand for numbers. Raises ``GraphError``.
    """
    strings = False
    if isinstance(obj, Mapping) and "value" in obj:
        if len(obj) != 1:
            extra = sorted(str(k) for k in obj if k != "value")[0]
            raise GraphError(f"a {{\"value\": ...}} constant has no other keys, got {extra[:40]!r}",
                             pointer + join_pointer(extra))
        obj, pointer, strings = obj["value"], pointer + "/value", True
    if isinstance(obj, str) and not strings:
        raise GraphError("a string is a reference, not a constant", pointer)
    if not isinstance(obj, list | tuple | Mapping | np.ndarray):
        return _scalar(obj, pointer, strings, GraphError)
    return _decode(obj, pointer, limits.max_constant_elements, limits, strings, GraphError)


def _as_float(x: Any) -> Array:
    arr = np.asarray(x)
    return arr if arr.dtype in (np.float64, np.float32) else arr.astype(np.float64)


def encode_tensor(x: Any, encoding: Encoding = "list") -> Any:
    """An array or number as JSON: nested lists (non-finite values as strings) or the binary object."""
    arr = _as_float(x)
    if encoding == "base64":
        le = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
        return {"dtype": arr.dtype.name, "shape": list(arr.shape),
                "data": b64.b64encode(le.reshape(-1).view(np.uint8).data).decode("ascii")}
    if encoding != "list":
        raise ValueError(f"unknown encoding {encoding!r} (list or base64)")
    finite = np.isfinite(arr)
    if finite.all():
        return arr.tolist()
    out = arr.astype(object)
    out[np.isnan(arr)] = "NaN"
    out[arr == np.inf] = "Infinity"
    out[arr == -np.inf] = "-Infinity"
    return out.tolist()


def encode_constant(c: Any) -> Any:
    """A graph constant in canonical JSON: a Python number stays a number, an array becomes binary."""
    if type(c) is float or type(c) is int:
        try:
            f = float(c)
        except OverflowError:
            raise GraphError("constant is too large for float64 (above 1.8e308)") from None
        return f if math.isfinite(f) else {"value": "NaN" if math.isnan(f) else ("Infinity" if f > 0 else "-Infinity")}
    return encode_tensor(c, "base64")
