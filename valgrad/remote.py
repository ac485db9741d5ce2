"""Remote functions: what a call sends (arguments as base64 tensors) and how its answer is read back.

A Python function is traced symbolically once per arity (``engine.trace``)
into a JSON graph; afterwards a call only checks its arguments as the local
API does (same errors, raised before any request) and encodes them. Answers
are decoded into ``engine.api.Array``s and rebuilt into the function's own
output structure (list, tuple or dict), so remote and local results look
the same.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.api import Array
from engine.codec import decode_tensor, encode_tensor
from engine.errors import ArgumentError, CotangentError, EngineError
from engine.limits import Limits
from engine.params import resolve_params
from engine.trace import positional_names, trace
from engine.tree import flatten
from valgrad.errors import APIResponseError

__all__ = ["FunctionHandle", "RemoteFunction", "Spec", "request_body", "spec_of"]

_KEYWORDS = "Functions to be differentiated cannot receive keyword arguments."


@dataclass(frozen=True)
class FunctionHandle:
    """A function registered with the service; ``function`` is kept to resend it to a replica that lacks it."""

    id: str
    inputs: list[Any]
    outputs: Any
    opset: int
    function: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_answer(cls, answer: Any, function: Mapping[str, Any]) -> FunctionHandle:
        """The handle for the service's answer to ``POST /v1/functions``."""
        try:
            return cls(str(answer["id"]), list(answer["inputs"]), answer["outputs"], int(answer["opset"]), function)
        except (KeyError, TypeError, ValueError) as e:
            raise APIResponseError(f"unexpected answer to a registration: {e!r}") from None


@dataclass
class Spec:
    """A function as sent to the service, and how to read values back (``structured`` None: from the answer)."""

    function: Mapping[str, Any]
    structured: bool | None
    rebuild: Callable[[list[Any]], Any] = list
    names: list[str] | None = None
    traced: bool = False  # params are resolved here, as the local API does, before any request
    function_id: str | None = None
    n_outputs: int | None = None

    def positions(self, params: Any, args: Sequence[Any] | Mapping[str, Any]) -> Any:
        """``params`` to send: resolved to indices for a traced function, else as given (the service checks)."""
        if self.traced:
            return resolve_params(params, self.names, len(args))
        return list(params) if isinstance(params, tuple) else params

    def decode(self, payload: Any) -> tuple[Any, list[Any]]:
        """``(value, [gradients])`` from a response body."""
        try:
            raw, grads = payload["value"], payload["gradients"]
            structured = isinstance(raw, list) if self.structured is None else self.structured
            if structured:
                if not isinstance(raw, list) or self.n_outputs not in (None, len(raw)):
                    raise APIResponseError(f"expected a list of {self.n_outputs} output(s), got {raw!r:.80}")
                value = self.rebuild([_decode(v, f"/value/{i}") for i, v in enumerate(raw)])
            else:
                value = _decode(raw, "/value")
            return value, [None if g is None else _decode(g, f"/gradients/{i}") for i, g in enumerate(grads)]
        except (KeyError, TypeError, EngineError) as e:
            raise APIResponseError(f"unexpected response body: {e!r}") from None


@dataclass
class Entry:
    """One traced arity of a remote function and its id once registered."""

    spec: Spec
    function_id: str | None = None
    registering: bool = False
    teach: bool = False  # a replica lacked the function: send the next call whole as well


class RemoteFunction:
    """The state behind ``client.value_and_gradients_function(f)``: traces and ids per arity."""

    def __init__(self, f: Callable[..., Any], params: Any, unconnected_gradients: str) -> None:
        self.f = f
        self.params = params
        self.unconnected_gradients = check_unconnected(unconnected_gradients)
        self.names = positional_names(f)
        self._entries: dict[int, Entry] = {}
        self._lock = threading.Lock()

    def prepare(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Entry, dict[str, Any]]:
        """Check a call as the local API does and build its body (without the function)."""
        dy = kwargs.pop("dy", None)
        if kwargs:
            raise ValueError(_KEYWORDS)
        positions = resolve_params(self.params, self.names, len(args))
        entry = self._entry(len(args))
        return entry, request_body(entry.spec, args, positions, dy, self.unconnected_gradients)

    def _entry(self, n_args: int) -> Entry:
        with self._lock:  # threads sharing a client trace each arity once
            entry = self._entries.get(n_args)
            if entry is None:
                entry = self._entries[n_args] = Entry(_traced_spec(self.f, n_args, self.names))
            return entry


def spec_of(function: Any, args: Sequence[Any] | Mapping[str, Any] | None = None) -> Spec:
    """The ``Spec`` of a handle, a JSON graph or expression, or a Python function (traced for ``args``)."""
    if isinstance(function, FunctionHandle):
        return Spec(function.function, _list_output(function.function), function_id=function.id)
    if isinstance(function, Mapping):
        return Spec(function, _list_output(function))
    if callable(function):
        names = positional_names(function)
        if args is None:
            if not names:
                raise ValueError("registering a Python function needs named positional parameters; "
                                 "use value_and_gradients_function for *args functions")
            return _traced_spec(function, len(names), names)
        if isinstance(args, Mapping):
            raise ValueError("a Python function takes its arguments as a list (by position)")
        return _traced_spec(function, len(args), names)
    raise TypeError(f"function must be a JSON graph, an expression, a FunctionHandle or a callable, "
                    f"got {type(function).__name__}")


def _traced_spec(f: Callable[..., Any], n_args: int, names: list[str] | None) -> Spec:
    traced = trace(f, n_args)
    return Spec(traced.graph, traced.structured, traced.rebuild, names, traced=True, n_outputs=traced.n_outputs)


def _list_output(function: Mapping[str, Any]) -> bool | None:
    out = function.get("outputs", function.get("expression"))
    return None if out is None else isinstance(out, list)


def request_body(spec: Spec, args: Sequence[Any] | Mapping[str, Any], params: Any, dy: Any,
                 unconnected_gradients: str) -> dict[str, Any]:
    """The JSON body of an evaluation, without ``function``; arrays go as base64 tensors."""
    if isinstance(args, Mapping):
        encoded: Any = {str(k): _encode_arg(a, k) for k, a in args.items()}
    else:
        encoded = [_encode_arg(a, i) for i, a in enumerate(args)]
    body: dict[str, Any] = {"args": encoded, "encoding": "base64"}
    if params is not None:
        body["params"] = params
    if dy is not None:
        body["dy"] = _encode_dy(dy, spec.structured, spec.n_outputs)
    if check_unconnected(unconnected_gradients) != "none":
        body["unconnected_gradients"] = unconnected_gradients
    return body


def check_unconnected(value: str) -> str:
    """``unconnected_gradients`` checked as the local API checks it."""
    if value not in ("none", "zero"):
        raise ValueError(f"unconnected_gradients must be 'none' or 'zero', got {value!r}")
    return value


def _encode_arg(a: Any, key: int | str) -> Any:
    """An argument as the local API takes it: float32/float64 kept, float16 as float32, integers and booleans as
    float64."""
    if isinstance(a, int | float) and math.isfinite(a):
        return float(a)
    x = np.asarray(a)
    if x.dtype.kind == "f" and x.dtype.itemsize in (4, 8):
        return encode_tensor(x, "base64")
    if x.dtype.kind == "f":  # float16 computes as float32, long double as float64: as the local API does
        return encode_tensor(x.astype(np.float32 if x.dtype.itemsize < 4 else np.float64), "base64")
    if x.dtype.kind in "biu":
        return encode_tensor(x.astype(np.float64), "base64")
    raise ArgumentError(f"argument {key} must be a real number or array of numbers, got dtype {x.dtype}",
                        pointer=f"/args/{key}")


def _encode_dy(dy: Any, structured: bool | None, n_outputs: int | None) -> Any:
    """One cotangent per flattened output (dicts in sorted key order), as the local API reads ``dy``."""
    if not structured:
        return _encode_cotangent(dy, "/dy")
    leaves = flatten(dy)[0] if isinstance(dy, Mapping | list | tuple) else [dy]
    if n_outputs is not None and len(leaves) != n_outputs:
        raise CotangentError(f"dy must hold one cotangent per output: the function has {n_outputs} "
                             f"output(s), dy has {len(leaves)}", pointer="/dy")
    # None stands for "ones" locally; the scalar 1.0 broadcasts to the same for any output shape.
    return [1.0 if d is None else _encode_cotangent(d, f"/dy/{i}") for i, d in enumerate(leaves)]


def _encode_cotangent(d: Any, pointer: str) -> Any:
    if isinstance(d, int | float) and math.isfinite(d):
        return float(d)
    try:
        x = np.asarray(d)
        if not (x.dtype.kind == "f" and x.dtype.itemsize in (4, 8)):
            x = np.asarray(d, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise CotangentError(f"dy must be numeric: {e}", pointer=pointer) from None
    return encode_tensor(x, "base64")


_UNBOUNDED = Limits(max_json_lists=sys.maxsize)


def _decode(obj: Any, pointer: str) -> Any:
    # A response is the server's, already bounded by it: no request-side limit applies here.
    return decode_tensor(obj, pointer, limits=_UNBOUNDED, max_elements=sys.maxsize).view(Array)
