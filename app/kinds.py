"""The evaluation kinds a job can be, as the server thread and the worker process both run them.

A job is ``kind`` plus a payload of JSON values and arrays (what ``app.transfer``
carries). The server prepares each job (binds, checks, prices: the engine's
``prepare*`` functions) before choosing where it runs; ``run`` then computes
it from the payload, in the worker process or the server's thread, through
the engine's ``*_checked`` entry points, which check nothing again: a request
is checked once, at the server, wherever it runs. Nothing but arrays and
JSON crosses the process boundary.

Kinds: ``gradients`` (value and gradients), the derivative kinds ``jvp``,
``jacobian``, ``hessian``, ``hvp`` (``engine.derivatives``), ``check``
(``engine.checking.check_gradients``) and ``batch`` (many value-and-gradients
items, each answered ``["ok", value, grads]`` or ``["error", code, message,
pointer]`` so one bad item never fails the others; its payload and answer
are ``pack``ed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import (
    EngineError,
    Graph,
    Limits,
    Prepared,
    Unconnected,
    compare_checked,
    evaluate_checked,
    prepare_hessian,
    prepare_hvp,
    prepare_jacobian,
    prepare_jvp,
    run_batch_checked,
    run_checked,
)

__all__ = ["DERIVATIVES", "batch_results", "item_error", "pack", "prepare_kind", "run", "unconnected", "unpack"]

DERIVATIVES = ("jvp", "jacobian", "hessian", "hvp")


def unconnected(zeros: bool) -> Unconnected:
    return "zero" if zeros else "none"


def prepare_kind(kind: str, graph: Graph, xs: Any, params: Any, vectors: Any, unconnected_gradients: Unconnected,
                 limits: Limits) -> Prepared:
    """One derivative kind of ``graph`` prepared and priced (``TooExpensiveError`` before any NumPy call)."""
    if kind == "jvp":
        return prepare_jvp(graph, xs, params, vectors, unconnected_gradients, limits=limits)
    if kind == "hvp":
        return prepare_hvp(graph, xs, params, vectors, unconnected_gradients, limits=limits)
    if kind == "jacobian":
        return prepare_jacobian(graph, xs, params, unconnected_gradients, limits=limits)
    if kind == "hessian":
        return prepare_hessian(graph, xs, params, unconnected_gradients, limits=limits)
    raise ValueError(f"unknown derivative kind {kind!r}")


def run(kind: str, graph: Graph, payload: Sequence[Any]) -> list[Any]:
    """Compute one job the server prepared: its results as a list of JSON values and arrays."""
    if kind == "gradients":
        xs, positions, dy, zeros = payload
        return list(evaluate_checked(graph, xs, positions, dy, zeros))
    if kind in DERIVATIVES:
        xs, positions, vectors, zeros = payload
        return list(run_checked(kind, graph, xs, positions, vectors, zeros))
    if kind == "check":
        xs, positions, eps, rtol, atol, directions = payload
        r = compare_checked(graph, xs, positions, eps, rtol, atol, directions)
        return [r["ok"], r["max_abs_error"], r["max_rel_error"]]
    if kind == "batch":
        items, zeros = unpack(payload)
        return pack(batch_results(run_batch_checked(graph, items, zeros)))
    raise ValueError(f"unknown job kind {kind!r}")


# -- many small arrays as two flat ones -------------------------------------------------------------------

_MARK = "\x00a"  # an array's place in a packed tree: [_MARK, dtype char, start, shape]


def pack(tree: Any) -> list[Any]:
    """``[skeleton, float64s, float32s]``: a batch's thousands of small arrays cross the process boundary as two
    (``app.transfer`` moves each array on its own, which costs microseconds apiece)."""
    parts: dict[str, list[np.ndarray]] = {"d": [], "f": []}
    skeleton = _pack(tree, parts, {"d": 0, "f": 0})
    flats = [np.concatenate(parts[c]).astype(t, copy=False) if parts[c] else np.zeros(0, t)
             for c, t in (("d", np.float64), ("f", np.float32))]
    return [skeleton, *flats]


def _pack(node: Any, parts: dict[str, list[np.ndarray]], size: dict[str, int]) -> Any:
    if isinstance(node, np.ndarray | np.generic):
        a = np.asarray(node)
        char = "f" if a.dtype == np.float32 else "d"
        parts[char].append(a.reshape(-1))
        size[char] += a.size
        return [_MARK, char, size[char] - a.size, list(a.shape)]
    if isinstance(node, list | tuple):
        return [_pack(x, parts, size) for x in node]
    return node


def unpack(packed: Sequence[Any]) -> Any:
    """The tree ``pack`` packed; its arrays are views of the two flat ones."""
    skeleton, f64, f32 = packed
    return _unpack(skeleton, {"d": f64, "f": f32})


def _unpack(node: Any, flats: dict[str, np.ndarray]) -> Any:
    # Module-level, not a closure: a recursive closure is a reference cycle, which would keep the views of a
    # worker's shared-memory region alive until the next garbage collection.
    if isinstance(node, list):
        if len(node) == 4 and node[0] == _MARK:
            return flats[node[1]][node[2]:node[2] + math.prod(node[3])].reshape(node[3])
        return [_unpack(x, flats) for x in node]
    return node


def batch_results(results: Sequence[Any]) -> list[Any]:
    """``PreparedBatch.run()``'s items (results or exceptions) in the job format."""
    return [item_error(r) if isinstance(r, BaseException) else ["ok", r[0], r[1]] for r in results]


def item_error(e: BaseException) -> list[Any]:
    """A failed batch item: ``["error", code, message, pointer]`` (codes of ``app.errors.PROBLEMS``)."""
    if isinstance(e, EngineError):
        return ["error", e.code, e.message, e.pointer]
    if isinstance(e, np.linalg.LinAlgError):
        return ["error", "linalg_error", f"linear algebra failed on the arguments: {e}", None]
    return ["error", "invalid_request", str(e) or type(e).__name__, None]
