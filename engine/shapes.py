"""Static shape rules shared by several ops; each raises ``ShapeError`` with a readable message.

Rules compute shapes arithmetically and never allocate data, so a graph is
checked before any NumPy call runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from engine.errors import ShapeError

__all__ = [
    "broadcast",
    "broadcast_to",
    "expand_dims",
    "matmul",
    "normalize_axes",
    "normalize_axis",
    "reduce",
    "reshape",
    "same",
    "squeeze",
    "transpose",
]

Shape = tuple[int, ...]


def _fmt(*shapes: Shape) -> str:
    return " and ".join(str(list(s)) for s in shapes)


def broadcast(*shapes: Shape, **_: object) -> Shape:
    """NumPy's broadcasting rule over ``shapes`` (right-aligned; 1 stretches)."""
    rank = max((len(s) for s in shapes), default=0)
    out = [1] * rank
    for s in shapes:
        for i, n in enumerate(s, start=rank - len(s)):
            if out[i] == 1:
                out[i] = n
            elif n not in (1, out[i]):
                raise ShapeError(f"shapes {_fmt(*shapes)} do not broadcast")
    return tuple(out)


def same(x: Shape, **_: object) -> Shape:
    """The output has the input's shape."""
    return tuple(x)


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


def reduce(x: Shape, *, axis: int | Sequence[int] | None = None, keepdims: bool = False, **_: object) -> Shape:
    """Shape after reducing ``axis`` (None: all), keeping size-1 axes when ``keepdims``."""
    axes = normalize_axes(axis, len(x))
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(x))
    return tuple(n for i, n in enumerate(x) if i not in axes)


def matmul(a: Shape, b: Shape, **_: object) -> Shape:
    """``np.matmul``: 1-D operands gain and lose a unit axis, leading (batch) axes broadcast."""
    if not a or not b:
        raise ShapeError(f"matmul needs arrays of rank >= 1, got shapes {_fmt(a, b)}; use multiply for scalars")
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ShapeError(
            f"matmul: inner dimensions differ in shapes {_fmt(a, b)} ({a2[-1]} != {b2[-2]}); "
            "the last axis of the first must equal the second-to-last of the second"
        )
    try:
        batch = broadcast(a2[:-2], b2[:-2])
    except ShapeError:
        raise ShapeError(f"matmul: batch dimensions of shapes {_fmt(a, b)} do not broadcast") from None
    return batch + a2[-2:-1] * (len(a) > 1) + b2[-1:] * (len(b) > 1)


def reshape(x: Shape, *, shape: Sequence[int], **_: object) -> Shape:
    """``np.reshape``: sizes must match; one ``-1`` takes what is left."""
    size = math.prod(x)
    known = math.prod(n for n in shape if n != -1)
    if -1 in shape:
        if known == 0 or size % known:
            raise ShapeError(f"cannot reshape an array of shape {list(x)} (size {size}) into {list(shape)}")
        return tuple(size // known if n == -1 else n for n in shape)
    if known != size:
        raise ShapeError(
            f"cannot reshape an array of shape {list(x)} (size {size}) into {list(shape)} (size {known})"
        )
    return tuple(shape)


def broadcast_to(x: Shape, *, shape: Sequence[int], **_: object) -> Shape:
    """``np.broadcast_to``: ``x`` must broadcast to exactly ``shape``."""
    target = tuple(shape)
    if len(x) > len(target) or any(n not in (1, m) for n, m in zip(x[::-1], target[::-1], strict=False)):
        raise ShapeError(f"cannot broadcast shape {list(x)} to {list(target)}")
    return target


def transpose(x: Shape, *, axes: Sequence[int] | None = None, **_: object) -> Shape:
    """``np.transpose``: ``axes`` is a permutation of the axes (None reverses them)."""
    if axes is None:
        return tuple(x[::-1])
    if len(axes) != len(x):
        raise ShapeError(f"transpose: axes {list(axes)} do not match an array of rank {len(x)}")
    perm = [normalize_axis(a, len(x)) for a in axes]
    if sorted(perm) != list(range(len(x))):
        raise ShapeError(f"transpose: axes {list(axes)} are not a permutation of 0..{len(x) - 1}")
    return tuple(x[a] for a in perm)


def expand_dims(x: Shape, *, axis: int | Sequence[int], **_: object) -> Shape:
    """``np.expand_dims``: ``axis`` counts in the output, whose rank is ``len(x) + len(axes)``."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    new = normalize_axes(axes, len(x) + len(axes))
    rest = iter(x)
    return tuple(1 if i in new else next(rest) for i in range(len(x) + len(axes)))


def squeeze(x: Shape, *, axis: int | Sequence[int] | None = None, **_: object) -> Shape:
    """``np.squeeze``: drop the given size-1 axes (None: every size-1 axis)."""
    if axis is None:
        return tuple(n for n in x if n != 1)
    axes = normalize_axes(axis, len(x))
    wrong = [a for a in axes if x[a] != 1]
    if wrong:
        raise ShapeError(f"squeeze: axis {wrong[0]} of shape {list(x)} has size {x[wrong[0]]}, not 1")
    return tuple(n for i, n in enumerate(x) if i not in axes)
