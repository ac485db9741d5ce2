"""Shape ops: reshape expand_dims squeeze broadcast_to concatenate stack flip.

All are linear; their VJPs move ``g`` back into the input's layout
(``reshape``, ``unbroadcast``, slicing, ``flip``). getitem and take live in
``engine.ops.indexing``.
"""

from __future__ import annotations

from itertools import islice
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np

import engine.shapes as shapes
from engine.attrs import axes_attr, axis_attr, nonempty_axes_attr, optional_axis_attr, shape_attr
from engine.costs import ELEMENT_FLOPS, PYTHON_STEP_FLOPS, output_passes, view
from engine.errors import ShapeError
from engine.registry import VJP, defop, shape_of, size_of, unbroadcast
from engine.shapes import Shape, normalize_axes, normalize_axis


def _back_to_input(g: Any, ans: Any, x: Any, **_: Any) -> Any:
    return np.reshape(g, shape_of(x))


def _concatenate_shape(*xs: Shape, axis: int | None = 0) -> Shape:
    if axis is None:
        return (sum(size_of(x) for x in xs),)
    first = xs[0]
    if not first:
        raise ShapeError("concatenate: zero-dimensional arrays cannot be concatenated; use stack")
    ax = normalize_axis(axis, len(first))
    for i, x in enumerate(xs):
        if len(x) != len(first) or any(n != m for k, (n, m) in enumerate(zip(x, first, strict=True)) if k != ax):
            raise ShapeError(
                f"concatenate: array {i} has shape {list(x)}, which differs from {list(first)} outside axis {axis}"
            )
    return (*first[:ax], sum(x[ax] for x in xs), *first[ax + 1:])


def _concatenate_vjp(i: int) -> VJP:
    def vjp(g: Any, ans: Any, *xs: Any, axis: int | None = 0) -> Any:
        before = islice(xs, i)  # only the inputs before i decide where its slice starts
        if axis is None:
            start = sum(size_of(shape_of(x)) for x in before)
            return np.reshape(g[start: start + size_of(shape_of(xs[i]))], shape_of(xs[i]))
        start = sum(map(itemgetter(axis), map(attrgetter("shape"), before)))  # inputs are arrays of rank >= 1
        ax = normalize_axis(axis, len(shape_of(g)))
        return g[(slice(None),) * ax + (slice(start, start + shape_of(xs[i])[axis]),)]

    return vjp


# Every VJP of a node receives all of its n inputs (the registry's flat signature), and concatenate's
# VJP sums the sizes before its input: a variadic node costs about n**2 Python-level steps in the
# backward pass, however small its tensors. Counting them bounds fan-in through the FLOP limit (a
# 30,000-input concatenate of scalars would otherwise take minutes). One step (100-200 ns) is worth
# about 1000 FLOPs of the BLAS kernels the FLOP limit mostly meters (engine.costs.PYTHON_STEP_FLOPS).
def variadic_cost(out: Shape, *xs: Shape, **_: Any) -> int:
    return ELEMENT_FLOPS * size_of(out)


def variadic_vjp_cost(out: Shape, *xs: Shape, **_: Any) -> int:
    return PYTHON_STEP_FLOPS * len(xs) ** 2 + 2 * ELEMENT_FLOPS * size_of(out)


_VIEW: dict[str, Any] = {"cost": view, "vjp_cost": view, "temporaries": 0}  # a view costs a call, not a pass


def _stack_shape(*xs: Shape, axis: int = 0) -> Shape:
    for i, x in enumerate(xs):
        if x != xs[0]:
            raise ShapeError(f"stack: all arrays need the same shape; array {i} has {list(x)}, array 0 {list(xs[0])}")
    ax = normalize_axis(axis, len(xs[0]) + 1)
    return (*xs[0][:ax], len(xs), *xs[0][ax:])


def _stack_vjp(i: int) -> VJP:
    def vjp(g: Any, ans: Any, *xs: Any, axis: int = 0) -> Any:
        return g[(slice(None),) * normalize_axis(axis, len(shape_of(g))) + (i,)]

    return vjp


def _flip_shape(x: Shape, *, axis: Any = None) -> Shape:
    normalize_axes(axis, len(x))
    return tuple(x)


defop("reshape", np.reshape, (_back_to_input,), shape=shapes.reshape,
      attrs=(shape_attr("shape", allow_minus_one=True, doc="the new shape; one size may be -1"),),
      **_VIEW, numpy=(np.reshape,), methods=("reshape",), pack_args=True,
      doc="same data in a new shape (one size may be -1); linear")
defop("expand_dims", np.expand_dims, (_back_to_input,), shape=shapes.expand_dims,
      attrs=(nonempty_axes_attr("axis", doc="where the new size-1 axes go (counted in the output)"),),
      **_VIEW, numpy=(np.expand_dims,), doc="insert size-1 axes; linear")
defop("squeeze", np.squeeze, (_back_to_input,), shape=shapes.squeeze,
      attrs=(axes_attr("axis", doc="size-1 axes to drop; null drops all"),),
      **_VIEW, numpy=(np.squeeze,), methods=("squeeze",), doc="drop size-1 axes; linear")
defop("broadcast_to", np.broadcast_to, (lambda g, ans, x, shape: unbroadcast(g, x),), shape=shapes.broadcast_to,
      attrs=(shape_attr("shape"),), numpy=(np.broadcast_to,), cost=view, vjp_cost=output_passes(1), temporaries=0,
      doc="repeat x along size-1 and new leading axes; gradient sums them back")
defop("concatenate", lambda *xs, axis=0: np.concatenate(xs, axis=axis), shape=_concatenate_shape,
      attrs=(optional_axis_attr("axis", 0, doc="the axis to join along; null flattens every input first"),),
      arity=(1, None), variadic_vjp=_concatenate_vjp, cost=variadic_cost, vjp_cost=variadic_vjp_cost,
      numpy=(np.concatenate,),
      doc="join arrays along an existing axis; gradient is the matching slice")
defop("stack", lambda *xs, axis=0: np.stack(xs, axis=axis), shape=_stack_shape,
      attrs=(axis_attr("axis", 0, doc="position of the new axis in the output"),),
      arity=(1, None), variadic_vjp=_stack_vjp, cost=variadic_cost, vjp_cost=variadic_vjp_cost, numpy=(np.stack,),
      doc="join equal-shaped arrays along a new axis; gradient is the matching slice")
defop("flip", np.flip, (lambda g, ans, x, axis=None: np.flip(g, axis=axis),), shape=_flip_shape,
      attrs=(axes_attr("axis", doc="axes to reverse; null reverses all"),), numpy=(np.flip,), **_VIEW,
      doc="reverse the order of elements along axes; linear")
