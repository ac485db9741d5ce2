"""Batch-aware JVP rules: one ``defjvp`` per op, for speed and for the ops backward passes are made of.

A rule gets ``ts`` (one batched tangent or None per input), the node's value
and inputs (unbatched) and its attributes; it returns the output's batched
tangent (rank ``1 + ndim``, possibly broadcastable) or None. Axis attributes
shift by one for the batch axis (negative ones count from the end and stay).
A rule may return ``NotImplemented`` for a case it leaves to the general rule. Ops without a rule
here fall back to ``engine.forward`` (their VJP, elementwise
or transposed), which is correct for every op but slower.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.registry import shape_of
from engine.shapes import normalize_axis

__all__ = ["JVP_RULES", "JVPRule", "align", "defjvp", "full"]

JVPRule = Callable[..., Any]  # rule(ts, ans, *xs, **kwargs) -> batched tangent of ans, or None (zero)
JVP_RULES: dict[str, JVPRule] = {}


def defjvp(name: str, rule: JVPRule) -> None:
    """Register the batch-aware JVP rule of op ``name``: ``rule(ts, ans, *xs, **kwargs)``, ``ts[i]`` None if zero."""
    JVP_RULES[name] = rule


def align(t: Any, ndim: int) -> Any:
    """A batched tangent with size-1 axes inserted after the batch axis so it has rank ``1 + ndim``."""
    shape = shape_of(t)
    missing = ndim + 1 - len(shape)
    return t if missing <= 0 else np.reshape(t, (shape[0],) + (1,) * missing + tuple(shape[1:]))


def full(t: Any, value_shape: Sequence[int]) -> Any:
    """A batched tangent broadcast to its full size (a view), for rules that move axes around."""
    target = (shape_of(t)[0], *value_shape)
    return t if shape_of(t) == target else np.broadcast_to(align(t, len(value_shape)), target)


def _nd(x: Any) -> int:
    return len(shape_of(x))


def _sum(*terms: Any) -> Any:
    total = None
    for t in terms:
        if t is not None:
            total = t if total is None else total + t
    return total


def _plus(fresh: Any, other: Any) -> Any:
    """``fresh + other``, into ``fresh`` when it is an array this rule just made and can hold the sum:
    a large fresh temporary costs page faults, a pass over one that is already mapped does not."""
    if fresh is None or other is None:
        return other if fresh is None else fresh
    if (type(fresh) is np.ndarray and type(other) is np.ndarray and fresh.ndim >= other.ndim
            and fresh.dtype == np.result_type(fresh, other)
            and np.broadcast_shapes(fresh.shape, other.shape) == fresh.shape):
        return np.add(fresh, other, out=fresh)
    return fresh + other


def _shift(axis: Any) -> Any:
    """An axis attribute (int, ints or None) in a batched tangent; None is handled by the caller."""
    if isinstance(axis, int | np.integer):
        return int(axis) + 1 if axis >= 0 else int(axis)
    return tuple(_shift(a) for a in axis)


# -- arithmetic: hand-written so no operand is broadcast to the batch ------------------------------------


def _add(ts: list[Any], ans: Any, x: Any, y: Any) -> Any:
    n = _nd(ans)
    return _sum(*(None if t is None else align(t, n) for t in ts))


def _subtract(ts: list[Any], ans: Any, x: Any, y: Any) -> Any:
    n = _nd(ans)
    tx, ty = ts
    if ty is None:
        return align(tx, n)
    return -align(ty, n) if tx is None else align(tx, n) - align(ty, n)


def _multiply(ts: list[Any], ans: Any, x: Any, y: Any) -> Any:
    n = _nd(ans)
    tx, ty = ts
    return _plus(None if tx is None else align(tx, n) * y, None if ty is None else align(ty, n) * x)


def _divide(ts: list[Any], ans: Any, x: Any, y: Any) -> Any:
    n = _nd(ans)
    tx, ty = ts
    dx = None if tx is None else align(tx, n) / y
    return dx if ty is None else _plus(dx, -align(ty, n) * (ans / y))


def _power(ts: list[Any], ans: Any, x: Any, y: Any) -> Any:
    n = _nd(ans)
    tx, ty = ts
    if ty is None and isinstance(y, int | float) and not isinstance(y, bool):
        return align(tx, n) * (2 * x if y == 2 else y * np.power(x, y - 1))
    dx = None if tx is None else align(tx, n) * (y * np.power(x, y - 1))
    if ty is None:
        return dx
    positive = x > 0  # TensorFlow's rule, as the VJP: log(x) where x > 0, else 0
    log_x = np.where(positive, np.log(np.where(positive, x, 1)), 0)
    return _plus(dx, align(ty, n) * (ans * log_x))


defjvp("add", _add)
defjvp("subtract", _subtract)
defjvp("negative", lambda ts, ans, x: -ts[0])
defjvp("multiply", _multiply)
defjvp("divide", _divide)
defjvp("power", _power)
defjvp("stop_gradient", lambda ts, ans, x: None)


# -- matrix products --------------------------------------------------------------------------------------


def _times_right(t: Any, b: Any, a_nd: int) -> Any:
    """Batched ``t @ b`` where ``t`` stands for the left factor of rank ``a_nd``."""
    bn = _nd(b)
    if a_nd == 1:
        if bn == 2:
            return t @ b  # (B, k) @ (k, m): one BLAS call
        rows = np.expand_dims(align(t, bn - 1), axis=-2)  # (B, 1.., 1, k)
        return np.squeeze(rows @ b, axis=-2)
    if bn == 1:
        if a_nd == 2 and _nd(t) == 3:
            return t @ b  # (B, n, k) @ (k,)
        return t @ b
    return align(t, max(a_nd, bn)) @ b


def _times_left(a: Any, t: Any, b_nd: int) -> Any:
    """Batched ``a @ t`` where ``t`` stands for the right factor of rank ``b_nd``."""
    an = _nd(a)
    if b_nd == 1:
        if an == 1:
            return t @ a  # (B, k) . (k,)
        if an == 2:
            return t @ np.transpose(a)  # (B, k) @ (k, n): one BLAS call
        cols = np.expand_dims(align(t, an - 1), axis=-1)  # (B, 1.., k, 1)
        return np.squeeze(a @ cols, axis=-1)
    if an == 1:
        return np.squeeze(np.expand_dims(a, axis=0) @ t, axis=-2)
    return a @ align(t, max(an, b_nd))


def _matmul(ts: list[Any], ans: Any, a: Any, b: Any) -> Any:
    ta, tb = ts
    n = _nd(ans)
    da = None if ta is None else align(_times_right(ta, b, _nd(a)), n)
    db = None if tb is None else align(_times_left(a, tb, _nd(b)), n)
    return _sum(da, db)


def _dot(ts: list[Any], ans: Any, a: Any, b: Any) -> Any:
    if _nd(a) == 0 or _nd(b) == 0:
        return _multiply(ts, ans, a, b)
    if _nd(b) <= 2:  # np.dot is matmul here
        return _matmul(ts, ans, a, b)
    return NotImplemented  # N-D dot sums over b's second-to-last axis: rare, left to the general rule


defjvp("matmul", _matmul)
defjvp("dot", _dot)


# -- structure: linear ops applied to the tangent with the batch axis in front -------------------------


def _as_reshape(ts: list[Any], ans: Any, x: Any, **_: Any) -> Any:
    t = full(ts[0], shape_of(x))
    return np.reshape(t, (shape_of(t)[0], *shape_of(ans)))


def _transpose(ts: list[Any], ans: Any, x: Any, axes: Sequence[int] | None = None) -> Any:
    n = _nd(x)
    perm = range(n - 1, -1, -1) if axes is None else [normalize_axis(a, n) for a in axes]
    return np.transpose(full(ts[0], shape_of(x)), axes=(0, *[p + 1 for p in perm]))


def _swapaxes(ts: list[Any], ans: Any, x: Any, axis1: int, axis2: int) -> Any:
    return np.swapaxes(full(ts[0], shape_of(x)), _shift(axis1), _shift(axis2))


def _reduction(name: str) -> Any:
    def rule(ts: list[Any], ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        t = full(ts[0], shape_of(x))
        axes = tuple(range(1, _nd(x) + 1)) if axis is None else _shift(axis)
        out = np.sum(t, axis=axes, keepdims=keepdims) if name == "sum" else np.mean(t, axis=axes, keepdims=keepdims)
        return out

    return rule


def _broadcast_to(ts: list[Any], ans: Any, x: Any, shape: Sequence[int]) -> Any:
    return align(ts[0], len(shape))  # kept broadcastable: the batched output tangent, without a copy


def _getitem(ts: list[Any], ans: Any, x: Any, index: tuple[Any, ...]) -> Any:
    return full(ts[0], shape_of(x))[(slice(None), *index)]


def _joined(ts: list[Any], xs: Sequence[Any]) -> list[Any]:
    batch = next(shape_of(t)[0] for t in ts if t is not None)
    return [np.zeros((batch, *shape_of(x)), np.result_type(x)) if t is None else full(t, shape_of(x))
            for t, x in zip(ts, xs, strict=True)]


def _concatenate(ts: list[Any], ans: Any, *xs: Any, axis: int | None = 0) -> Any:
    parts = _joined(ts, xs)
    if axis is None:
        return np.concatenate([np.reshape(p, (shape_of(p)[0], -1)) for p in parts], axis=1)
    return np.concatenate(parts, axis=_shift(axis))


def _stack(ts: list[Any], ans: Any, *xs: Any, axis: int = 0) -> Any:
    return np.stack(_joined(ts, xs), axis=_shift(axis))


for _name in ("reshape", "expand_dims", "squeeze", "ravel", "atleast_1d", "atleast_2d", "atleast_3d"):
    defjvp(_name, _as_reshape)
defjvp("transpose", _transpose)
defjvp("swapaxes", _swapaxes)
defjvp("sum", _reduction("sum"))
defjvp("mean", _reduction("mean"))
defjvp("broadcast_to", _broadcast_to)
defjvp("getitem", _getitem)
defjvp("concatenate", _concatenate)
defjvp("stack", _stack)
