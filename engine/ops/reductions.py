"""Reductions: sum mean prod max min var std (axis, keepdims) and cumsum, plus the internal ``_cast_like``.

A reduction's VJP first restores the reduced axes of ``g`` as size 1
(``expand_reduced``) so it broadcasts against the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.attrs import axes_attr, bool_attr, int_attr, optional_axis_attr
from engine.errors import ShapeError
from engine.ops.nep18 import dispatched
from engine.registry import defop, shape_of, size_of
from engine.shapes import Shape, normalize_axes, normalize_axis, reduce

__all__ = ["cast_like", "expand_reduced", "nonempty_reduce", "reduced_count"]

Axis = int | Sequence[int] | None


def expand_reduced(g: Any, x: Any, axis: Axis, keepdims: bool) -> Any:
    """``g`` of a reduction of ``x`` over ``axis`` with the reduced axes put back as size 1."""
    if keepdims:
        return g
    axes = normalize_axes(axis, len(shape_of(x)))
    return np.expand_dims(g, axis=axes) if axes else g


def reduced_count(x: Any, axis: Axis) -> int:
    """How many elements of ``x`` each output of a reduction over ``axis`` combines."""
    shape = shape_of(x)
    return size_of([shape[a] for a in normalize_axes(axis, len(shape))])


def _cast_like(x: Any, like: Any) -> Any:
    return np.asarray(x, dtype=np.result_type(like))


cast_like = dispatched(_cast_like)
defop("_cast_like", _cast_like,
      (lambda g, ans, x, like: cast_like(g, x), None),
      shape=lambda x, like, **_: tuple(x), numpy=(cast_like,),
      doc="internal: x converted to the dtype of like (TensorFlow's cast); gradient passes through to x")


def _input_cost(out: Shape, x: Shape, *rest: Shape, **_: Any) -> int:
    return size_of(x)


def nonempty_reduce(x: Shape, *, axis: Axis = None, keepdims: bool = False, **_: Any) -> Shape:
    """``reduce`` for reductions without an identity (max, min, logsumexp): reduced axes must not be empty."""
    out = reduce(x, axis=axis, keepdims=keepdims)
    empty = [a for a in normalize_axes(axis, len(x)) if x[a] == 0]
    if empty:
        raise ShapeError(f"cannot reduce over axis {empty[0]} of shape {list(x)}: it is empty")
    return out


_REDUCE_ATTRS = (axes_attr("axis"), bool_attr("keepdims", False, doc="keep reduced axes with size 1"))


def _sum_vjp(g: Any, ans: Any, x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    return np.broadcast_to(expand_reduced(g, x, axis, keepdims), shape_of(x))


def _mean_vjp(g: Any, ans: Any, x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    return np.broadcast_to(expand_reduced(g, x, axis, keepdims) / reduced_count(x, axis), shape_of(x))


def _prod_vjp(g: Any, ans: Any, x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    # d prod / d x_i is the product of the others, without dividing by zero. Per slice, with `rest` the
    # product of the non-zeros and `lone` the sum of the zeros (value 0, derivative 1):
    #   no zero:   rest / x_i
    #   one zero:  rest at the zero, lone * rest / x_i (= 0) elsewhere
    #   two zeros: (lone - x_i) * rest (= 0: the other zero) at a zero, 0 elsewhere
    #   more:      0
    # Values are exact; writing the zeros as expressions in x keeps second derivatives exact too.
    g = expand_reduced(g, x, axis, keepdims)
    zero = x == 0
    safe = np.where(zero, 1, x)
    rest = np.prod(safe, axis=axis, keepdims=True)
    zeros = np.sum(zero, axis=axis, keepdims=True)
    lone = np.sum(np.where(zero, x, 0), axis=axis, keepdims=True)
    one = np.where(zero, rest, lone * rest / safe)
    two = np.where(zero, (lone - x) * rest, 0)
    return g * np.where(zeros == 0, rest / safe, np.where(zeros == 1, one, np.where(zeros == 2, two, 0)))


def _extremum_vjp(g: Any, ans: Any, x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    # TensorFlow's reduce_max/min rule: tied extrema share the gradient equally.
    g = expand_reduced(g, x, axis, keepdims)
    hit = cast_like(x == expand_reduced(ans, x, axis, keepdims), g)
    return g * hit / np.sum(hit, axis=axis, keepdims=True)


def _var_vjp(g: Any, ans: Any, x: Any, axis: Axis = None, keepdims: bool = False, ddof: int = 0) -> Any:
    centered = x - np.mean(x, axis=axis, keepdims=True)
    return 2 * expand_reduced(g, x, axis, keepdims) * centered / (reduced_count(x, axis) - ddof)


def _std_vjp(g: Any, ans: Any, x: Any, axis: Axis = None, keepdims: bool = False, ddof: int = 0) -> Any:
    centered = x - np.mean(x, axis=axis, keepdims=True)
    scale = (reduced_count(x, axis) - ddof) * expand_reduced(ans, x, axis, keepdims)
    return expand_reduced(g, x, axis, keepdims) * centered / scale


def _cumsum_vjp(g: Any, ans: Any, x: Any, axis: int | None = None) -> Any:
    # The adjoint of a running sum is a running sum from the other end.
    if axis is None:
        return np.reshape(np.flip(np.cumsum(np.flip(g))), shape_of(x))
    return np.flip(np.cumsum(np.flip(g, axis=axis), axis=axis), axis=axis)


def _cumsum_shape(x: Shape, *, axis: int | None = None, **_: Any) -> Shape:
    if axis is None:
        return (size_of(x),)
    normalize_axis(axis, len(x))
    return tuple(x)


_DDOF = int_attr("ddof", 0, doc="delta degrees of freedom: divide by N - ddof")

defop("sum", np.sum, (_sum_vjp,), shape=reduce, attrs=_REDUCE_ATTRS,
      cost=_input_cost, numpy=(np.sum,), methods=("sum",),
      doc="sum over axis; smooth everywhere")
defop("mean", np.mean, (_mean_vjp,), shape=reduce, attrs=_REDUCE_ATTRS,
      cost=_input_cost, numpy=(np.mean,), methods=("mean",),
      doc="mean over axis; smooth everywhere")
defop("prod", np.prod, (_prod_vjp,), shape=reduce, attrs=_REDUCE_ATTRS,
      cost=_input_cost, numpy=(np.prod,), methods=("prod",),
      doc="product over axis; gradient is the product of the other elements, exact with zeros")
defop("max", np.max, (_extremum_vjp,), shape=nonempty_reduce, attrs=_REDUCE_ATTRS, cost=_input_cost,
      numpy=(np.max, np.amax), methods=("max",),
      doc="max over axis; tied maxima share the gradient equally (TensorFlow)")
defop("min", np.min, (_extremum_vjp,), shape=nonempty_reduce, attrs=_REDUCE_ATTRS, cost=_input_cost,
      numpy=(np.min, np.amin), methods=("min",),
      doc="min over axis; tied minima share the gradient equally (TensorFlow)")
defop("var", np.var, (_var_vjp,), shape=reduce, attrs=(*_REDUCE_ATTRS, _DDOF), cost=_input_cost,
      numpy=(np.var,), methods=("var",), doc="variance over axis (divisor N - ddof); smooth everywhere")
defop("std", np.std, (_std_vjp,), shape=reduce, attrs=(*_REDUCE_ATTRS, _DDOF), cost=_input_cost,
      numpy=(np.std,), methods=("std",),
      doc="standard deviation over axis; gradient NaN where the std is 0 (TensorFlow, via sqrt)")
defop("cumsum", np.cumsum, (_cumsum_vjp,), shape=_cumsum_shape, attrs=(optional_axis_attr("axis"),),
      cost=_input_cost, numpy=(np.cumsum,), methods=("cumsum",),
      doc="running sum along axis (null: of the flattened array); linear")
