"""Python's ``x[index]`` and ``np.take(x, t)`` on a traced ``x``, translated into getitem and gather nodes.

A concrete index item (int, slice, None, Ellipsis, integer array, boolean mask) becomes one of getitem's
``index`` items; a traced item must be integer positions computed by an op of ``POSITION_OPS`` (argmax)
and makes the node a gather, with the positions as a runtime input. The ops themselves live in
``engine.ops.indexing``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine.attrs import IndexArg, index_attr

__all__ = ["POSITION_OPS", "index_to_json", "subscript", "take_by_tensor"]

# Ops whose results are integer positions (as floats); a traced index must come straight from one of them.
POSITION_OPS = {"argmax", "argmin", "argsort", "argpartition"}
_MASK_HINT = ("x[mask] has a shape that depends on the mask's values, so it cannot be traced: use "
              "np.where(mask, x, 0) (or np.where(mask, x, -np.inf) before a max) to keep the shape")


def _producer(t: Any) -> Any:
    """The op whose node made the traced value ``t``, or None for an input or a constant."""
    for node in reversed(t._tape.nodes):  # nodes are in slot order: stop once past t
        if node.out <= t._slot:
            return node.op if node.out == t._slot else None
    return None


def _traced_item(t: Any, traced: list[Any]) -> list[Any]:
    """A traced index item: runtime positions for gather, or (eager only) a mask made concrete."""
    op = _producer(t)
    if op is not None and op.name in POSITION_OPS:
        traced.append(t)
        return [IndexArg(len(traced))]
    if op is not None and not op.differentiable:  # a comparison, recorded: only a symbolic trace records one
        raise TypeError(f"indexing by a traced boolean mask is not supported: {_MASK_HINT}")
    what = "an input or constant" if op is None else f"op '{op.name}'"
    raise TypeError(f"x[t] with t a traced value computed by {what}: a traced index must be the result of "
                    f"{'/'.join(sorted(POSITION_OPS))}; for other computed positions use np.take(x, t, axis) or "
                    "np.take_along_axis(x, t, axis)")


def _static_item(item: Any) -> list[Any]:
    """A concrete index item as getitem items: a boolean mask becomes its ``np.nonzero`` positions."""
    if item is None or item is Ellipsis or isinstance(item, slice):
        return [item]
    if isinstance(item, bool | np.bool_):
        raise TypeError("a scalar boolean index (x[True]) is not supported; index with an array or a slice")
    if isinstance(item, int | np.integer):
        return [int(item)]
    a = np.asarray(item)
    if a.dtype.kind == "f" and a.size == 0 and isinstance(item, list):
        a = a.astype(np.intp)  # x[[]] selects nothing, as in NumPy
    if a.dtype.kind == "b" and a.ndim:
        return list(np.nonzero(a))
    if a.dtype.kind in "iu":
        return [int(a) if a.ndim == 0 else a]
    raise TypeError(f"index {item!r:.40} is not supported: use ints, slices, None, ..., integer arrays or boolean "
                    "masks, as NumPy does")


def _items(item: Any, traced: list[Any]) -> list[Any]:
    if hasattr(item, "_tape"):  # a Tensor
        return _traced_item(item, traced)
    if isinstance(item, list | tuple) and any(hasattr(i, "_tape") for i in np.ravel(np.array(item, dtype=object))):
        raise TypeError("an index list holding traced values is not supported: index with one traced array")
    return _static_item(item)


def index_to_json(index: Any) -> list[Any]:
    """A concrete Python index (ints, slices, None, Ellipsis, integer arrays, masks) as getitem's ``index``."""
    items = index if isinstance(index, tuple) else (index,)
    parsed = tuple(p for i in items for p in _static_item(i))
    canonical: list[Any] = index_attr().parse(parsed)
    return canonical


def subscript(call_op: Callable[..., Any], x: Any, index: Any) -> Any:
    """``x[index]`` for a traced ``x`` (ops via ``call_op``): getitem, or gather when an index item is traced."""
    traced: list[Any] = []
    items = [p for i in (index if isinstance(index, tuple) else (index,)) for p in _items(i, traced)]
    if traced:
        return call_op("gather", x, *traced, index=items)
    return call_op("getitem", x, index=items)


def take_by_tensor(call_op: Callable[..., Any], x: Any, indices: Any, axis: int | None = None,
                   **kwargs: Any) -> Any:
    """``np.take(x, t, axis)`` with traced positions ``t`` (argmax's): the same as ``x[..., t, ...]``."""
    if kwargs:
        raise TypeError(f"np.take with traced indices: argument(s) {', '.join(sorted(kwargs))} are not supported")
    if axis is None:
        return subscript(call_op, call_op("reshape", x, shape=[-1]), indices)
    head: tuple[Any, ...] = (slice(None),) * axis if axis >= 0 else (Ellipsis,)
    tail: tuple[Any, ...] = () if axis >= 0 else (slice(None),) * (-axis - 1)
    return subscript(call_op, x, (*head, indices, *tail))
