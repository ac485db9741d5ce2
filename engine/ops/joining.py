"""Joining ops of op set 2: hstack vstack (row_stack) column_stack dstack append, and atleast_1d/2d/3d.

Each promotes its inputs (``np.atleast_*d`` or a column) and concatenates them along one axis, so the
cotangent of an input is the matching slice of ``g``, reshaped back to the input's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.attrs import optional_axis_attr
from engine.errors import ShapeError
from engine.ops.arrange import VIEW, back_to_input, slab
from engine.ops.shape import variadic_cost, variadic_vjp_cost
from engine.registry import VJP, defop, shape_of, size_of
from engine.shapes import Shape, normalize_axis

__all__: list[str] = []


def _atleast(x: Shape, rank: int) -> Shape:
    """np.atleast_{1,2,3}d: () -> ones, (n,) -> (1, n[, 1]), (m, n) -> (m, n, 1)."""
    if len(x) >= rank:
        return tuple(x)
    if not x:
        return (1,) * rank
    return (*x, 1) if len(x) == 2 else (1, *x, 1)[:rank]


def _join(name: str, xs: Sequence[Shape], ps: Sequence[Shape], ax: int) -> Shape:
    """Concatenation of the promoted shapes ``ps`` of ``xs`` along ``ax``."""
    for i, p in enumerate(ps):
        if len(p) != len(ps[0]) or any(n != m for k, (n, m) in enumerate(zip(p, ps[0], strict=True)) if k != ax):
            raise ShapeError(f"{name}: array {i} of shape {list(xs[i])} does not fit array 0 of shape "
                             f"{list(xs[0])}: sizes must agree except along axis {ax} (after promotion)")
    return (*ps[0][:ax], sum(p[ax] for p in ps), *ps[0][ax + 1:])


def _defjoin(name: str, fn: Any, promote: Callable[[Shape], Shape], axis: Callable[[Shape], int], doc: str) -> None:
    def shape(*xs: Shape) -> Shape:
        ps = [promote(x) for x in xs]
        return _join(name, xs, ps, axis(ps[0]))

    def variadic_vjp(i: int) -> VJP:
        def vjp(g: Any, ans: Any, *xs: Any) -> Any:
            ps = [promote(shape_of(x)) for x in xs[: i + 1]]
            ax = axis(ps[0])
            start = sum(p[ax] for p in ps[:i])
            piece = g[slab(ax, start, start + ps[i][ax])]
            return piece if ps[i] == shape_of(xs[i]) else np.reshape(piece, shape_of(xs[i]))

        return vjp

    defop(name, lambda *xs: fn(xs), shape=shape, arity=(1, None), variadic_vjp=variadic_vjp,
          cost=variadic_cost, vjp_cost=variadic_vjp_cost, numpy=(fn,), opset=2,
          doc=doc + "; gradient is the matching slice, reshaped back",
          aliases=("row_stack",) if name == "vstack" else ())


_defjoin("hstack", np.hstack, lambda x: _atleast(x, 1), lambda p: 0 if len(p) == 1 else 1,
         "join along axis 1 (axis 0 for 1-D arrays)")
_defjoin("vstack", np.vstack, lambda x: _atleast(x, 2), lambda p: 0,
         "join along axis 0 after atleast_2d (row_stack is an alias)")
_defjoin("column_stack", np.column_stack, lambda x: x if len(x) >= 2 else (size_of(x), 1), lambda p: 1,
         "join 1-D arrays as columns (2-D arrays as they are) along axis 1")
_defjoin("dstack", np.dstack, lambda x: _atleast(x, 3), lambda p: 2, "join along axis 2 after atleast_3d")


def _append_shape(x: Shape, y: Shape, *, axis: int | None = None) -> Shape:
    if axis is None:
        return (size_of(x) + size_of(y),)
    return _join("append", (x, y), (x, y), normalize_axis(axis, len(x)))


def _append_vjp(i: int) -> VJP:
    def vjp(g: Any, ans: Any, x: Any, y: Any, axis: int | None = None) -> Any:
        n = size_of(shape_of(x)) if axis is None else shape_of(x)[axis]
        ax = 0 if axis is None else normalize_axis(axis, len(shape_of(x)))
        piece = g[slab(ax, 0, n) if i == 0 else slab(ax, n, None)]
        return piece if axis is not None else np.reshape(piece, shape_of((x, y)[i]))

    return vjp


defop("append", np.append, (_append_vjp(0), _append_vjp(1)), shape=_append_shape,
      attrs=(optional_axis_attr("axis", doc="the axis to join along; null flattens both first"),),
      numpy=(np.append,), opset=2, doc="values joined after arr; gradient is the matching slice")

for _n in (1, 2, 3):
    defop(f"atleast_{_n}d", getattr(np, f"atleast_{_n}d"), (back_to_input,),
          shape=lambda x, _n=_n, **_: _atleast(x, _n), numpy=(getattr(np, f"atleast_{_n}d"),), opset=2, **VIEW,
          doc=f"x with size-1 axes added up to rank {_n} (one array per call); linear")
