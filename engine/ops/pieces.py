"""Pieces of an array, op set 2: split array_split hsplit vsplit dsplit, tril triu diag diagonal, and the
constants and casts zeros_like ones_like full_like astype.

A split is one op per NumPy function whose ``output`` attribute selects the piece; its gradient is zero
outside the piece (``getitem_grad``). Triangles mask ``g`` the same way; diagonals scatter it back
(``engine.ops.arrange.scatter_vjp``); the ``*_like`` constants have no gradient and astype casts ``g`` back.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from engine.attrs import axis_attr, float_attr, int_attr, output_attr
from engine.costs import ELEMENT_FLOPS
from engine.errors import AttrError, ShapeError
from engine.ops.arrange import checked_same, distinct_axes, ints_or_int, rank_at_least, scatter_cost, scatter_vjp, slab
from engine.ops.dispatched import dispatched
from engine.ops.indexing import getitem_grad
from engine.ops.reductions import cast_like
from engine.registry import REQUIRED, Attr, defop, shape_of, size_of
from engine.shapes import Shape, normalize_axis

__all__: list[str] = []


MAX_PIECES = 1 << 16  # results of one split: each is a node, and eager NumPy code makes them all at once


def _split_axis(name: str, rank: int, axis: int) -> int:
    """The axis ``name`` splits: split/array_split's attribute, else fixed by the function (hsplit: 1, or 0 in 1-D)."""
    if name == "hsplit":
        rank_at_least(name, (0,) * rank, 1)
        return 0 if rank == 1 else 1
    if name in ("vsplit", "dsplit"):
        rank_at_least(name, (0,) * rank, 2 if name == "vsplit" else 3)
        return 0 if name == "vsplit" else 2
    return normalize_axis(axis, rank)


def _piece(name: str, n: int, sections: Any, k: int) -> tuple[int, int]:
    """Start and stop of piece ``k`` when an axis of ``n`` elements is split (NumPy's array_split)."""
    pieces = _n_pieces(sections)
    if k >= pieces:
        raise ShapeError(f"{name}: output {k} does not exist, the split has {pieces} results")
    if isinstance(sections, int):
        if name != "array_split" and n % sections:
            raise ShapeError(f"{name}: {sections} sections do not divide an axis of {n} equally (use array_split)")
        size, extra = divmod(n, sections)
        start = k * size + min(k, extra)
        return start, start + size + (k < extra)
    bounds = [0, *sections, n]
    start, stop, _ = slice(bounds[k], bounds[k + 1]).indices(n)  # Python slicing, as NumPy's ary[st:end]
    return start, max(start, stop)


def _n_pieces(sections: Any) -> int:
    return sections if isinstance(sections, int) else len(sections) + 1


def _split_vjp_cost(out: Shape, x: Shape, **_: Any) -> int:
    """Zeros of x's shape with the piece's g assigned into them (``getitem_grad`` of a slice)."""
    return ELEMENT_FLOPS * (size_of(x) + size_of(out))


def _defsplit(name: str, fn: Any, with_axis: bool) -> None:
    def index(x: Shape, indices_or_sections: Any, axis: int, output: int) -> tuple[slice, ...]:
        ax = _split_axis(name, len(x), axis)
        return slab(ax, *_piece(name, x[ax], indices_or_sections, output))

    def forward(x: Any, indices_or_sections: Any, axis: int = 0, output: int = 0) -> Any:
        return np.asarray(x)[index(np.shape(x), indices_or_sections, axis, output)]

    def shape(x: Shape, *, indices_or_sections: Any, axis: int = 0, output: int = 0) -> Shape:
        ax = _split_axis(name, len(x), axis)
        start, stop = _piece(name, x[ax], indices_or_sections, output)
        return (*x[:ax], stop - start, *x[ax + 1:])

    def vjp(g: Any, ans: Any, x: Any, indices_or_sections: Any, axis: int = 0, output: int = 0) -> Any:
        shape = shape_of(x)
        return getitem_grad(g, index=index(shape, indices_or_sections, axis, output), shape=shape)

    axis = (axis_attr("axis", 0, doc="the axis to split"),) if with_axis else ()
    defop(name, forward, (vjp,), shape=shape, attrs=(_sections_attr(), *axis, output_attr()),
          numpy=(fn,), opset=2, vjp_cost=_split_vjp_cost,
          results=lambda indices_or_sections, **_: _n_pieces(indices_or_sections),
          doc="one piece of the array split along an axis (output selects it); gradient zero outside the piece")


def _sections_attr() -> Attr:
    def parse(v: Any) -> int | list[int]:
        sections: int | list[int] = general.parse(v)
        if isinstance(sections, int) and not 1 <= sections <= MAX_PIECES:
            raise AttrError(f"a split has 1..{MAX_PIECES} sections, got {sections}")
        return sections

    general = ints_or_int("indices_or_sections", None, MAX_PIECES - 1,
                           "number of equal sections (int), or the indices where pieces start (list)", REQUIRED)
    return replace(general, parse=parse)


for _name, _with_axis in (("split", True), ("array_split", True), ("hsplit", False), ("vsplit", False),
                          ("dsplit", False)):
    _defsplit(_name, getattr(np, _name), _with_axis)

# --- triangles and diagonals: tril triu diag diagonal -------------------------------------------------


def _diag_len(rows: int, cols: int, k: int) -> int:
    return max(0, min(rows, cols - k) if k >= 0 else min(rows + k, cols))


def _diag_shape(x: Shape, *, k: int = 0) -> Shape:
    if len(x) == 1:
        return (x[0] + abs(k),) * 2
    if len(x) == 2:
        return (_diag_len(x[0], x[1], k),)
    raise ShapeError(f"diag needs a 1-D or 2-D array, got shape {list(x)} (np.diagonal takes any rank)")


def _diag_vjp(g: Any, ans: Any, x: Any, k: int = 0) -> Any:
    return np.diagonal(g, k) if len(shape_of(x)) == 1 else scatter_vjp(np.diag)(g, ans, x, k=k)


def _diag_vjp_cost(out: Shape, x: Shape, **_: Any) -> int:
    """diag of a 1-D array: the VJP takes g's diagonal (a view); of a 2-D array it scatters g back."""
    return ELEMENT_FLOPS * size_of(x) if len(x) == 1 else scatter_cost(out, x)


def _diagonal_shape(x: Shape, *, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Shape:
    rank_at_least("diagonal", x, 2)
    i, j = distinct_axes((axis1, axis2), len(x), "diagonal axes")
    return (*(n for a, n in enumerate(x) if a not in (i, j)), _diag_len(x[i], x[j], offset))


_K = int_attr("k", 0, doc="which diagonal: 0 the main one, > 0 above it, < 0 below")
defop("tril", np.tril, (lambda g, ans, x, k=0: np.tril(g, k),), shape=checked_same("tril", 2), attrs=(_K,),
      numpy=(np.tril,), opset=2, doc="zero above diagonal k (of the last two axes); gradient masked the same way")
defop("triu", np.triu, (lambda g, ans, x, k=0: np.triu(g, k),), shape=checked_same("triu", 2), attrs=(_K,),
      numpy=(np.triu,), opset=2, doc="zero below diagonal k (of the last two axes); gradient masked the same way")
defop("diag", np.diag, (_diag_vjp,), shape=_diag_shape, attrs=(_K,), numpy=(np.diag,), opset=2,
      vjp_cost=_diag_vjp_cost,
      doc="a 1-D array as diagonal k of a square matrix, or diagonal k of a 2-D array; linear")
defop("diagonal", np.diagonal, (scatter_vjp(np.diagonal),), shape=_diagonal_shape,
      attrs=(int_attr("offset", 0, doc="which diagonal: 0 the main one, > 0 above it, < 0 below"),
             axis_attr("axis1", 0, doc="the rows axis"), axis_attr("axis2", 1, doc="the columns axis")),
      numpy=(np.diagonal,), methods=("diagonal",), opset=2, vjp_cost=scatter_cost,
      doc="diagonal of the (axis1, axis2) planes, as the last axis; gradient zero off the diagonal")

# --- constants and casts: zeros_like ones_like full_like astype -------------------------------------


def _check_float_dtype(v: Any) -> str:
    try:
        dtype = np.dtype(v)
    except (TypeError, ValueError):
        raise AttrError(f"dtype must be 'float32' or 'float64', got {v!r:.40}") from None
    if dtype.name in ("float32", "float64"):
        return str(dtype.name)
    if dtype.kind in "biuc":
        raise AttrError(f"astype to {dtype.name} has no gradient (an integer, boolean or complex cast is not "
                        "differentiable): round with np.floor, np.ceil, np.round or np.trunc, which keep a float "
                        "dtype, and cast after differentiating")
    raise AttrError(f"dtype must be 'float32' or 'float64', got {dtype.name}")


def _astype(x: Any, dtype: str) -> Any:
    return np.asarray(x).astype(dtype)


_DTYPE = Attr("dtype", _check_float_dtype, REQUIRED, doc="'float32' or 'float64' (a NumPy float type is accepted)")

for _name in ("zeros_like", "ones_like"):
    defop(_name, getattr(np, _name), (None,), shape=lambda x: tuple(x), numpy=(getattr(np, _name),), opset=2,
          doc=f"an array of {_name[:-5]}s shaped and typed like x; no gradient (constant)")
defop("full_like", np.full_like, (None,), shape=lambda x, fill_value: tuple(x),
      attrs=(float_attr("fill_value", doc="the value of every element"),), numpy=(np.full_like,), opset=2,
      doc="an array of fill_value shaped and typed like x; no gradient (constant)")
defop("astype", _astype, (lambda g, ans, x, dtype: cast_like(g, x),), shape=lambda x, dtype: tuple(x),
      attrs=(_DTYPE,), numpy=(getattr(np, "astype", None) or dispatched(_astype),), methods=("astype",), opset=2,
      doc="x converted to float32 or float64; gradient converted back to x's dtype")
