"""Static shape rules shared by several ops; each raises ``ShapeError`` with a readable message."""

from __future__ import annotations

from collections.abc import Sequence

from engine.errors import ShapeError

__all__ = ["broadcast", "normalize_axis"]

Shape = tuple[int, ...]


def broadcast(*shapes: Shape, **_: object) -> Shape:
    """NumPy's broadcasting rule over ``shapes`` (right-aligned; 1 stretches)."""
    rank = max((len(s) for s in shapes), default=0)
    out = [1] * rank
    for s in shapes:
        for i, n in enumerate(s, start=rank - len(s)):
            if out[i] == 1:
                out[i] = n
            elif n not in (1, out[i]):
                raise ShapeError(f"shapes {' and '.join(str(list(t)) for t in shapes)} do not broadcast")
    return tuple(out)


def normalize_axis(axis: int, rank: int) -> int:
    """Map a possibly negative ``axis`` into ``0..rank-1``."""
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is out of bounds for an array of rank {rank}")
    return axis % rank if rank else 0


def normalize_axes(axis: int | Sequence[int] | None, rank: int) -> tuple[int, ...]:
    """Axes of a reduction as sorted non-negative ints; None means every axis."""
    if axis is None:
        return tuple(range(rank))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = tuple(sorted(normalize_axis(a, rank) for a in axes))
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {list(axes)}")
    return out
