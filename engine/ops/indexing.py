"""Indexing: getitem (NumPy indexing by static items), gather (the same with runtime integer inputs) and take.

Every VJP scatter-ADDS ``g`` back into zeros of the input's shape (``np.add.at``:
an index array may repeat an element). Scatter is not in the op set, so it is
internal ops (``_getitem_grad``, ``_gather_grad``, ``_take_grad``) whose own
VJPs are getitem, gather and take again: the backward pass stays differentiable.
Shape rules follow NumPy's indexing rules arithmetically (``index_shape``), so
they never allocate in proportion to the indexed array. Python's ``x[index]`` on a
traced ``x`` is translated into these ops in ``engine.ops.subscript``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.attrs import MAX_INDEX_ARGS, IndexArg, index_attr, indices_attr, optional_axis_attr, shape_attr
from engine.costs import ELEMENT_FLOPS, elementwise
from engine.errors import ArgumentError, ShapeError
from engine.ops.dispatched import dispatched
from engine.registry import defop, shape_of, size_of
from engine.shapes import Shape, broadcast, normalize_axis

__all__ = ["SCATTER_PASSES", "fill_index", "gather", "gather_grad", "getitem_grad", "index_shape", "positions",
           "show_index", "take_grad"]

Index = tuple[Any, ...]


def _expand(x: Shape, index: Index) -> list[Any]:
    """The index with its Ellipsis (or the implied trailing one) replaced by full slices."""
    used = sum(1 for i in index if i is not None and i is not Ellipsis)
    if used > len(x):
        raise ShapeError(f"too many indices: {used} for an array of rank {len(x)}")
    fill = [slice(None)] * (len(x) - used)
    at = next((k for k, i in enumerate(index) if i is Ellipsis), len(index))
    return [*index[:at], *fill, *index[at + 1:]]


def _check_bounds(item: Any, n: int, axis: int) -> None:
    if isinstance(item, np.ndarray):
        if item.size == 0:
            return
        low, high = int(item.min()), int(item.max())
        bad = low if low < -n else high if high >= n else None
    else:
        bad = item if not -n <= item < n else None
    if bad is not None:
        raise ShapeError(f"index {bad} is out of bounds for axis {axis} with size {n}")


def index_shape(x: Shape, index: Index) -> Shape:
    """Shape of ``x[index]`` by NumPy's rules: advanced items (arrays, and ints among them) broadcast together
    and their axes go where the first of them stands if they are adjacent, else in front."""
    items = _expand(x, index)
    dynamic = any(isinstance(i, np.ndarray | IndexArg) for i in items)
    axis, adv, shapes = 0, [], []
    dims: list[int | None] = []  # per item: its output axis size, None for an advanced item
    for k, item in enumerate(items):
        if item is None:
            dims.append(1)
            continue
        n = x[axis]
        if isinstance(item, slice):
            dims.append(len(range(*item.indices(n))))
        else:
            if not isinstance(item, IndexArg):
                _check_bounds(item, n, axis)
            if dynamic:
                adv.append(k)
                shapes.append(shape_of(item))
                dims.append(None)
        axis += 1
    if not adv:
        return tuple(d for d in dims if d is not None)
    try:
        b = broadcast(*shapes)
    except ShapeError:
        raise ShapeError(f"index arrays of shapes {' and '.join(str(list(s)) for s in shapes)} "
                         "do not broadcast") from None
    basic = [d for d in dims if d is not None]
    if adv[-1] - adv[0] + 1 == len(adv):  # adjacent: the broadcast axes replace them in place
        first = sum(1 for d in dims[:adv[0]] if d is not None)
        return (*basic[:first], *b, *basic[first:])
    return (*b, *basic)


def show_index(index: Index) -> str:
    def item(i: Any) -> str:
        if isinstance(i, slice):
            text = ":".join("" if v is None else str(v) for v in (i.start, i.stop))
            return text if i.step is None else f"{text}:{i.step}"
        if isinstance(i, np.ndarray):
            return f"<int array {list(i.shape)}>"
        if isinstance(i, IndexArg):
            return f"<input {i.k} {list(i.shape)}>"
        return "..." if i is Ellipsis else "None" if i is None else str(i)

    return "[" + ", ".join(item(i) for i in index) + "]"


def _getitem_shape(x: Shape, *, index: Index, **_: Any) -> Shape:
    try:
        return index_shape(x, index)
    except ShapeError as e:
        raise ShapeError(f"index {show_index(index)} does not fit shape {list(x)}: {e.message}") from None


def _is_basic(index: Index) -> bool:
    return not any(isinstance(i, np.ndarray) for i in index)


def _getitem(x: Any, *, index: Index) -> Any:
    return np.asarray(x)[index]


def _getitem_grad(g: Any, *, index: Index, shape: Shape) -> Any:
    out = np.zeros(shape, dtype=np.result_type(g))
    if _is_basic(index):
        out[index] = g  # basic indexing never repeats an element: assignment is the scatter-add, and faster
    else:
        np.add.at(out, index, g)  # an index array may repeat an element: its gradients add up
    return out


def _getitem_grad_shape(g: Shape, *, index: Index, shape: Shape) -> Shape:
    if _getitem_shape(shape, index=index) != tuple(g):
        raise ShapeError(f"_getitem_grad: g of shape {list(g)} does not fit {show_index(index)} of shape {list(shape)}")
    return tuple(shape)


getitem_grad = dispatched(_getitem_grad)


def positions(a: Any, n: int | None = None, what: str = "index") -> Any:
    """A runtime index (float positions, as argmax gives) as an intp array, checked integral and in bounds."""
    a = np.asarray(a)
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(a != np.trunc(a)):
            raise ArgumentError(f"{what} values must be whole numbers (integer positions), got {a.ravel()[:5]}")
        a = a.astype(np.intp)
    elif a.dtype.kind not in "iu":
        raise ArgumentError(f"{what} must hold integer positions, got dtype {a.dtype}")
    if n is not None and a.size and (a.min() < -n or a.max() >= n):
        bad = a.min() if a.min() < -n else a.max()
        raise ArgumentError(f"{what} {bad} is out of bounds for an axis of size {n}")
    return a


def fill_index(x_shape: Shape, index: Index, runtime: Sequence[Any]) -> Index:
    """gather's index with each ``IndexArg`` replaced by its runtime positions, checked against its axis."""
    items = _expand(x_shape, index)
    out, axis = [], 0
    for item in items:
        if isinstance(item, IndexArg):
            item = positions(runtime[item.k - 1], x_shape[axis], f"index input {item.k}")
        out.append(item)
        axis += item is not None
    return tuple(out)


def _with_shapes(index: Index, shapes: Sequence[Shape]) -> Index:
    return tuple(IndexArg(i.k, shapes[i.k - 1]) if isinstance(i, IndexArg) else i for i in index)


def _gather(x: Any, *indices: Any, index: Index) -> Any:
    x = np.asarray(x)
    return x[fill_index(x.shape, index, indices)]


def _gather_shape(x: Shape, *indices: Shape, index: Index) -> Shape:
    _check_args(index, len(indices))
    return _getitem_shape(x, index=_with_shapes(index, indices))


def _check_args(index: Index, n: int) -> None:
    ks = sorted(i.k for i in index if isinstance(i, IndexArg))
    if ks != list(range(1, n + 1)):
        raise ShapeError(f"gather: index {show_index(index)} must name inputs 1..{n} once each, in any order")


def _gather_grad(g: Any, *indices: Any, index: Index, shape: Shape) -> Any:
    return _getitem_grad(g, index=fill_index(shape, index, indices), shape=shape)


def _gather_grad_shape(g: Shape, *indices: Shape, index: Index, shape: Shape) -> Shape:
    if _gather_shape(shape, *indices, index=index) != tuple(g):
        raise ShapeError(f"_gather_grad: g of shape {list(g)} does not fit {show_index(index)} of shape {list(shape)}")
    return tuple(shape)


gather_grad = dispatched(_gather_grad)


def _gather_vjp(g: Any, ans: Any, x: Any, *indices: Any, index: Index) -> Any:
    return gather_grad(g, *indices, index=index, shape=shape_of(x))


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
gather = dispatched(_gather)

# Add-equivalent passes per element of g (bench.calibrate's sizes): np.add.at, the scatter of an index array,
# ~15 (~4 for one flat index); a basic index assigns g in one pass. Zeros of the indexed shape are one more pass.
SCATTER_PASSES = 15


def _scatter_passes(index: Index | None) -> int:
    basic = index is not None and not any(isinstance(i, np.ndarray | IndexArg) for i in index)
    return 1 if basic else SCATTER_PASSES


def _grad_cost(out: Shape, g: Shape, *rest: Shape, index: Index | None = None, **_: Any) -> int:
    """An internal scatter op: zeros of its output's shape, then g added at the index."""
    return ELEMENT_FLOPS * (size_of(out) + _scatter_passes(index) * size_of(g))


def _vjp_cost(out: Shape, x: Shape, *rest: Shape, index: Index | None = None, **_: Any) -> int:
    """The VJP of getitem, gather and take: zeros of x's shape, then g scattered into them."""
    return ELEMENT_FLOPS * (size_of(x) + _scatter_passes(index) * size_of(out))


_SHAPE = shape_attr("shape", doc="shape of the array that was indexed")
_RUNTIME = (2, 1 + MAX_INDEX_ARGS)

defop("getitem", _getitem,
      (lambda g, ans, x, index: getitem_grad(g, index=index, shape=shape_of(x)),),
      shape=_getitem_shape, attrs=(index_attr(),), vjp_cost=_vjp_cost,
      doc="x[index] (NumPy indexing; integer-array items gather); the gradient is scattered back and adds up "
          "where an index array repeats an element, zero elsewhere")
defop("gather", _gather, (_gather_vjp,), arity=_RUNTIME, opset=2,
      shape=_gather_shape, attrs=(index_attr(dynamic=True),), numpy=(gather,), vjp_cost=_vjp_cost,
      doc='x[index] where each {"arg": k} item is argument k, integer positions known at run time (argmax); '
          "no gradient to the positions, repeated ones add up")
defop("take", np.take,
      (lambda g, ans, x, indices, axis=None: take_grad(g, indices=indices, axis=axis, shape=shape_of(x)),),
      shape=_take_shape, attrs=(indices_attr(), optional_axis_attr("axis")), numpy=(np.take,),
      cost=elementwise(2), vjp_cost=_vjp_cost,
      doc="elements at integer indices along axis (null: flattened); repeated indices add their gradients")
defop("_getitem_grad", _getitem_grad,
      (lambda g, ans, gx, index, shape: g[index],),
      shape=_getitem_grad_shape, attrs=(index_attr(), _SHAPE), numpy=(getitem_grad,),
      cost=_grad_cost, vjp_cost=elementwise(1), temporaries=1,
      doc="internal: zeros of shape with g added at index (getitem's VJP)")
defop("_gather_grad", _gather_grad,
      (lambda g, ans, gx, *indices, index, shape: gather(g, *indices, index=index),), arity=_RUNTIME, opset=2,
      shape=_gather_grad_shape, attrs=(index_attr(dynamic=True), _SHAPE), numpy=(gather_grad,),
      cost=_grad_cost, vjp_cost=lambda out, g, *_, **__: ELEMENT_FLOPS * size_of(g), temporaries=1,
      doc="internal: zeros of shape with g added at index (gather's VJP)")
defop("_take_grad", _take_grad,
      (lambda g, ans, gx, indices, axis, shape: np.take(g, indices, axis=axis),),
      shape=_take_grad_shape, attrs=(indices_attr(), optional_axis_attr("axis"), _SHAPE), numpy=(take_grad,),
      cost=_grad_cost, vjp_cost=lambda out, g, **_: SCATTER_PASSES * ELEMENT_FLOPS * size_of(g), temporaries=1,
      doc="internal: zeros of shape with g added at indices (take's VJP)")
