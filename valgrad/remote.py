"""Remote functions: what a call sends (arguments as base64 tensors) and how its answer is read back.

A Python function is traced symbolically (``engine.trace``) into a JSON graph
once per argument signature and closure fingerprint (``RemoteFunction``);
afterwards a call only checks its arguments as the local API does (the
rules of ``engine.contract``, so the same errors, raised before any
request) and encodes them. Answers
are decoded into ``engine.Array``s and rebuilt into the function's own
output structure (list, tuple or dict), so remote and local results look
the same.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import (
    EngineError,
    Tensor,
    argument_dtype,
    argument_signature,
    as_argument,
    check_unconnected,
    check_vectors,
    dy_leaves,
    positional_names,
    real_cotangent,
    resolve_params,
    trace,
)
from valgrad.errors import APIResponseError
from valgrad.fingerprint import fingerprint
from valgrad.info import FunctionHandle
from valgrad.kinds import KINDS, decode_answer, decode_blocks
from valgrad.wire import json_size

__all__ = ["Entry", "RemoteFunction", "Spec", "encode_vectors", "request_body", "spec_of"]


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


class Entry:
    """One traced signature of a remote function, and its registration, shared by every thread calling it.

    Its state changes only under its lock, one method per transition, so that
    concurrent first calls register once (the others go one-shot meanwhile) and
    a miss makes exactly one later call resend the function whole.
    """

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        self._function_id: str | None = None
        self._registering = False
        self._teach = False  # a replica lacked the function: send the next call whole as well

    def claim_registration(self) -> bool:
        """Whether the caller is to register the trace: no id yet and no registration under way."""
        with self._lock:
            if self._function_id is not None or self._registering:
                return False
            self._registering = True
            return True

    def end_registration(self, function_id: str | None) -> None:
        """A claimed registration ended, with the service's id or (on failure) None: the next call may retry."""
        with self._lock:
            self._registering = False
            if function_id is not None:
                self._function_id = function_id

    def route(self) -> str | None:
        """The id to call by, or None to send the function whole (not registered yet, or after a miss)."""
        with self._lock:
            if self._teach:
                self._teach = False
                return None
            return self._function_id

    def missed(self) -> None:
        """A replica lacked the function: the next call goes whole too, so the replica behind it learns it."""
        with self._lock:
            self._teach = True


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
        check_unconnected(unconnected_gradients)
        self.unconnected_gradients = unconnected_gradients
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
        signature = tuple(argument_signature(a, i) for i, a in enumerate(args))
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
        return _traced_spec(function, len(args), names, [argument_signature(a, i) for i, a in enumerate(args)])
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
    if check_unconnected(unconnected_gradients):
        body["unconnected_gradients"] = unconnected_gradients
    return body


def _encode_arg(a: Any, key: int | str) -> Any:
    """An argument as the local API computes it (``engine.as_argument``'s dtype rule); finite Python numbers
    stay numbers."""
    if isinstance(a, int | float) and math.isfinite(a):
        return float(a)
    x = np.asarray(a)
    dtype = argument_dtype(x.dtype, key)
    return x if dtype == x.dtype else x.astype(dtype)


def _encode_dy(dy: Any, structured: bool | None, n_outputs: int | None) -> Any:
    """One cotangent per flattened output, read as the local API reads ``dy`` (``engine.dy_leaves``)."""
    if not structured:
        return _encode_cotangent(dy, "/dy")
    # None stands for "ones" locally; the scalar 1.0 broadcasts to the same for any output shape.
    return [1.0 if d is None else _encode_cotangent(d, f"/dy/{i}")
            for i, d in enumerate(dy_leaves(dy, n_outputs, True))]


def _encode_cotangent(d: Any, pointer: str) -> Any:
    if isinstance(d, int | float) and math.isfinite(d):
        return float(d)
    return real_cotangent(d, None, pointer)
