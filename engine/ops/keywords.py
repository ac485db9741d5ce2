"""NumPy's reduction keywords ``dtype=``, ``initial=`` and ``where=``, spelled with registered ops.

``np.sum(x, where=m, initial=c)`` is ``np.sum(np.where(m, x, 0)) + c``, and so
on for each reduction: every keyword has an exact meaning in ops the set
already has, so the gradient (ties and all) is the one those ops define and
no rule is written twice. JSON graphs and text write the same composition.
A ``where`` mask is a concrete boolean array (a traced one has no gradient
either: compute it with NumPy, or use ``np.where`` directly).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["KEYWORDS", "REDUCTIONS", "reduce_with_keywords"]

KEYWORDS = frozenset(("dtype", "initial", "where"))

# op name -> (the value a masked-out element takes, how `initial` joins the result)
REDUCTIONS: dict[str, tuple[float, Callable[[Any, Any], Any]]] = {
    "sum": (0.0, lambda r, c: r + c),
    "nansum": (0.0, lambda r, c: r + c),
    "prod": (1.0, lambda r, c: r * c),
    "max": (-np.inf, np.maximum),
    "nanmax": (-np.inf, np.maximum),
    "min": (np.inf, np.minimum),
    "nanmin": (np.inf, np.minimum),
    "mean": (0.0, lambda r, c: r),  # NumPy's mean has no initial (refused below)
}


def reduce_with_keywords(call_op: Callable[..., Any], name: str, x: Any, axis: Any = None, keepdims: bool = False,
                         *, dtype: Any = None, initial: Any = None, where: Any = True) -> Any:
    """The reduction ``name`` of ``x`` with NumPy's ``dtype``/``initial``/``where`` meaning (ops via ``call_op``)."""
    if name not in REDUCTIONS:
        raise TypeError(f"np.{name}: dtype=, initial= and where= are supported on sum, prod, max, min, mean and "
                        "their nan- forms")
    if dtype is not None:
        target = np.dtype(dtype)
        if target.kind != "f" or target.itemsize not in (4, 8):
            raise TypeError(f"np.{name}(..., dtype={target}): only float32 and float64 keep a gradient")
        x = call_op("astype", x, dtype=target.name)
    neutral, join = REDUCTIONS[name]
    mask = None if where is True else np.asarray(where)
    if mask is not None and mask.dtype != np.bool_:
        raise TypeError(f"np.{name}(..., where=...) takes a boolean mask, got dtype {mask.dtype}")
    if mask is not None:
        if name in ("max", "min", "nanmax", "nanmin") and initial is None:
            raise ValueError(f"np.{name} with where= needs initial=, as in NumPy")
        x = np.where(mask, x, neutral)
    if name == "mean" and initial is not None:
        raise TypeError("np.mean has no initial= argument")
    if name == "mean" and mask is not None:  # the mean of the selected elements only
        count = call_op("sum", np.where(mask, np.ones_like(x), 0.0), axis=_axes(axis), keepdims=keepdims)
        reduced = call_op("sum", x, axis=_axes(axis), keepdims=keepdims) / count
    else:
        reduced = call_op(name, x, axis=_axes(axis), keepdims=keepdims)
    return reduced if initial is None else join(reduced, float(initial))


def _axes(axis: Any) -> Any:
    return list(axis) if isinstance(axis, tuple) else axis
