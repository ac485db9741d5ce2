"""Sorting and selection ops of op set 2: argmax argmin argsort argpartition, sort partition, take_along_axis.

Ops whose results are integer positions (argmax, argsort, ...) return them as
floats in the input's float dtype, as the comparisons do (engine/ops/compare.py):
every op of the set then accepts them, and indexing ops (gather,
take_along_axis) read them back as positions. Every index fits the dtype
exactly: float32 holds every integer up to 2**24, the default
``max_tensor_elements``, and a longer axis gives float64. They have no
gradient. sort and partition move each element to a new place, so their VJP
sends ``g`` back through the same permutation (``_take_along_axis_grad``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.attrs import bool_attr, ints_attr, optional_axis_attr, parse_int
from engine.costs import ELEMENT_FLOPS, CostRule, elementwise, input_passes
from engine.errors import AttrError, ShapeError
from engine.ops.dispatched import dispatched
from engine.ops.indexing import positions
from engine.registry import REQUIRED, Attr, defop, shape_of, size_of
from engine.shapes import Shape, broadcast, normalize_axis

__all__ = ["argpartition", "argsort", "take_along_axis", "take_along_axis_grad"]

_EXACT_FLOAT32 = 2**24  # float32 holds every integer up to here


def _as_positions(p: Any, x: Any, n: int) -> Any:
    dtype = np.float64 if n > _EXACT_FLOAT32 else np.result_type(x, np.float32)
    out = np.asarray(p).astype(dtype)
    return out if out.ndim else out[()]


def _axis_length(x: Any, axis: int | None) -> int:
    shape = shape_of(x)
    return size_of(shape) if axis is None else shape[axis]


def _argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
    return _as_positions(np.argmax(x, axis=axis, keepdims=keepdims), x, _axis_length(x, axis))


def _argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Any:
    return _as_positions(np.argmin(x, axis=axis, keepdims=keepdims), x, _axis_length(x, axis))


def _arg_reduce_shape(x: Shape, *, axis: int | None = None, keepdims: bool = False) -> Shape:
    if axis is None:
        if not size_of(x):
            raise ShapeError(f"cannot take the position of an extremum of an empty array (shape {list(x)})")
        return (1,) * len(x) if keepdims else ()
    a = normalize_axis(axis, len(x))
    if x[a] == 0:
        raise ShapeError(f"cannot take the position of an extremum over axis {axis} of shape {list(x)}: it is empty")
    return tuple(1 if i == a else n for i, n in enumerate(x) if keepdims or i != a)


def _along_shape(x: Shape, *, axis: int | None = -1, **_: Any) -> Shape:
    """sort/argsort/partition: the input's shape, or the flattened length for axis=None."""
    if axis is None:
        return (size_of(x),)
    normalize_axis(axis, len(x))
    return tuple(x)


def _argsort(x: Any, axis: int | None = -1) -> Any:
    return _as_positions(np.argsort(x, axis=axis, kind="stable"), x, _axis_length(x, axis))


def _sort(x: Any, axis: int | None = -1) -> Any:
    return np.sort(x, axis=axis, kind="stable")


def _argpartition(x: Any, kth: Any, axis: int | None = -1) -> Any:
    return _as_positions(np.argpartition(x, kth, axis=axis), x, _axis_length(x, axis))


def _partition_shape(x: Shape, *, kth: Any, axis: int | None = -1) -> Shape:
    out = _along_shape(x, axis=axis)
    n = out[0] if axis is None else out[normalize_axis(axis, len(x))]
    for k in (kth,) if isinstance(kth, int) else kth:
        if not -n <= k < n:
            raise ShapeError(f"kth {k} is out of bounds for an axis of size {n}")
    return out


def _parse_kth(v: Any) -> int | list[int]:
    if isinstance(v, list | tuple):
        if not v:
            raise AttrError("kth needs at least one position")
        return [parse_int(k) for k in v]
    return parse_int(v)


# Add-equivalent passes per element at 2**18 float64 elements (bench.calibrate; kind="stable" is a timsort of
# floats): sort ~5 and argsort ~6 per level of log2 of the sorted length; np.add.at, the scatter of every VJP
# here, ~30 per element of g; partition ~3, argpartition ~7; take_along_axis ~9 (its positions are checked).
_SORT, _ARGSORT, _SCATTER = 5, 6, 30


def _levels(x: Shape, axis: int | None) -> int:
    n = size_of(x) if axis is None else x[normalize_axis(axis, len(x))]
    return max(1, (n - 1).bit_length())


def _sorting(per_level: float, plus: float = 0) -> CostRule:
    """``per_level`` passes over x per level of log2 of the sorted length, plus ``plus`` passes."""

    def cost(out: Shape, x: Shape, *rest: Shape, axis: int | None = -1, **_: Any) -> int:
        return math.ceil(ELEMENT_FLOPS * size_of(x) * (per_level * _levels(x, axis) + plus))

    return cost


def _scatter_cost(out: Shape, g: Shape, *rest: Shape, **_: Any) -> int:
    """Zeros of the output's shape, then np.add.at of every element of g."""
    return ELEMENT_FLOPS * (size_of(out) + _SCATTER * size_of(g))


def _gather_vjp_cost(out: Shape, x: Shape, *rest: Shape, **_: Any) -> int:
    """The VJP of a gather: zeros of the input's shape, then np.add.at of every element of g."""
    return ELEMENT_FLOPS * (size_of(x) + _SCATTER * size_of(out))


_KTH = Attr("kth", _parse_kth, to_kwarg=lambda v: tuple(v) if isinstance(v, list) else v,
            doc="the position (or list of positions) that ends up holding the element a full sort puts there")
_SORT_AXIS = optional_axis_attr("axis", -1, doc="the axis to sort along (default -1); null sorts the flattened array")


# --- take_along_axis and its scatter ---------------------------------------------------------------------------


def _take_along_axis(arr: Any, indices: Any, axis: int | None) -> Any:
    arr = np.asarray(arr)
    n = arr.size if axis is None else arr.shape[axis]
    return np.take_along_axis(arr, positions(indices, n, "take_along_axis indices"), axis=axis)


def _take_along_axis_shape(arr: Shape, indices: Shape, *, axis: int | None) -> Shape:
    if axis is None:
        if len(indices) != 1:
            raise ShapeError(f"take_along_axis with axis null needs 1-D indices, got shape {list(indices)}")
        return tuple(indices)
    if len(arr) != len(indices):
        raise ShapeError(f"take_along_axis: indices of shape {list(indices)} must have the rank of the array, "
                         f"shape {list(arr)}")
    a = normalize_axis(axis, len(arr))
    rest = broadcast(arr[:a] + arr[a + 1:], indices[:a] + indices[a + 1:])
    return (*rest[:a], indices[a], *rest[a:])


def _scatter_index(idx: Any, g_shape: Shape, shape: Shape, a: int) -> tuple[Any, ...]:
    """np.add.at's index putting g[..., j, ...] at out[..., idx[..., j, ...], ...]; broadcast axes sum up."""
    grid = []
    for d, (m, n) in enumerate(zip(g_shape, shape, strict=True)):
        if d == a:
            grid.append(np.broadcast_to(idx, g_shape))
        else:
            pos = np.arange(m) if n == m else np.zeros(m, np.intp)  # a size-1 axis of arr was broadcast
            grid.append(pos.reshape((1,) * d + (m,) + (1,) * (len(g_shape) - d - 1)))
    return tuple(grid)


def _take_along_axis_grad(g: Any, indices: Any, *, axis: int | None, shape: Shape) -> Any:
    g = np.asarray(g)
    out = np.zeros(shape, dtype=g.dtype)
    if axis is None:
        np.add.at(out.reshape(-1), positions(indices, size_of(shape)), g)  # reshape of fresh zeros is a view
        return out
    a = normalize_axis(axis, len(shape))
    np.add.at(out, _scatter_index(positions(indices, shape[a]), g.shape, shape, a), g)
    return out


def _take_along_axis_grad_shape(g: Shape, indices: Shape, *, axis: int | None, shape: Shape) -> Shape:
    if _take_along_axis_shape(tuple(shape), indices, axis=axis) != tuple(g):
        raise ShapeError(f"_take_along_axis_grad: g of shape {list(g)} does not fit indices {list(indices)} "
                         f"taken from shape {list(shape)}")
    return tuple(shape)


take_along_axis_grad = dispatched(_take_along_axis_grad)
# NumPy-like functions with this set's forwards (stable argsort, float positions accepted), so a VJP computes
# the same permutation as the forward did whether or not it is being recorded
argsort, argpartition, take_along_axis = dispatched(_argsort), dispatched(_argpartition), dispatched(_take_along_axis)


def _permuted_vjp(arg: Any) -> Any:
    """The VJP of an op that permutes x by ``arg(x, **attrs)`` positions (sort by argsort, ...)."""

    def vjp(g: Any, ans: Any, x: Any, **kw: Any) -> Any:
        axis = kw.get("axis", -1)
        return take_along_axis_grad(g, arg(x, **kw), axis=axis, shape=shape_of(x))

    return vjp


_NO_GRAD = "; no gradient (positions are integers), returned as floats in x's float dtype"
_ARG_ATTRS = (optional_axis_attr("axis"), bool_attr("keepdims", False, doc="keep the reduced axis with size 1"))
_SHAPE_ATTR = ints_attr("shape", doc="shape of the array the positions index")

defop("argmax", _argmax, (None,), shape=_arg_reduce_shape, attrs=_ARG_ATTRS, numpy=(np.argmax,), opset=2,
      methods=("argmax",), doc="position of the first maximum along axis (null: of the flattened array)" + _NO_GRAD)
defop("argmin", _argmin, (None,), shape=_arg_reduce_shape, attrs=_ARG_ATTRS, numpy=(np.argmin,), opset=2,
      methods=("argmin",), doc="position of the first minimum along axis (null: of the flattened array)" + _NO_GRAD)
defop("argsort", _argsort, (None,), shape=_along_shape, attrs=(_SORT_AXIS,), numpy=(np.argsort, argsort), opset=2,
      methods=("argsort",), cost=_sorting(_ARGSORT),
      doc="positions that sort x along axis (stable: ties keep their order)" + _NO_GRAD)
defop("argpartition", _argpartition, (None,), shape=_partition_shape, attrs=(_KTH, _SORT_AXIS),
      numpy=(np.argpartition, argpartition), opset=2, methods=("argpartition",), cost=input_passes(7),
      doc="positions that partition x around kth along axis" + _NO_GRAD)
defop("sort", _sort, (_permuted_vjp(argsort),), shape=_along_shape, attrs=(_SORT_AXIS,), numpy=(np.sort,),
      opset=2, cost=_sorting(_SORT), vjp_cost=_sorting(_ARGSORT, _SCATTER), temporaries=4,
      doc="x sorted along axis; the gradient follows each element to its place (ties: stable order)")
defop("partition", np.partition, (_permuted_vjp(argpartition),), shape=_partition_shape,
      attrs=(_KTH, _SORT_AXIS), numpy=(np.partition,), opset=2, cost=input_passes(3),
      vjp_cost=input_passes(7 + _SCATTER), temporaries=4,
      doc="x partitioned around kth along axis; the gradient follows each element to its place")
defop("take_along_axis", _take_along_axis,
      (lambda g, ans, arr, indices, axis: take_along_axis_grad(g, indices, axis=axis, shape=shape_of(arr)), None),
      shape=_take_along_axis_shape, numpy=(np.take_along_axis, take_along_axis), opset=2,
      cost=elementwise(9), vjp_cost=_gather_vjp_cost,
      attrs=(optional_axis_attr("axis", REQUIRED, doc="the axis to take along; null: the flattened array (1-D)"),),
      doc="arr[..., indices[..., j, ...], ...] along axis, positions known at run time (argsort); no gradient to "
          "indices, repeated positions add up")
defop("_take_along_axis_grad", _take_along_axis_grad,
      (lambda g, ans, gx, indices, axis, shape: take_along_axis(g, indices, axis=axis), None),
      shape=_take_along_axis_grad_shape, numpy=(take_along_axis_grad,), opset=2,
      attrs=(optional_axis_attr("axis", doc="the axis taken along"), _SHAPE_ATTR),
      cost=_scatter_cost, vjp_cost=elementwise(16),
      doc="internal: zeros of shape with g added at indices along axis (take_along_axis's VJP)")
