"""Rearranging ops of op set 2 (swapaxes moveaxis rollaxis ravel flipud fliplr rot90 roll), and what the
arrangement modules share.

Every op of ``engine.ops.joining``, ``engine.ops.copying``, ``engine.ops.pieces`` and this module but
``astype`` is a linear map that moves, copies or drops elements. A VJP applies the inverse rearrangement to
``g`` where one exists (swapaxes, rot90, roll, tile, diff), or scatter-adds ``g`` through ``_take_grad`` at
the flat input indices each output element read (``scatter_vjp``): the op's own NumPy function applied to
``arange(size)`` gives them (pad's edge modes, repeat, diagonal), memoised per (function, shape,
attributes). Both keep the backward pass differentiable.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.attrs import axes_attr, axis_attr, int_attr, ints_attr, nonempty_axes_attr, parse_int
from engine.costs import ELEMENT_FLOPS, view
from engine.errors import AttrError, ShapeError
from engine.ops.indexing import SCATTER_PASSES, take_grad
from engine.registry import VJP, Attr, defop, shape_of, size_of
from engine.shapes import Shape, normalize_axis

__all__ = ["VIEW", "back_to_input", "checked_same", "distinct_axes", "ints_or_int", "rank_at_least", "scatter_cost",
           "scatter_vjp", "slab", "source_index"]

# --- shared: scatter-add VJPs from index arrays, attributes, shape checks, costs -------------------------

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


def scatter_vjp(fn: Callable[..., Any]) -> VJP:
    """The VJP of ``x -> fn(x)`` when ``fn`` only copies elements: ``g`` added back where each came from."""

    def vjp(g: Any, ans: Any, x: Any, **kw: Any) -> Any:
        shape = shape_of(x)
        return take_grad(g, indices=source_index(fn, shape, **kw), axis=None, shape=shape)

    return vjp


def back_to_input(g: Any, ans: Any, x: Any, **_: Any) -> Any:
    """The VJP of an op that only reshapes: ``g`` in x's shape."""
    return np.reshape(g, shape_of(x))


def ints_or_int(name: str, low: int | None, limit: int, doc: str, default: Any = None) -> Attr:
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


def rank_at_least(name: str, x: Shape, rank: int) -> None:
    """Raise ``ShapeError`` unless ``x`` has at least ``rank`` axes."""
    if len(x) < rank:
        raise ShapeError(f"{name} needs an array of rank >= {rank}, got shape {list(x)}")


def distinct_axes(axes: int | Sequence[int], rank: int, what: str) -> list[int]:
    """Axes normalised in the given order (not sorted), each at most once."""
    out = [normalize_axis(a, rank) for a in ((axes,) if isinstance(axes, int) else axes)]
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {what} {list(out)}")
    return out


def slab(ax: int, start: int, stop: int | None) -> tuple[slice, ...]:
    """The index of ``start:stop`` along axis ``ax``."""
    return (slice(None),) * ax + (slice(start, stop),)


def checked_same(name: str, rank: int) -> Callable[..., Shape]:
    """The shape rule of an op that keeps x's shape and needs at least ``rank`` axes."""

    def shape(x: Shape, **_: Any) -> Shape:
        rank_at_least(name, x, rank)
        return tuple(x)

    return shape


# A view (or a copy NumPy makes only of a non-contiguous input) costs a call, not a pass over the data.
VIEW: dict[str, Any] = {"cost": view, "vjp_cost": view, "temporaries": 0}


def scatter_cost(out: Shape, x: Shape, *rest: Shape, **_: Any) -> int:
    """The cost of ``scatter_vjp``: zeros of x's shape, then np.add.at of every element of g."""
    return ELEMENT_FLOPS * (size_of(x) + SCATTER_PASSES * size_of(out))


# --- moving axes: swapaxes moveaxis rollaxis ravel ----------------------------------------------------


def _swap_shape(x: Shape, *, axis1: int, axis2: int) -> Shape:
    i, j = normalize_axis(axis1, len(x)), normalize_axis(axis2, len(x))
    out = list(x)
    out[i], out[j] = x[j], x[i]
    return tuple(out)


def _moveaxis_perm(rank: int, source: Any, destination: Any) -> list[int]:
    src, dst = distinct_axes(source, rank, "source"), distinct_axes(destination, rank, "destination")
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
      numpy=(np.swapaxes,), methods=("swapaxes",), opset=2, **VIEW, doc="exchange two axes; linear")
defop("moveaxis", np.moveaxis,
      (lambda g, ans, x, source, destination: np.moveaxis(g, destination, source),),
      shape=lambda x, source, destination: tuple(x[a] for a in _moveaxis_perm(len(x), source, destination)),
      attrs=(nonempty_axes_attr("source", doc="axes to move (int or list)"),
             nonempty_axes_attr("destination", doc="where they go, in the output (int or list)")),
      numpy=(np.moveaxis,), opset=2, **VIEW, doc="move axes to new positions, the others keep their order; linear")
defop("rollaxis", np.rollaxis, (_rollaxis_vjp,),
      shape=lambda x, axis, start=0: tuple(x[a] for a in _rollaxis_perm(len(x), axis, start)),
      attrs=(axis_attr("axis", doc="the axis to move"), int_attr("start", 0, doc="it goes before this axis")),
      numpy=(np.rollaxis,), opset=2, **VIEW, doc="move one axis before position start (NumPy's older moveaxis); linear")
defop("ravel", np.ravel, (back_to_input,), shape=lambda x: (size_of(x),), numpy=(np.ravel,),
      methods=("ravel",), opset=2, **VIEW, doc="the elements as a 1-D array in C order; linear")

# --- flips, rotations, rolls ------------------------------------------------------------------------


def _rot90_shape(x: Shape, *, k: int = 1, axes: tuple[int, ...] = (0, 1)) -> Shape:
    rank_at_least("rot90", x, 2)
    if len(axes) != 2:
        raise ShapeError(f"rot90: axes must be two axes, got {list(axes)}")
    i, j = distinct_axes(axes, len(x), "rot90 axes")
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


defop("flipud", np.flipud, (lambda g, ans, x: np.flipud(g),), shape=checked_same("flipud", 1),
      numpy=(np.flipud,), opset=2, **VIEW, doc="reverse axis 0; linear")
defop("fliplr", np.fliplr, (lambda g, ans, x: np.fliplr(g),), shape=checked_same("fliplr", 2),
      numpy=(np.fliplr,), opset=2, **VIEW, doc="reverse axis 1; linear")
defop("rot90", np.rot90, (lambda g, ans, x, k=1, axes=(0, 1): np.rot90(g, -k, axes),), shape=_rot90_shape,
      attrs=(int_attr("k", 1, doc="number of quarter turns"),
             ints_attr("axes", [0, 1], doc="the plane of rotation: two axes, from the first towards the second")),
      numpy=(np.rot90,), opset=2, **VIEW, doc="rotate by k quarter turns in the plane of axes; gradient rotates back")
defop("roll", np.roll, (lambda g, ans, x, shift, axis=None: np.roll(g, _negate(shift), axis),),
      shape=_roll_shape,
      attrs=(nonempty_axes_attr("shift", doc="places to shift by (int or list, one per axis)"),
             axes_attr("axis", doc="axes to roll along (int or list); null rolls the flattened array")),
      numpy=(np.roll,), opset=2, doc="shift elements cyclically along axes; gradient rolls back")
