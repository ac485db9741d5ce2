"""Copying ops of op set 2: repeat tile pad diff.

Copies of an element add their gradients: tile sums ``g``'s blocks, pad with mode 'constant' slices the
padding off, diff applies its adjoint (a difference of the zero-padded ``g``), and repeat and pad's other
modes scatter-add ``g`` at the source index of each output element (``engine.ops.arrange.scatter_vjp``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.attrs import MAX_INDICES, MAX_RANK, axis_attr, float_attr, optional_axis_attr, parse_int, str_attr
from engine.costs import ELEMENT_FLOPS
from engine.errors import AttrError, ShapeError
from engine.ops.arrange import ints_or_int, rank_at_least, scatter_cost, scatter_vjp
from engine.registry import REQUIRED, Attr, defop, shape_of, size_of
from engine.shapes import Shape, normalize_axis

__all__: list[str] = []


def _repeat_shape(x: Shape, *, repeats: Any, axis: int | None = None) -> Shape:
    n = size_of(x) if axis is None else x[normalize_axis(axis, len(x))]
    if isinstance(repeats, int):
        total = n * repeats
    elif len(repeats) in (1, n):
        total = sum(repeats) if len(repeats) == n else n * repeats[0]
    else:
        raise ShapeError(f"repeat: {len(repeats)} repeats for an axis of {n} elements (give 1 or {n})")
    if axis is None:
        return (total,)
    ax = normalize_axis(axis, len(x))
    return (*x[:ax], total, *x[ax + 1:])


def _tile_layout(x: Shape, reps: Any) -> tuple[Shape, Shape]:
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    d = max(len(x), len(reps))
    return (1,) * (d - len(x)) + tuple(x), (1,) * (d - len(reps)) + reps


def _tile_shape(x: Shape, *, reps: Any) -> Shape:
    xs, rs = _tile_layout(x, reps)
    return tuple(n * r for n, r in zip(xs, rs, strict=True))


def _tile_vjp(g: Any, ans: Any, x: Any, reps: Any) -> Any:
    xs, rs = _tile_layout(shape_of(x), reps)
    split = np.reshape(g, [n for pair in zip(rs, xs, strict=True) for n in pair])  # (r0, n0, r1, n1, ...)
    return np.reshape(np.sum(split, axis=tuple(range(0, 2 * len(xs), 2))), shape_of(x))


_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def _parse_pad_width(v: Any) -> list[list[int]]:
    """NumPy's forms: n, [n], [before, after], or one [before, after] per axis; canonical: a list of pairs."""
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if not isinstance(v, list | tuple):
        v = [v, v]
    if len(v) in (1, 2) and all(not isinstance(r, list | tuple) for r in v):
        v = [[v[0], v[-1]]]
    if not v or len(v) > MAX_RANK or any(not isinstance(r, list | tuple) or len(r) != 2 for r in v):
        raise AttrError("pad_width is n, [before, after], or a list of [before, after] pairs (one per axis)")
    rows = [[parse_int(n) for n in r] for r in v]
    if any(n < 0 for r in rows for n in r):
        raise AttrError(f"pad widths must be non-negative, got {rows}")
    return rows


def _pad_rows(pad_width: Sequence[Sequence[int]], x: Shape) -> list[Sequence[int]]:
    if len(pad_width) not in (1, len(x)):
        raise ShapeError(f"pad: {len(pad_width)} [before, after] pairs for an array of rank {len(x)} "
                         f"(give 1 or {len(x)})")
    return list(pad_width) * len(x) if len(pad_width) == 1 else list(pad_width)


def _pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: float = 0.0) -> Any:
    if mode == "constant":
        return np.pad(x, pad_width, "constant", constant_values=constant_values)
    return np.pad(x, pad_width, mode)  # type: ignore[call-overload]  # NumPy refuses constant_values here


def _pad_shape(x: Shape, *, pad_width: Any, mode: str = "constant", **_: Any) -> Shape:
    rows = _pad_rows(pad_width, x)
    for ax, (n, (before, after)) in enumerate(zip(x, rows, strict=True)):
        if n == 0 and before + after and mode != "constant":
            raise ShapeError(f"pad: mode '{mode}' cannot extend axis {ax}, which is empty (use mode 'constant')")
    return tuple(n + before + after for n, (before, after) in zip(x, rows, strict=True))


def _pad_vjp(g: Any, ans: Any, x: Any, pad_width: Any, mode: str = "constant", constant_values: float = 0.0) -> Any:
    shape = shape_of(x)
    if mode != "constant":
        return scatter_vjp(np.pad)(g, ans, x, pad_width=pad_width, mode=mode)
    return g[tuple(slice(b, b + n) for n, (b, _) in zip(shape, _pad_rows(pad_width, shape), strict=True))]


def _pad_vjp_cost(out: Shape, x: Shape, *, mode: str = "constant", **kw: Any) -> int:
    """Mode 'constant' slices the padding off g (one pass when it is used); the others scatter-add g."""
    return ELEMENT_FLOPS * size_of(x) if mode == "constant" else scatter_cost(out, x)


def _diff_shape(x: Shape, *, n: int = 1, axis: int = -1) -> Shape:
    rank_at_least("diff", x, 1)
    ax = normalize_axis(axis, len(x))
    return (*x[:ax], max(x[ax] - n, 0), *x[ax + 1:])


def _diff_vjp(g: Any, ans: Any, x: Any, n: int = 1, axis: int = -1) -> Any:
    shape = shape_of(x)
    ax = normalize_axis(axis, len(shape))
    if n >= shape[ax]:
        return np.zeros_like(x)  # every difference was of an empty axis
    edges = [(0, 0)] * len(shape)
    edges[ax] = (1, 1)
    for _ in range(n):  # diff's adjoint: gx[j] = g[j - 1] - g[j], zero beyond the ends
        g = -np.diff(np.pad(g, edges), axis=ax)
    return g


def _check_mode(mode: str) -> str:
    if mode not in _PAD_MODES:
        raise AttrError(f"mode must be one of {', '.join(_PAD_MODES)}, got {mode!r:.40}")
    return mode


def _check_n(n: int) -> int:
    if n < 0:
        raise AttrError(f"n must be non-negative, got {n}")
    return n


defop("repeat", np.repeat, (scatter_vjp(np.repeat),), shape=_repeat_shape,
      attrs=(ints_or_int("repeats", 0, MAX_INDICES, "times each element repeats: an int, or one per element"),
             optional_axis_attr("axis", doc="the axis to repeat along; null repeats the flattened array")),
      numpy=(np.repeat,), methods=("repeat",), opset=2, vjp_cost=scatter_cost,
      doc="repeat elements; copies' gradients add up")
defop("tile", np.tile, (_tile_vjp,), shape=_tile_shape,
      attrs=(ints_or_int("reps", 0, MAX_RANK, "repetitions per axis (int or list; leading axes added as needed)",
                          default=REQUIRED),),
      numpy=(np.tile,), opset=2, doc="repeat the whole array along each axis; copies' gradients add up")
defop("pad", _pad, (_pad_vjp,), shape=_pad_shape,
      attrs=(Attr("pad_width", _parse_pad_width, REQUIRED, to_kwarg=lambda v: tuple(map(tuple, v)),
                  doc="n, [before, after], or one [before, after] pair per axis"),
             str_attr("mode", _check_mode, "constant", doc="constant, edge, reflect, symmetric or wrap"),
             float_attr("constant_values", 0.0, doc="the fill value of mode 'constant' (other modes ignore it)")),
      numpy=(np.pad,), opset=2, vjp_cost=_pad_vjp_cost,
      doc="pad the edges (constant, edge, reflect, symmetric, wrap); copied elements' gradients add up")
defop("diff", np.diff, (_diff_vjp,), shape=_diff_shape, cost=lambda out, x, n=1, **_: ELEMENT_FLOPS * n * size_of(x),
      attrs=(Attr("n", lambda v: _check_n(parse_int(v)), 1, doc="how many times to difference"),
             axis_attr("axis", -1, doc="the axis along which to difference")),
      numpy=(np.diff,), opset=2, doc="n-th forward difference x[i+1] - x[i] along axis; linear")
