"""Comparison and selection: greater greater_equal less less_equal equal not_equal, where, clip.

Comparisons have no gradient (their VJPs are None), as in TensorFlow, but
return 1.0/0.0 in their inputs' float dtype rather than booleans: every op
of the set then accepts their result (``negative(x < y)``, ``sqrt(x > 0)``),
so a graph never reaches NumPy with a dtype no rule was written for.
``where`` treats any nonzero condition as true; ``where`` and ``clip`` route
the gradient by a mask.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.attrs import float_attr
from engine.costs import elementwise
from engine.registry import defop, unbroadcast
from engine.shapes import broadcast, same


def _as_float(ufunc: np.ufunc) -> Any:
    def compare(x: Any, y: Any) -> Any:
        return ufunc(x, y).astype(np.result_type(x, y, np.float32))

    compare.__name__ = ufunc.__name__
    return compare


for _name, _ufunc, _symbol, _stem in (
    ("greater", np.greater, ">", "gt"),
    ("greater_equal", np.greater_equal, ">=", "ge"),
    ("less", np.less, "<", "lt"),
    ("less_equal", np.less_equal, "<=", "le"),
    ("equal", np.equal, "==", "eq"),
    ("not_equal", np.not_equal, "!=", "ne"),
):
    defop(_name, _as_float(_ufunc), (None, None), shape=broadcast, numpy=(_ufunc,), operators=(_stem,),
          cost=elementwise(1.5),  # the comparison, then its cast to float
          doc=f"x {_symbol} y as 1.0 or 0.0 in the inputs' float dtype; no gradient (TensorFlow)")


def _clip_vjp(g: Any, ans: Any, x: Any, a_min: float | None = None, a_max: float | None = None) -> Any:
    # TensorFlow's clip_by_value: the gradient passes where a_min <= x <= a_max (bounds included).
    if a_min is not None:
        g = np.where(x >= a_min, g, 0)
    if a_max is not None:
        g = np.where(x <= a_max, g, 0)
    return g


def _clip(x: Any, a_min: float | None = None, a_max: float | None = None) -> Any:
    return np.clip(x, a_min, a_max)


defop("where", np.where,
      (None,
       lambda g, ans, cond, x, y: unbroadcast(np.where(cond, g, 0), x),
       lambda g, ans, cond, x, y: unbroadcast(np.where(cond, 0, g), y)),
      shape=broadcast, numpy=(np.where,), cost=elementwise(3), vjp_cost=elementwise(8), temporaries=3,
      doc="x where cond else y; the gradient goes to the chosen side, none to cond")
defop("clip", _clip, (_clip_vjp,), shape=same,
      attrs=(float_attr("a_min", None, optional=True, doc="lower bound, or null for none"),
             float_attr("a_max", None, optional=True, doc="upper bound, or null for none")),
      numpy=(np.clip,), methods=("clip",),
      vjp_cost=elementwise(7),
      doc="x limited to [a_min, a_max]; gradient passes where a_min <= x <= a_max (bounds included)")
