"""Indexing: getitem (basic NumPy indexing) and take (integer indices along an axis).

Their VJPs scatter ``g`` back into zeros of the input's shape. Scatter is not
in the op set, so it is two internal ops, ``_getitem_grad`` and
``_take_grad``, whose own VJPs are getitem and take again: the backward pass
stays differentiable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.attrs import index_attr, indices_attr, optional_axis_attr, shape_attr
from engine.errors import ShapeError
from engine.ops.nep18 import dispatched
from engine.registry import defop, shape_of, size_of
from engine.shapes import Shape, normalize_axis

__all__ = ["getitem_grad", "index_to_json", "subscript", "take_grad"]

Index = tuple[Any, ...]


def _getitem_shape(x: Shape, *, index: Index, **_: Any) -> Shape:
    # Index a zero-strided stand-in: NumPy does the bookkeeping and allocates nothing.
    try:
        dummy = np.broadcast_to(np.empty((), np.int8), x)
        return tuple(dummy[index].shape)
    except (IndexError, ValueError) as e:
        raise ShapeError(f"index {_show(index)} does not fit shape {list(x)}: {e}") from None


def _show(index: Index) -> str:
    def item(i: Any) -> str:
        if isinstance(i, slice):
            return ":".join("" if v is None else str(v) for v in (i.start, i.stop, i.step)).rstrip(":") or ":"
        return "..." if i is Ellipsis else "None" if i is None else str(i)

    return "[" + ", ".join(item(i) for i in index) + "]"


def _getitem(x: Any, *, index: Index) -> Any:
    return np.asarray(x)[index]


def _getitem_grad(g: Any, *, index: Index, shape: Shape) -> Any:
    out = np.zeros(shape, dtype=np.result_type(g))
    out[index] = g  # basic indexing never repeats an element, so assignment is the scatter-add
    return out


def _getitem_grad_shape(g: Shape, *, index: Index, shape: Shape) -> Shape:
    if _getitem_shape(shape, index=index) != tuple(g):
        raise ShapeError(f"_getitem_grad: g of shape {list(g)} does not fit {_show(index)} of shape {list(shape)}")
    return tuple(shape)


getitem_grad = dispatched(_getitem_grad)


def _take_shape(x: Shape, *, indices: Any, axis: int | None = None, **_: Any) -> Shape:
    n = size_of(x) if axis is None else x[normalize_axis(axis, len(x))]
    idx = np.asarray(indices)
    if idx.size and not (-n <= idx.min() and idx.max() < n):
        bad = idx.min() if idx.min() < -n else idx.max()
        where = "the flattened array" if axis is None else f"axis {axis}"
        raise ShapeError(f"take: index {bad} is out of bounds for {where} of size {n} (shape {list(x)})")
    if axis is None:
        return tuple(idx.shape)
    ax = normalize_axis(axis, len(x))
    return x[:ax] + idx.shape + x[ax + 1:]


def _take_grad(g: Any, *, indices: Any, axis: int | None, shape: Shape) -> Any:
    out = np.zeros(shape, dtype=np.result_type(g))
    if axis is None:
        np.add.at(out.reshape(-1), indices, g)  # a repeated index must add up, so not out[...] = g
    else:
        np.add.at(out, (slice(None),) * normalize_axis(axis, len(shape)) + (indices,), g)
    return out


def _take_grad_shape(g: Shape, *, indices: Any, axis: int | None, shape: Shape) -> Shape:
    if _take_shape(shape, indices=indices, axis=axis) != tuple(g):
        raise ShapeError(f"_take_grad: g of shape {list(g)} does not fit take from shape {list(shape)}")
    return tuple(shape)


take_grad = dispatched(_take_grad)

_SHAPE = shape_attr("shape", doc="shape of the array that was indexed")

defop("getitem", _getitem,
      (lambda g, ans, x, index: getitem_grad(g, index=index, shape=shape_of(x)),),
      shape=_getitem_shape, attrs=(index_attr(),),
      doc="x[index] with basic indexing (ints, slices, None, ...); gradient scattered back, zero elsewhere")
defop("take", np.take,
      (lambda g, ans, x, indices, axis=None: take_grad(g, indices=indices, axis=axis, shape=shape_of(x)),),
      shape=_take_shape, attrs=(indices_attr(), optional_axis_attr("axis")), numpy=(np.take,),
      doc="elements at integer indices along axis (null: flattened); repeated indices add their gradients")
defop("_getitem_grad", _getitem_grad,
      (lambda g, ans, gx, index, shape: g[index],),
      shape=_getitem_grad_shape, attrs=(index_attr(), _SHAPE), numpy=(getitem_grad,),
      cost=lambda out, g, **_: size_of(out), doc="internal: zeros of shape with g placed at index (getitem's VJP)")
defop("_take_grad", _take_grad,
      (lambda g, ans, gx, indices, axis, shape: np.take(g, indices, axis=axis),),
      shape=_take_grad_shape, attrs=(indices_attr(), optional_axis_attr("axis"), _SHAPE), numpy=(take_grad,),
      cost=lambda out, g, **_: size_of(out), doc="internal: zeros of shape with g added at indices (take's VJP)")


def index_to_json(index: Any) -> list[Any]:
    """A Python basic index (ints, slices, None, Ellipsis) as getitem's ``index`` attribute."""
    items = index if isinstance(index, tuple) else (index,)
    out: list[Any] = []
    for item in items:
        if item is None or (isinstance(item, int | np.integer) and not isinstance(item, bool)):
            out.append(None if item is None else int(item))
        elif item is Ellipsis:
            out.append("...")
        elif isinstance(item, slice):
            out.append({"start": item.start, "stop": item.stop, "step": item.step})
        else:
            raise TypeError(
                f"index {item!r:.40} is not supported: use ints, slices, None and ... "
                "(for gathering by an index list use np.take(x, indices, axis))"
            )
    return out


def subscript(x: Any, index: Any) -> Any:
    """``x[index]`` for a traced ``x``: the op and attributes that Python indexing means."""
    from engine.tensor import call_op  # tensor imports this module; the cycle is broken at call time

    return call_op("getitem", x, index=index_to_json(index))
