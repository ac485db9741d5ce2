"""Reductions: sum mean prod max min var std (axis, keepdims) and cumsum, plus the internal ``_cast_like``.

A reduction's VJP first restores the reduced axes of ``g`` as size 1
(``expand_reduced``) so it broadcasts against the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.attrs import axes_attr, bool_attr, int_attr, optional_axis_attr
from engine.costs import ELEMENT_FLOPS, input_passes
from engine.errors import ShapeError
from engine.ops.dispatched import dispatched
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
    return ELEMENT_FLOPS * size_of(x)


def _costs(forward: float, backward: float, temporaries: int) -> dict[str, Any]:
    """Cost rules of a reduction: add-equivalent passes over its input (measured by bench.calibrate)."""
    return {"cost": input_passes(forward), "vjp_cost": input_passes(backward), "temporaries": temporaries}


# (forward passes, VJP passes, full-size VJP temporaries); the VJP passes include accumulating its
# full-size cotangent into the input's. prod's VJP takes about eight full-size temporaries and a dozen
# where/multiply passes; max/min compare, cast, multiply and divide at full size (also over a broadcast view).
_COSTS = {"sum": (0.5, 2, 1), "mean": (0.5, 2, 1), "prod": (1, 40, 10), "max": (0.5, 8, 4), "min": (0.5, 8, 4),
          "var": (2, 6, 3), "std": (2, 7, 3), "cumsum": (3, 5, 2)}


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
      **_costs(*_COSTS["sum"]), numpy=(np.sum,), methods=("sum",),
      doc="sum over axis; smooth everywhere")
defop("mean", np.mean, (_mean_vjp,), shape=reduce, attrs=_REDUCE_ATTRS,
      **_costs(*_COSTS["mean"]), numpy=(np.mean,), methods=("mean",),
      doc="mean over axis; smooth everywhere")
defop("prod", np.prod, (_prod_vjp,), shape=reduce, attrs=_REDUCE_ATTRS,
      **_costs(*_COSTS["prod"]), numpy=(np.prod,), methods=("prod",),
      doc="product over axis; gradient is the product of the other elements, exact with zeros")
defop("max", np.max, (_extremum_vjp,), shape=nonempty_reduce, attrs=_REDUCE_ATTRS, **_costs(*_COSTS["max"]),
      numpy=(np.max, np.amax), methods=("max",),
      doc="max over axis; tied maxima share the gradient equally (TensorFlow)")
defop("min", np.min, (_extremum_vjp,), shape=nonempty_reduce, attrs=_REDUCE_ATTRS, **_costs(*_COSTS["min"]),
      numpy=(np.min, np.amin), methods=("min",),
      doc="min over axis; tied minima share the gradient equally (TensorFlow)")
defop("var", np.var, (_var_vjp,), shape=reduce, attrs=(*_REDUCE_ATTRS, _DDOF), **_costs(*_COSTS["var"]),
      numpy=(np.var,), methods=("var",), doc="variance over axis (divisor N - ddof); smooth everywhere")
defop("std", np.std, (_std_vjp,), shape=reduce, attrs=(*_REDUCE_ATTRS, _DDOF), **_costs(*_COSTS["std"]),
      numpy=(np.std,), methods=("std",),
      doc="standard deviation over axis; gradient NaN where the std is 0 (TensorFlow, via sqrt)")
defop("cumsum", np.cumsum, (_cumsum_vjp,), shape=_cumsum_shape, attrs=(optional_axis_attr("axis"),),
      **_costs(*_COSTS["cumsum"]), numpy=(np.cumsum,), methods=("cumsum",),
      doc="running sum along axis (null: of the flattened array); linear")


# --- op set 2: cumprod and the NaN-ignoring reductions -------------------------------------------------------


def _revcumsum(v: Any, axis: int) -> Any:
    return np.flip(np.cumsum(np.flip(v, axis=axis), axis=axis), axis=axis)


def _cumprod_vjp(g: Any, ans: Any, x: Any, axis: int | None = None) -> Any:
    # d out_j / d x_i = prod_{k <= j, k != i} x_k (i <= j). Per slice, with z1, z2 its first two zeros:
    #   not a zero:  revcumsum(g * ans) / x_i (0 after z1: ans is 0 there)
    #   at z1:       revcumsum(g * cumprod(x with z1 read as 1))
    #   at z2:       x_z1 * revcumsum(g * cumprod(x with z1, z2 read as 1)) (= 0, written so that its
    #                derivative in x_z1 is right), later zeros 0
    # Exact with zeros, no division by zero, and second derivatives exact too (as prod's VJP).
    if axis is None:
        return np.reshape(_cumprod_vjp(g, ans, np.reshape(x, (-1,)), 0), shape_of(x))
    zero = x == 0
    count = np.cumsum(zero, axis=axis)
    first, second = zero * (count == 1), zero * (count == 2)
    before = _revcumsum(g * ans, axis) / np.where(zero, 1, x)
    at_first = _revcumsum(g * np.cumprod(np.where(first, 1, x), axis=axis), axis)
    lone = np.sum(np.where(first, x, 0), axis=axis, keepdims=True)
    at_second = lone * _revcumsum(g * np.cumprod(np.where(zero * (count <= 2), 1, x), axis=axis), axis)
    return np.where(first, at_first, np.where(second, at_second, np.where(zero, 0, before)))


def _nansum_vjp(g: Any, ans: Any, x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    return np.where(x != x, 0, np.broadcast_to(expand_reduced(g, x, axis, keepdims), shape_of(x)))


def _nanmean_vjp(g: Any, ans: Any, x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    count = np.maximum(cast_like(np.sum(x == x, axis=axis, keepdims=True), x), 1)  # all-NaN slice: no 0/0
    return np.where(x != x, 0, expand_reduced(g, x, axis, keepdims) / count)


def _nan_extremum_vjp(g: Any, ans: Any, x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    # max/min's TensorFlow rule over the non-NaN elements (NaN never equals the extremum)
    g = expand_reduced(g, x, axis, keepdims)
    hit = cast_like(x == expand_reduced(ans, x, axis, keepdims), g)
    return g * hit / np.maximum(np.sum(hit, axis=axis, keepdims=True), 1)


_NAN = "; NaN elements are skipped and get gradient 0 (an all-NaN slice gets none)"

defop("cumprod", np.cumprod, (_cumprod_vjp,), shape=_cumsum_shape, attrs=(optional_axis_attr("axis"),),
      cost=input_passes(3), vjp_cost=input_passes(60), temporaries=6, numpy=(np.cumprod,), methods=("cumprod",),
      opset=2,
      doc="running product along axis (null: of the flattened array); gradient exact with zeros: at a slice's "
          "first zero the product of the others, after it 0")
defop("nansum", np.nansum, (_nansum_vjp,), shape=reduce, attrs=_REDUCE_ATTRS, cost=_input_cost,
      numpy=(np.nansum,), opset=2, doc="sum over axis treating NaN as 0" + _NAN)
defop("nanmean", np.nanmean, (_nanmean_vjp,), shape=reduce, attrs=_REDUCE_ATTRS, cost=_input_cost,
      numpy=(np.nanmean,), opset=2, doc="mean over axis of the non-NaN elements" + _NAN)
defop("nanmax", np.nanmax, (_nan_extremum_vjp,), shape=nonempty_reduce, attrs=_REDUCE_ATTRS, cost=_input_cost,
      numpy=(np.nanmax,), opset=2, doc="max over axis ignoring NaN; tied maxima share the gradient equally" + _NAN)
defop("nanmin", np.nanmin, (_nan_extremum_vjp,), shape=nonempty_reduce, attrs=_REDUCE_ATTRS, cost=_input_cost,
      numpy=(np.nanmin,), opset=2, doc="min over axis ignoring NaN; tied minima share the gradient equally" + _NAN)
