"""Remote functions: what a call sends (arguments as base64 tensors) and how its answer is read back.

A Python function is traced symbolically (``engine.trace``) into a JSON graph
once per argument signature and closure fingerprint (``RemoteFunction``);
afterwards a call only checks its arguments as the local API does (same
errors, raised before any request) and encodes them. Answers
are decoded into ``engine.api.Array``s and rebuilt into the function's own
output structure (list, tuple or dict), so remote and local results look
the same.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.api import as_argument
from engine.errors import ArgumentError, CotangentError, EngineError
from engine.params import resolve_params
from engine.targets import check_vectors
from engine.tensor import Tensor
from engine.trace import positional_names, trace
from engine.tree import flatten
from valgrad.errors import APIResponseError
from valgrad.fingerprint import fingerprint
from valgrad.kinds import KINDS, decode_answer, decode_blocks
from valgrad.wire import json_size

__all__ = ["FunctionHandle", "RemoteFunction", "Spec", "encode_vectors", "request_body", "spec_of"]


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
            return self.value(payload["value"]), decode_blocks(payload["gradients"], "/gradients")
        except (KeyError, TypeError, EngineError) as e:
            raise APIResponseError(f"unexpected response body: {e!r}") from None

    def value(self, raw: Any) -> Any:
        """The value in the function's own output structure."""
        return self.like_value(raw, "/value", decode_answer)

    def like_value(self, raw: Any, pointer: str, leaf: Callable[[Any, str], Any]) -> Any:
        """Something with the value's structure (a JVP, a Jacobian), each output's part read by ``leaf``."""
        structured = isinstance(raw, list) if self.structured is None else self.structured
        if not structured:
            return leaf(raw, pointer)
        if not isinstance(raw, list) or self.n_outputs not in (None, len(raw)):
            raise APIResponseError(f"expected a list of {self.n_outputs} output(s), got {raw!r:.80}")
        return self.rebuild([leaf(v, f"{pointer}/{i}") for i, v in enumerate(raw)])


@dataclass
class Entry:
    """One traced signature of a remote function and its id once registered."""

    spec: Spec
    function_id: str | None = None
    registering: bool = False
    teach: bool = False  # a replica lacked the function: send the next call whole as well


class RemoteFunction:
    """The state behind ``client.<kind>_function(f)``: one trace (and id) per argument signature and closure.

    As ``jax.jit``, ``f`` is traced once per abstract signature (each argument's shape and dtype, as the
    service will see it), so ``x.shape`` and ``len(x)`` work in ``f``; the key also holds the fingerprint of
    the numbers and arrays ``f`` reads from its closure and globals (``valgrad.fingerprint``), so changing
    one retraces instead of sending the old value. Called with traced arguments (inside a function being
    differentiated or traced), it runs the local engine instead, so the enclosing trace records it.
    """

    def __init__(self, f: Callable[..., Any], params: Any, unconnected_gradients: str,
                 kind: str = "gradients") -> None:
        self.f = f
        self.params = params
        self.unconnected_gradients = check_unconnected(unconnected_gradients)
        self.kind = KINDS[kind]
        self.names = positional_names(f)
        self._entries: OrderedDict[Any, Entry] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def path(self) -> str:
        return self.kind.path

    def prepare(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Entry, dict[str, Any]]:
        """Check a call as the local API does and build its body (without the function)."""
        extra = self.kind.take(kwargs)
        positions = resolve_params(self.params, self.names, len(args))
        entry = self.entry(args)
        dy = extra if self.kind.vector == "dy" else None
        body = request_body(entry.spec, args, positions, dy, self.unconnected_gradients)
        if self.kind.vector in ("tangents", "vectors"):
            body[self.kind.vector] = encode_vectors(extra, positions, args, self.kind.vector)
        return entry, body

    def decode(self, spec: Spec, payload: Any) -> Any:
        """The call's result, shaped as the local function's."""
        return self.kind.decode(spec, payload)

    def nested(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """Whether the call is traced by an enclosing gradient or trace (its arguments are Tensors)."""
        return any(_traced(a) for a in args) or any(_traced(v) for v in kwargs.values())

    def local(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The call run by the local engine, recorded by the enclosing trace."""
        return self.kind.local(self.f, self.params, self.unconnected_gradients)(*args, **kwargs)

    def batch_items(self, calls: Sequence[Any]) -> tuple[list[tuple[Entry, list[Item]]], dict[int, Exception]]:
        """Each call's body, grouped by trace (calls of one signature share a registered function), and the
        calls refused here as the local API would refuse them; a call is a tuple of arguments (or one)."""
        if self.kind.vector != "dy":
            raise TypeError("batches are of value-and-gradients functions")
        groups: dict[int, tuple[Entry, list[Item]]] = {}
        errors: dict[int, Exception] = {}
        for i, call in enumerate(calls):
            try:
                entry, body = self.prepare(call if isinstance(call, tuple) else (call,), {})
            except (EngineError, ValueError, TypeError) as e:  # a trace or an argument check failed for this call
                errors[i] = e
                continue
            del body["encoding"]
            body.pop("unconnected_gradients", None)
            groups.setdefault(id(entry), (entry, []))[1].append((i, body, json_size(body)))
        return list(groups.values()), errors

    def entry(self, args: Sequence[Any]) -> Entry:
        """The trace for these arguments' signature and ``f``'s current closure (traced on a miss)."""
        signature = tuple(_abstract(a, i) for i, a in enumerate(args))
        key = (signature, fingerprint(self.f))
        with self._lock:  # threads sharing a client trace each signature once
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = Entry(_traced_spec(self.f, len(args), self.names, signature))
                while len(self._entries) > MAX_TRACES:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
            return entry


Item = tuple[int, dict[str, Any], int]  # a batched call: its index, body and body size
MAX_TRACES = 64  # per remote function, least recently used dropped first


def _traced(a: Any) -> bool:
    return isinstance(a, Tensor) or (type(a) is np.ndarray and a.dtype.kind == "O") or \
        (isinstance(a, list | tuple) and any(_traced(x) for x in a))


def _abstract(a: Any, i: int) -> tuple[tuple[int, ...], str]:
    """An argument's shape and dtype as the service will see it (what ``_encode_arg`` sends)."""
    if type(a) is float or type(a) is int:
        return (), "float64"
    x = a if isinstance(a, np.ndarray) else np.asarray(a)
    kind, size = x.dtype.kind, x.dtype.itemsize
    if kind == "f":
        return x.shape, "float32" if size <= 4 else "float64"
    if kind in "biu":
        return x.shape, "float64"
    raise ArgumentError(f"argument {i} must be a real number or array of numbers, got dtype {x.dtype}",
                        pointer=f"/args/{i}")


def encode_vectors(vectors: Any, positions: list[int], args: Sequence[Any], name: str) -> list[Any]:
    """Tangents or HVP vectors checked as the local API checks them (same errors), one tensor per param."""
    xs = [as_argument(a, i) if i in positions else a for i, a in enumerate(args)]
    return [np.asarray(v) for v in check_vectors(vectors, positions, xs, name)]


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
        return _traced_spec(function, len(args), names, [_abstract(a, i) for i, a in enumerate(args)])
    raise TypeError(f"function must be a JSON graph, an expression, a FunctionHandle or a callable, "
                    f"got {type(function).__name__}")


def _traced_spec(f: Callable[..., Any], n_args: int, names: list[str] | None,
                 signature: Sequence[tuple[tuple[int, ...], str]] | None = None) -> Spec:
    traced = trace(f, n_args, signature)
    return Spec(traced.graph, traced.structured, traced.rebuild, names, traced=True, n_outputs=traced.n_outputs)


def _list_output(function: Mapping[str, Any]) -> bool | None:
    out = function.get("outputs", function.get("expression"))
    return None if out is None else isinstance(out, list)


def request_body(spec: Spec, args: Sequence[Any] | Mapping[str, Any], params: Any, dy: Any,
                 unconnected_gradients: str) -> dict[str, Any]:
    """The body of an evaluation, without ``function``; arrays stay arrays (binary tensors once serialised)."""
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
        return x
    if x.dtype.kind == "f":  # float16 computes as float32, long double as float64: as the local API does
        return x.astype(np.float32 if x.dtype.itemsize < 4 else np.float64)
    if x.dtype.kind in "biu":
        return x.astype(np.float64)
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
    return x
