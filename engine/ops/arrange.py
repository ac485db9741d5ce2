"""Stacking, splitting and rearranging ops of op set 2.

All but ``astype`` are linear maps that move, copy or drop elements. A VJP
applies the inverse rearrangement to ``g`` where one exists (swapaxes, rot90,
roll, tile, diff), or scatter-adds ``g`` through ``_take_grad`` at the flat
input indices each output element read: the op's own NumPy function applied
to ``arange(size)`` gives them (pad's edge modes, repeat, diagonal), memoised
per (function, shape, attributes). Both keep the backward pass differentiable.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from engine.attrs import (
    MAX_INDICES,
    MAX_RANK,
    axes_attr,
    axis_attr,
    float_attr,
    int_attr,
    ints_attr,
    nonempty_axes_attr,
    optional_axis_attr,
    output_attr,
    parse_int,
    str_attr,
)
from engine.costs import ELEMENT_FLOPS, PYTHON_STEP_FLOPS
from engine.errors import AttrError, ShapeError
from engine.ops.indexing import getitem_grad, take_grad
from engine.ops.nep18 import dispatched
from engine.ops.reductions import cast_like
from engine.registry import REQUIRED, VJP, Attr, defop, shape_of, size_of
from engine.shapes import Shape, normalize_axis

__all__ = ["source_index"]

# --- scatter-add VJPs from index arrays -------------------------------------------------------------

_INDEX_CACHE: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
_INDEX_LOCK = threading.Lock()
_CACHE_ELEMENTS = 1 << 22  # indices kept over all entries (32 MiB of intp); least recently used go first


def source_index(fn: Callable[..., Any], shape: Shape, **kw: Any) -> np.ndarray:
    """For each output element of the linear ``fn(x, **kw)``, the flat index of the element of ``x`` it copies."""
    key = (fn, tuple(shape), *sorted(kw.items()))
    with _INDEX_LOCK:
        idx = _INDEX_CACHE.get(key)
        if idx is not None:
            _INDEX_CACHE.move_to_end(key)
            return idx
    idx = np.ascontiguousarray(fn(np.arange(size_of(shape)).reshape(shape), **kw))
    idx.flags.writeable = False
    with _INDEX_LOCK:
        _INDEX_CACHE[key] = idx
        total = sum(a.size for a in _INDEX_CACHE.values())
        while total > _CACHE_ELEMENTS and len(_INDEX_CACHE) > 1:
            total -= _INDEX_CACHE.popitem(last=False)[1].size
    return idx


def _scatter(fn: Callable[..., Any]) -> VJP:
    """The VJP of ``x -> fn(x)`` when ``fn`` only copies elements: ``g`` added back where each came from."""

    def vjp(g: Any, ans: Any, x: Any, **kw: Any) -> Any:
        shape = shape_of(x)
        return take_grad(g, indices=source_index(fn, shape, **kw), axis=None, shape=shape)

    return vjp


def _back_to_input(g: Any, ans: Any, x: Any, **_: Any) -> Any:
    return np.reshape(g, shape_of(x))


def _ints_or_int(name: str, low: int | None, limit: int, doc: str, default: Any = None) -> Attr:
    """An int or a flat list of ints, each >= ``low``; the kwarg is an int or a tuple."""

    def check(v: Any) -> int:
        n = parse_int(v.item() if isinstance(v, np.integer) else v)
        if low is not None and n < low:
            raise AttrError(f"expected integers >= {low}, got {n}")
        return n

    def parse(v: Any) -> int | list[int]:
        if isinstance(v, np.ndarray):
            v = v.tolist()
        if not isinstance(v, list | tuple):
            return check(v)
        if len(v) > limit:
            raise AttrError(f"at most {limit} entries allowed, got {len(v)}")
        return [check(i) for i in v]

    return Attr(name, parse, default, to_kwarg=lambda v: tuple(v) if isinstance(v, list) else v, doc=doc)


def _rank_at_least(name: str, x: Shape, rank: int) -> None:
    if len(x) < rank:
        raise ShapeError(f"{name} needs an array of rank >= {rank}, got shape {list(x)}")


def _axes(axes: int | Sequence[int], rank: int, what: str) -> list[int]:
    """Axes normalised in the given order (not sorted), each at most once."""
    out = [normalize_axis(a, rank) for a in ((axes,) if isinstance(axes, int) else axes)]
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {what} {list(out)}")
    return out


def _slab(ax: int, start: int, stop: int | None) -> tuple[slice, ...]:
    return (slice(None),) * ax + (slice(start, stop),)


# --- joining: hstack vstack column_stack dstack append -------------------------------------------------


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


def _variadic_cost(out: Shape, *xs: Shape, **_: Any) -> int:
    return ELEMENT_FLOPS * size_of(out)


def _variadic_vjp_cost(out: Shape, *xs: Shape, **_: Any) -> int:
    return PYTHON_STEP_FLOPS * len(xs) ** 2 + 2 * ELEMENT_FLOPS * size_of(out)  # as concatenate: n**2 steps


def _defjoin(name: str, fn: Any, promote: Callable[[Shape], Shape], axis: Callable[[Shape], int], doc: str) -> None:
    def shape(*xs: Shape) -> Shape:
        ps = [promote(x) for x in xs]
        return _join(name, xs, ps, axis(ps[0]))

    def variadic_vjp(i: int) -> VJP:
        def vjp(g: Any, ans: Any, *xs: Any) -> Any:
            ps = [promote(shape_of(x)) for x in xs[: i + 1]]
            ax = axis(ps[0])
            start = sum(p[ax] for p in ps[:i])
            piece = g[_slab(ax, start, start + ps[i][ax])]
            return piece if ps[i] == shape_of(xs[i]) else np.reshape(piece, shape_of(xs[i]))

        return vjp

    defop(name, lambda *xs: fn(xs), shape=shape, arity=(1, None), variadic_vjp=variadic_vjp,
          cost=_variadic_cost, vjp_cost=_variadic_vjp_cost, numpy=(fn,), opset=2,
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
        piece = g[_slab(ax, 0, n) if i == 0 else _slab(ax, n, None)]
        return piece if axis is not None else np.reshape(piece, shape_of((x, y)[i]))

    return vjp


defop("append", np.append, (_append_vjp(0), _append_vjp(1)), shape=_append_shape,
      attrs=(optional_axis_attr("axis", doc="the axis to join along; null flattens both first"),),
      numpy=(np.append,), opset=2, doc="values joined after arr; gradient is the matching slice")

for _n in (1, 2, 3):
    defop(f"atleast_{_n}d", getattr(np, f"atleast_{_n}d"), (_back_to_input,),
          shape=lambda x, _n=_n, **_: _atleast(x, _n), numpy=(getattr(np, f"atleast_{_n}d"),), opset=2,
          doc=f"x with size-1 axes added up to rank {_n} (one array per call); linear")

# --- moving axes: swapaxes moveaxis rollaxis ravel ----------------------------------------------------


def _swap_shape(x: Shape, *, axis1: int, axis2: int) -> Shape:
    i, j = normalize_axis(axis1, len(x)), normalize_axis(axis2, len(x))
    out = list(x)
    out[i], out[j] = x[j], x[i]
    return tuple(out)


def _moveaxis_perm(rank: int, source: Any, destination: Any) -> list[int]:
    src, dst = _axes(source, rank, "source"), _axes(destination, rank, "destination")
    if len(src) != len(dst):
        raise ShapeError(f"moveaxis: source {list(src)} and destination {list(dst)} differ in length")
    order = [n for n in range(rank) if n not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return order


def _rollaxis_perm(rank: int, axis: int, start: int) -> list[int]:
    ax = normalize_axis(axis, rank)
    if not -rank <= start <= rank:
        raise ShapeError(f"rollaxis: start {start} must be in {-rank}..{rank} for an array of rank {rank}")
    start = start + rank if start < 0 else start
    order = [n for n in range(rank) if n != ax]
    order.insert(start - 1 if ax < start else start, ax)
    return order


def _rollaxis_vjp(g: Any, ans: Any, x: Any, axis: int, start: int = 0) -> Any:
    order = _rollaxis_perm(len(shape_of(x)), axis, start)
    return np.transpose(g, [order.index(n) for n in range(len(order))])


defop("swapaxes", np.swapaxes, (lambda g, ans, x, axis1, axis2: np.swapaxes(g, axis1, axis2),),
      shape=_swap_shape, attrs=(axis_attr("axis1", doc="first axis"), axis_attr("axis2", doc="second axis")),
      numpy=(np.swapaxes,), methods=("swapaxes",), opset=2, doc="exchange two axes; linear")
defop("moveaxis", np.moveaxis,
      (lambda g, ans, x, source, destination: np.moveaxis(g, destination, source),),
      shape=lambda x, source, destination: tuple(x[a] for a in _moveaxis_perm(len(x), source, destination)),
      attrs=(nonempty_axes_attr("source", doc="axes to move (int or list)"),
             nonempty_axes_attr("destination", doc="where they go, in the output (int or list)")),
      numpy=(np.moveaxis,), opset=2, doc="move axes to new positions, the others keep their order; linear")
defop("rollaxis", np.rollaxis, (_rollaxis_vjp,),
      shape=lambda x, axis, start=0: tuple(x[a] for a in _rollaxis_perm(len(x), axis, start)),
      attrs=(axis_attr("axis", doc="the axis to move"), int_attr("start", 0, doc="it goes before this axis")),
      numpy=(np.rollaxis,), opset=2, doc="move one axis before position start (NumPy's older moveaxis); linear")
defop("ravel", np.ravel, (_back_to_input,), shape=lambda x: (size_of(x),), numpy=(np.ravel,),
      methods=("ravel",), opset=2, doc="the elements as a 1-D array in C order; linear")

# --- flips, rotations, rolls ------------------------------------------------------------------------


def _checked_same(name: str, rank: int) -> Callable[..., Shape]:
    def shape(x: Shape, **_: Any) -> Shape:
        _rank_at_least(name, x, rank)
        return tuple(x)

    return shape


def _rot90_shape(x: Shape, *, k: int = 1, axes: tuple[int, ...] = (0, 1)) -> Shape:
    _rank_at_least("rot90", x, 2)
    if len(axes) != 2:
        raise ShapeError(f"rot90: axes must be two axes, got {list(axes)}")
    i, j = _axes(axes, len(x), "rot90 axes")
    return _swap_shape(x, axis1=i, axis2=j) if k % 2 else tuple(x)


def _roll_shape(x: Shape, *, shift: Any, axis: Any = None) -> Shape:
    if axis is not None:
        axes = [normalize_axis(a, len(x)) for a in ((axis,) if isinstance(axis, int) else axis)]
        shifts = (shift,) if isinstance(shift, int) else shift
        if len(shifts) not in (1, len(axes)) and len(axes) != 1:
            raise ShapeError(f"roll: shift {list(shifts)} and axis {list(axes)} differ in length")
    return tuple(x)


def _negate(shift: Any) -> Any:
    return -shift if isinstance(shift, int) else tuple(-s for s in shift)


defop("flipud", np.flipud, (lambda g, ans, x: np.flipud(g),), shape=_checked_same("flipud", 1),
      numpy=(np.flipud,), opset=2, doc="reverse axis 0; linear")
defop("fliplr", np.fliplr, (lambda g, ans, x: np.fliplr(g),), shape=_checked_same("fliplr", 2),
      numpy=(np.fliplr,), opset=2, doc="reverse axis 1; linear")
defop("rot90", np.rot90, (lambda g, ans, x, k=1, axes=(0, 1): np.rot90(g, -k, axes),), shape=_rot90_shape,
      attrs=(int_attr("k", 1, doc="number of quarter turns"),
             ints_attr("axes", [0, 1], doc="the plane of rotation: two axes, from the first towards the second")),
      numpy=(np.rot90,), opset=2, doc="rotate by k quarter turns in the plane of axes; gradient rotates back")
defop("roll", np.roll, (lambda g, ans, x, shift, axis=None: np.roll(g, _negate(shift), axis),),
      shape=_roll_shape,
      attrs=(nonempty_axes_attr("shift", doc="places to shift by (int or list, one per axis)"),
             axes_attr("axis", doc="axes to roll along (int or list); null rolls the flattened array")),
      numpy=(np.roll,), opset=2, doc="shift elements cyclically along axes; gradient rolls back")

# --- copying: repeat tile pad diff --------------------------------------------------------------------


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
        return _scatter(np.pad)(g, ans, x, pad_width=pad_width, mode=mode)
    return g[tuple(slice(b, b + n) for n, (b, _) in zip(shape, _pad_rows(pad_width, shape), strict=True))]


def _diff_shape(x: Shape, *, n: int = 1, axis: int = -1) -> Shape:
    _rank_at_least("diff", x, 1)
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


defop("repeat", np.repeat, (_scatter(np.repeat),), shape=_repeat_shape,
      attrs=(_ints_or_int("repeats", 0, MAX_INDICES, "times each element repeats: an int, or one per element"),
             optional_axis_attr("axis", doc="the axis to repeat along; null repeats the flattened array")),
      numpy=(np.repeat,), methods=("repeat",), opset=2, doc="repeat elements; copies' gradients add up")
defop("tile", np.tile, (_tile_vjp,), shape=_tile_shape,
      attrs=(_ints_or_int("reps", 0, MAX_RANK, "repetitions per axis (int or list; leading axes added as needed)",
                          default=REQUIRED),),
      numpy=(np.tile,), opset=2, doc="repeat the whole array along each axis; copies' gradients add up")
defop("pad", _pad, (_pad_vjp,), shape=_pad_shape,
      attrs=(Attr("pad_width", _parse_pad_width, REQUIRED, to_kwarg=lambda v: tuple(map(tuple, v)),
                  doc="n, [before, after], or one [before, after] pair per axis"),
             str_attr("mode", _check_mode, "constant", doc="constant, edge, reflect, symmetric or wrap"),
             float_attr("constant_values", 0.0, doc="the fill value of mode 'constant' (other modes ignore it)")),
      numpy=(np.pad,), opset=2,
      doc="pad the edges (constant, edge, reflect, symmetric, wrap); copied elements' gradients add up")
defop("diff", np.diff, (_diff_vjp,), shape=_diff_shape, cost=lambda out, x, n=1, **_: ELEMENT_FLOPS * n * size_of(x),
      attrs=(Attr("n", lambda v: _check_n(parse_int(v)), 1, doc="how many times to difference"),
             axis_attr("axis", -1, doc="the axis along which to difference")),
      numpy=(np.diff,), opset=2, doc="n-th forward difference x[i+1] - x[i] along axis; linear")

# --- splitting: split array_split hsplit vsplit dsplit --------------------------------------------------

MAX_PIECES = 1 << 16  # results of one split: each is a node, and eager NumPy code makes them all at once


def _split_axis(name: str, rank: int, axis: int) -> int:
    """The axis ``name`` splits: split/array_split's attribute, else fixed by the function (hsplit: 1, or 0 in 1-D)."""
    if name == "hsplit":
        _rank_at_least(name, (0,) * rank, 1)
        return 0 if rank == 1 else 1
    if name in ("vsplit", "dsplit"):
        _rank_at_least(name, (0,) * rank, 2 if name == "vsplit" else 3)
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


def _defsplit(name: str, fn: Any, with_axis: bool) -> None:
    def index(x: Shape, indices_or_sections: Any, axis: int, output: int) -> tuple[slice, ...]:
        ax = _split_axis(name, len(x), axis)
        return _slab(ax, *_piece(name, x[ax], indices_or_sections, output))

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
          numpy=(fn,), opset=2,
          results=lambda indices_or_sections, **_: _n_pieces(indices_or_sections),
          doc="one piece of the array split along an axis (output selects it); gradient zero outside the piece")


def _sections_attr() -> Attr:
    def parse(v: Any) -> int | list[int]:
        sections: int | list[int] = general.parse(v)
        if isinstance(sections, int) and not 1 <= sections <= MAX_PIECES:
            raise AttrError(f"a split has 1..{MAX_PIECES} sections, got {sections}")
        return sections

    general = _ints_or_int("indices_or_sections", None, MAX_PIECES - 1,
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
    return np.diagonal(g, k) if len(shape_of(x)) == 1 else _scatter(np.diag)(g, ans, x, k=k)


def _diagonal_shape(x: Shape, *, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Shape:
    _rank_at_least("diagonal", x, 2)
    i, j = _axes((axis1, axis2), len(x), "diagonal axes")
    return (*(n for a, n in enumerate(x) if a not in (i, j)), _diag_len(x[i], x[j], offset))


_K = int_attr("k", 0, doc="which diagonal: 0 the main one, > 0 above it, < 0 below")
defop("tril", np.tril, (lambda g, ans, x, k=0: np.tril(g, k),), shape=_checked_same("tril", 2), attrs=(_K,),
      numpy=(np.tril,), opset=2, doc="zero above diagonal k (of the last two axes); gradient masked the same way")
defop("triu", np.triu, (lambda g, ans, x, k=0: np.triu(g, k),), shape=_checked_same("triu", 2), attrs=(_K,),
      numpy=(np.triu,), opset=2, doc="zero below diagonal k (of the last two axes); gradient masked the same way")
defop("diag", np.diag, (_diag_vjp,), shape=_diag_shape, attrs=(_K,), numpy=(np.diag,), opset=2,
      doc="a 1-D array as diagonal k of a square matrix, or diagonal k of a 2-D array; linear")
defop("diagonal", np.diagonal, (_scatter(np.diagonal),), shape=_diagonal_shape,
      attrs=(int_attr("offset", 0, doc="which diagonal: 0 the main one, > 0 above it, < 0 below"),
             axis_attr("axis1", 0, doc="the rows axis"), axis_attr("axis2", 1, doc="the columns axis")),
      numpy=(np.diagonal,), methods=("diagonal",), opset=2,
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
