"""Machine-learning staples: sigmoid, logaddexp, softmax, log_softmax, logsumexp.

Each is computed in a numerically stable form (sigmoid through exp(-|x|),
the others shifted by the maximum). ``sigmoid``, ``softmax``, ``log_softmax``
and ``logsumexp`` are exported as NumPy-style functions that a ``Tensor``
dispatches (NumPy itself has none).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.attrs import axes_attr, bool_attr
from engine.costs import elementwise, input_passes
from engine.ops.dispatched import dispatched
from engine.ops.reductions import expand_reduced, nonempty_reduce
from engine.registry import defop, unbroadcast
from engine.shapes import Shape, broadcast, same

__all__ = ["log_softmax", "logsumexp", "sigmoid", "softmax"]

Axis = int | tuple[int, ...] | None


def _sigmoid(x: Any) -> Any:
    e = np.exp(-np.abs(x))
    return np.where(np.asarray(x) >= 0, 1 / (1 + e), e / (1 + e))


def _shift(x: Any, axis: Axis) -> Any:
    # The max over axis, replaced by 0 where it is not finite so that x - shift never computes inf - inf.
    m = np.max(x, axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, 0)


def _softmax(x: Any, axis: Axis = -1) -> Any:
    e = np.exp(x - _shift(x, axis))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax(x: Any, axis: Axis = -1) -> Any:
    s = x - _shift(x, axis)
    with np.errstate(divide="ignore"):
        return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def _logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    x = np.asarray(x)
    m = _shift(x, axis)
    with np.errstate(divide="ignore"):  # an all -inf slice gives log(0) = -inf, the right value
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _exp_minus(x: Any, ans: Any) -> Any:
    """exp(x - ans) with ans == -inf read as 0, so an all -inf input has gradient 0, not NaN."""
    return np.exp(x - np.where(ans == -np.inf, 0, ans))


def _logsumexp_vjp(g: Any, ans: Any, x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    return expand_reduced(g, x, axis, keepdims) * _exp_minus(x, expand_reduced(ans, x, axis, keepdims))


def _softmax_vjp(g: Any, ans: Any, x: Any, axis: Axis = -1) -> Any:
    return ans * (g - np.sum(g * ans, axis=axis, keepdims=True))


def _log_softmax_vjp(g: Any, ans: Any, x: Any, axis: Axis = -1) -> Any:
    return g - np.exp(ans) * np.sum(g, axis=axis, keepdims=True)


def _along_shape(x: Shape, *, axis: Axis = -1, **_: Any) -> Shape:
    nonempty_reduce(x, axis=axis)
    return same(x)


def _costs(forward: float, backward: float, temporaries: int) -> dict[str, Any]:
    """Cost rules in add-equivalent passes over the input (measured by bench.calibrate)."""
    return {"cost": input_passes(forward), "vjp_cost": input_passes(backward), "temporaries": temporaries}


# sigmoid's stable form takes abs, negate, exp, two divides and a where (~3 adds); logaddexp is ~19 adds and
# each of its VJPs an exp and a where; the normalisations shift by the max, exponentiate and sum.
_COSTS = {"sigmoid": (9, 3, 2), "logaddexp": (19, 16, 3), "softmax": (4, 4, 3), "log_softmax": (4, 4, 3),
          "logsumexp": (3, 4, 3)}


_ALONG = axes_attr("axis", -1, doc="axis or axes normalised over; null: all")

sigmoid = dispatched(_sigmoid)
softmax = dispatched(_softmax)
log_softmax = dispatched(_log_softmax)
logsumexp = dispatched(_logsumexp)

defop("sigmoid", _sigmoid, (lambda g, ans, x: g * ans * (1 - ans),), shape=same,
      numpy=(sigmoid, "scipy.special.expit"), aliases=("expit",),
      **_costs(*_COSTS["sigmoid"]),
      doc="1 / (1 + exp(-x)) (scipy.special.expit), computed via exp(-|x|); smooth everywhere")
defop("logaddexp", np.logaddexp,
      (lambda g, ans, x, y: unbroadcast(g * _exp_minus(x, ans), x),
       lambda g, ans, x, y: unbroadcast(g * _exp_minus(y, ans), y)),
      shape=broadcast, numpy=(np.logaddexp,), cost=elementwise(19), vjp_cost=elementwise(16), temporaries=3,
      doc="log(exp(x) + exp(y)) without overflow; both -inf gives gradient 0")
defop("softmax", _softmax, (_softmax_vjp,), shape=_along_shape, attrs=(_ALONG,),
      **_costs(*_COSTS["softmax"]), numpy=(softmax,), doc="exp(x) / sum(exp(x)) over axis, shifted by the max; smooth")
defop("log_softmax", _log_softmax, (_log_softmax_vjp,), shape=_along_shape, attrs=(_ALONG,),
      **_costs(*_COSTS["log_softmax"]), numpy=(log_softmax,),
      doc="x - logsumexp(x) over axis, shifted by the max; smooth")
defop("logsumexp", _logsumexp, (_logsumexp_vjp,), shape=nonempty_reduce,
      attrs=(axes_attr("axis"), bool_attr("keepdims", False, doc="keep reduced axes with size 1")),
      **_costs(*_COSTS["logsumexp"]), numpy=(logsumexp,),
      doc="log(sum(exp(x))) over axis, shifted by the max; an all -inf slice gives -inf with gradient 0")
