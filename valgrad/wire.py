"""The SDK's bodies on the wire: MessagePack by default, JSON on request; answers read by their media type.

A request body stays a Python object (``Body``) until the client that sends
it serialises it once, in its encoding. Arrays in it become binary tensors:
in MessagePack ``{"dtype", "shape", "data": <bin>}`` packed straight from the
array's memory (no base64, no intermediate bytes object), in JSON the base64
form. A MessagePack answer's binary tensors become arrays with one
``np.frombuffer`` each, copied once so that results are writable as local
ones are. Problems are JSON whatever was asked (``valgrad.errors`` reads them).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import msgpack
import numpy as np

from engine import encode_tensor
from valgrad.errors import APIResponseError

__all__ = ["ENCODINGS", "MSGPACK", "Body", "Encoding", "check_encoding", "headers_for", "json_size", "payload",
           "serialize"]

Encoding = Literal["msgpack", "json"]
ENCODINGS = ("msgpack", "json")
MSGPACK = "application/msgpack"
_DTYPES: dict[str, np.dtype[Any]] = {"float64": np.dtype("<f8"), "float32": np.dtype("<f4")}
_NATIVE_LE = sys.byteorder == "little"


@dataclass(frozen=True, slots=True)
class Body:
    """A request body to be serialised, once, in the sending client's encoding."""

    obj: Any


def check_encoding(encoding: str) -> Encoding:
    """``encoding`` if it is one the SDK speaks."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be 'msgpack' or 'json', got {encoding!r}")
    return encoding  # type: ignore[return-value]


def headers_for(encoding: Encoding) -> dict[str, str]:
    """Content-Type and Accept for ``encoding`` (problems come back as application/problem+json anyway)."""
    media = MSGPACK if encoding == "msgpack" else "application/json"
    return {"Accept": media, "Content-Type": media}


def _binary(x: np.ndarray) -> dict[str, Any]:
    arr = x if x.dtype in (np.float64, np.float32) else x.astype(np.float64)
    le = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<"))
    return {"dtype": arr.dtype.name, "shape": list(arr.shape), "data": le.reshape(-1).view(np.uint8).data}


def _pack_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return _binary(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot send a {type(obj).__name__}")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return encode_tensor(obj, "base64")
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot send a {type(obj).__name__}")


def serialize(body: Body | bytes | None, encoding: Encoding) -> bytes | None:
    """The bytes to send for ``body`` (bytes are sent as they are)."""
    if not isinstance(body, Body):
        return body
    if encoding == "msgpack":
        return msgpack.packb(body.obj, default=_pack_default)  # type: ignore[no-any-return]
    return json.dumps(body.obj, separators=(",", ":"), allow_nan=False, default=_json_default).encode()


def json_size(obj: Any) -> int:
    """Bytes ``obj`` takes as JSON (arrays as base64): an upper bound of its MessagePack size, for chunking."""
    return len(serialize(Body(obj), "json") or b"")


def _tensor_hook(obj: dict[Any, Any]) -> Any:
    """A binary tensor map as a writable array (one copy of its bin); anything else as it is."""
    data = obj.get("data")
    if len(obj) != 3 or type(data) is not bytes:
        return obj
    dtype, shape = _DTYPES.get(obj.get("dtype")), obj.get("shape")  # type: ignore[arg-type]
    if dtype is None or type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape):
        return obj
    if math.prod(shape) * dtype.itemsize != len(data):
        raise APIResponseError(f"a binary tensor of shape {shape} came with {len(data)} bytes")
    arr = np.frombuffer(data, dtype=dtype).reshape(shape)
    return arr.astype(dtype.newbyteorder("=")) if not _NATIVE_LE else arr.copy()


def payload(response: httpx.Response) -> Any:
    """A successful answer's body, by its media type: MessagePack (binary tensors as arrays) or JSON."""
    media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == MSGPACK:
        try:
            return msgpack.unpackb(response.content, object_hook=_tensor_hook, strict_map_key=False)
        except (ValueError, TypeError, msgpack.UnpackException) as e:
            raise APIResponseError(f"the service sent invalid MessagePack ({e})") from None
    try:
        return response.json()
    except ValueError as e:
        raise APIResponseError(f"the service sent invalid JSON ({e})") from None
