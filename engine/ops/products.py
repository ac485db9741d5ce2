"""Tensor products of op set 2: tensordot outer inner kron cross.

Each is bilinear, so the cotangent of one factor is a product of ``g`` with
the other factor: tensordot of ``g`` and the other operand followed by a
transpose back into the factor's axis order (tensordot, inner, kron), a
matrix-vector product (outer), or a cross product (cross).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.attrs import MAX_RANK, optional_axis_attr, parse_int
from engine.costs import elementwise
from engine.errors import AttrError, ShapeError
from engine.registry import VJP, Attr, defop, shape_of, size_of, unbroadcast
from engine.shapes import Shape, broadcast, normalize_axis

__all__: list[str] = []

Axes = int | tuple[tuple[int, ...], tuple[int, ...]]


def _permute_back(x: Any, order: list[int]) -> Any:
    """``x`` whose axis ``p`` is the factor's axis ``order[p]``, transposed into the factor's order."""
    if order == sorted(order):
        return x
    return np.transpose(x, [order.index(n) for n in range(len(order))])


# --- tensordot ---------------------------------------------------------------------------------------


def _parse_axes(v: Any) -> int | list[list[int]]:
    if not isinstance(v, list | tuple):
        n = parse_int(v)
        if n < 0:
            raise AttrError(f"axes must be a non-negative count, got {n}")
        return n
    if len(v) != 2:
        raise AttrError("axes is a count or a pair [axes of a, axes of b]")
    pair = [[parse_int(i) for i in side] if isinstance(side, list | tuple) else [parse_int(side)] for side in v]
    if len(pair[0]) != len(pair[1]) or len(pair[0]) > MAX_RANK:
        raise AttrError(f"axes of a and of b must be lists of equal length, got {pair}")
    return pair


def _contracted(a: Shape, b: Shape, axes: Axes) -> tuple[list[int], list[int]]:
    """The summed axes of ``a`` and of ``b``, normalised and paired in order."""
    if isinstance(axes, int):
        if axes > min(len(a), len(b)):
            raise ShapeError(f"tensordot: cannot sum {axes} axes of shapes {list(a)} and {list(b)}")
        sa, sb = list(range(len(a) - axes, len(a))), list(range(axes))
    else:
        sa, sb = [normalize_axis(i, len(a)) for i in axes[0]], [normalize_axis(j, len(b)) for j in axes[1]]
        if len(set(sa)) != len(sa) or len(set(sb)) != len(sb):
            raise ShapeError(f"tensordot: repeated axis in {[list(axes[0]), list(axes[1])]}")
    for i, j in zip(sa, sb, strict=True):
        if a[i] != b[j]:
            raise ShapeError(f"tensordot: axis {i} of a (size {a[i]}, shape {list(a)}) does not match "
                             f"axis {j} of b (size {b[j]}, shape {list(b)})")
    return sa, sb


def _free(rank: int, summed: list[int]) -> list[int]:
    return [n for n in range(rank) if n not in summed]


def _tensordot_shape(a: Shape, b: Shape, *, axes: Axes = 2) -> Shape:
    sa, sb = _contracted(a, b, axes)
    return tuple(a[i] for i in _free(len(a), sa)) + tuple(b[j] for j in _free(len(b), sb))


def _tensordot_cost(out: Shape, a: Shape, b: Shape, *, axes: Axes = 2) -> int:
    return 2 * size_of(out) * size_of([a[i] for i in _contracted(a, b, axes)[0]])


def _tensordot_vjp_a(g: Any, ans: Any, a: Any, b: Any, axes: Axes = 2) -> Any:
    sa, sb = _contracted(shape_of(a), shape_of(b), axes)
    free_a, free_b = _free(len(shape_of(a)), sa), _free(len(shape_of(b)), sb)
    ga = np.tensordot(g, b, axes=(list(range(len(free_a), len(shape_of(g)))), free_b))
    return _permute_back(ga, free_a + [sa[sb.index(j)] for j in sorted(sb)])


def _tensordot_vjp_b(g: Any, ans: Any, a: Any, b: Any, axes: Axes = 2) -> Any:
    sa, sb = _contracted(shape_of(a), shape_of(b), axes)
    free_a, free_b = _free(len(shape_of(a)), sa), _free(len(shape_of(b)), sb)
    gb = np.tensordot(a, g, axes=(free_a, list(range(len(free_a)))))
    return _permute_back(gb, [sb[sa.index(i)] for i in sorted(sa)] + free_b)


defop("tensordot", np.tensordot, (_tensordot_vjp_a, _tensordot_vjp_b), shape=_tensordot_shape,
      cost=_tensordot_cost, numpy=(np.tensordot,), opset=2,
      attrs=(Attr("axes", _parse_axes, 2, to_kwarg=lambda v: v if isinstance(v, int) else (tuple(v[0]), tuple(v[1])),
                  doc="N (the last N axes of a with the first N of b) or [axes of a, axes of b]"),),
      doc="sum of products over paired axes of a and b; gradient is g contracted with the other factor")

# --- outer inner kron ----------------------------------------------------------------------------------


def _flat(x: Any) -> Any:
    return np.reshape(x, (-1,))


def _inner_shape(a: Shape, b: Shape) -> Shape:
    if not a or not b:
        return tuple(b or a)
    if a[-1] != b[-1]:
        raise ShapeError(f"inner: last axes differ in shapes {list(a)} and {list(b)} ({a[-1]} != {b[-1]})")
    return (*a[:-1], *b[:-1])


def _inner_vjp_a(g: Any, ans: Any, a: Any, b: Any) -> Any:
    ra, rb = len(shape_of(a)), len(shape_of(b))
    if not ra or not rb:  # a scalar factor: inner is multiply
        return unbroadcast(g * b, a)
    return np.tensordot(g, b, axes=(list(range(ra - 1, ra + rb - 2)), list(range(rb - 1))))


def _inner_vjp_b(g: Any, ans: Any, a: Any, b: Any) -> Any:
    ra, rb = len(shape_of(a)), len(shape_of(b))
    if not ra or not rb:
        return unbroadcast(g * a, b)
    return np.tensordot(g, a, axes=(list(range(ra - 1)), list(range(ra - 1))))


def _kron_layout(a: Shape, b: Shape) -> tuple[Shape, Shape, list[int]]:
    """Both shapes padded to one rank with leading 1s, and the output's shape split as (a0, b0, a1, b1, ...)."""
    r = max(len(a), len(b))
    pa, pb = (1,) * (r - len(a)) + tuple(a), (1,) * (r - len(b)) + tuple(b)
    return pa, pb, [n for pair in zip(pa, pb, strict=True) for n in pair]


def _kron_vjp(i: int) -> VJP:
    def vjp(g: Any, ans: Any, a: Any, b: Any) -> Any:
        pa, pb, split = _kron_layout(shape_of(a), shape_of(b))
        g, r = np.reshape(g, split), len(pa)
        if i == 0:
            out = np.tensordot(g, np.reshape(b, pb), axes=(list(range(1, 2 * r, 2)), list(range(r))))
        else:
            out = np.tensordot(np.reshape(a, pa), g, axes=(list(range(r)), list(range(0, 2 * r, 2))))
        return np.reshape(out, shape_of((a, b)[i]))

    return vjp


def _product_cost(out: Shape, a: Shape, b: Shape, **_: Any) -> int:
    return 2 * size_of(out) * (a[-1] if a and b else 1)


defop("outer", np.outer,
      (lambda g, ans, a, b: np.reshape(np.dot(g, _flat(b)), shape_of(a)),
       lambda g, ans, a, b: np.reshape(np.dot(_flat(a), g), shape_of(b))),
      shape=lambda a, b: (size_of(a), size_of(b)), numpy=(np.outer,), opset=2,
      doc="every product a[i] * b[j] of the flattened inputs; gradient is g times the other factor")
defop("inner", np.inner, (_inner_vjp_a, _inner_vjp_b), shape=_inner_shape, cost=_product_cost,
      numpy=(np.inner,), opset=2, doc="sum of products over the last axes (multiply for a scalar); bilinear")
defop("kron", np.kron, (_kron_vjp(0), _kron_vjp(1)),
      shape=lambda a, b: tuple(m * n for m, n in zip(*_kron_layout(a, b)[:2], strict=True)),
      numpy=(np.kron,), opset=2, doc="Kronecker product: blocks a[i] * b; gradient sums g's blocks against the other")

# --- cross ---------------------------------------------------------------------------------------------


def _cross_axes(axisa: int, axisb: int, axisc: int, axis: int | None) -> tuple[int, int, int]:
    return (axisa, axisb, axisc) if axis is None else (axis, axis, axis)


def _cross_shape(a: Shape, b: Shape, *, axisa: int = -1, axisb: int = -1, axisc: int = -1,
                 axis: int | None = None) -> Shape:
    axa, axb, axc = _cross_axes(axisa, axisb, axisc, axis)
    if not a or not b:
        raise ShapeError(f"cross needs arrays of vectors, got shapes {list(a)} and {list(b)}")
    ia, ib = normalize_axis(axa, len(a)), normalize_axis(axb, len(b))
    if a[ia] not in (2, 3) or b[ib] not in (2, 3):
        raise ShapeError(f"cross: vectors have 2 or 3 components, got {a[ia]} and {b[ib]} "
                         f"(axis {axa} of {list(a)}, axis {axb} of {list(b)})")
    try:
        rest = broadcast(a[:ia] + a[ia + 1:], b[:ib] + b[ib + 1:])
    except ShapeError:
        raise ShapeError(f"cross: shapes {list(a)} and {list(b)} do not broadcast outside their vector axes") from None
    if a[ia] == b[ib] == 2:
        return rest
    ic = normalize_axis(axc, len(rest) + 1)
    return (*rest[:ic], 3, *rest[ic:])


def _as3(v: Any) -> Any:
    """A 2-vector as the 3-vector with z = 0 (NumPy 2 deprecates 2-vectors in np.cross itself)."""
    rank = len(shape_of(v))
    return v if shape_of(v)[-1] == 3 else np.pad(v, [(0, 0)] * (rank - 1) + [(0, 1)])


def _cross(a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None) -> Any:
    axa, axb, axc = _cross_axes(axisa, axisb, axisc, axis)
    va, vb = np.moveaxis(a, axa, -1), np.moveaxis(b, axb, -1)
    c = np.cross(_as3(va), _as3(vb))
    return c[..., 2] if va.shape[-1] == vb.shape[-1] == 2 else np.moveaxis(c, -1, axc)


def _cross_vjp(i: int) -> VJP:
    def vjp(g: Any, ans: Any, a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1,
            axis: int | None = None) -> Any:
        axes = _cross_axes(axisa, axisb, axisc, axis)
        va, vb = np.moveaxis(a, axes[0], -1), np.moveaxis(b, axes[1], -1)
        if shape_of(va)[-1] == shape_of(vb)[-1] == 2:  # g is the z component of 3-vectors
            g3 = np.pad(g[..., None], [(0, 0)] * len(shape_of(g)) + [(2, 0)])
        else:
            g3 = np.moveaxis(g, axes[2], -1)
        own = (va, vb)[i]  # <g, a x b> = <a, b x g> = <b, g x a>
        d = np.cross(_as3(vb), g3) if i == 0 else np.cross(g3, _as3(va))
        if shape_of(own)[-1] == 2:
            d = d[..., :2]
        return np.moveaxis(unbroadcast(d, own), -1, axes[i])

    return vjp


_AXIS = optional_axis_attr("axis", doc="if set, the vector axis of a, b and the result alike")
defop("cross", _cross, (_cross_vjp(0), _cross_vjp(1)), shape=_cross_shape,
      cost=elementwise(18), vjp_cost=elementwise(34), numpy=(np.cross,), opset=2,
      attrs=(*(Attr(n, parse_int, -1, doc=f"the vector axis of {w}") for n, w in
               (("axisa", "a"), ("axisb", "b"), ("axisc", "the result (3-vectors only)"))), _AXIS),
      doc="cross product of 3- or 2-vectors (2-vectors have z = 0; two 2-vectors give z only); bilinear")
