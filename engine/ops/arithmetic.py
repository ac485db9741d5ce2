"""Broadcasting arithmetic: add subtract multiply divide power negative maximum minimum.

add, subtract, multiply and negative compute with Python's ``operator``
functions: identical results on arrays, and ten times cheaper than a ufunc
call on NumPy scalars. divide and power keep NumPy's (no ZeroDivisionError,
no complex results from two Python-float constants).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from engine.costs import elementwise
from engine.registry import defop, unbroadcast
from engine.shapes import broadcast


def _power_dx(g: Any, ans: Any, x: Any, y: Any) -> Any:
    # The common x**2 costs one multiply, not a pow; the general rule never takes log(x).
    if isinstance(y, int | float) and y == 2:
        return unbroadcast(g * (2 * x), x)
    return unbroadcast(g * y * np.power(x, y - 1), x)


def _power_dy(g: Any, ans: Any, x: Any, y: Any) -> Any:
    # TensorFlow's rule: log(x) where x > 0, else 0; log never sees x <= 0, so no warning and no NaN.
    positive = x > 0
    log_x = np.where(positive, np.log(np.where(positive, x, 1)), 0)
    return unbroadcast(g * ans * log_x, y)


# Add-equivalent passes measured by bench.calibrate: pow is ~3 adds; its two VJPs take another pow, a log,
# two wheres and four multiplies, and hold about four full-size temporaries. maximum/minimum's VJPs compare
# and select (np.where is ~3 adds) for each operand.
_POWER_COSTS: dict[str, Any] = {"cost": elementwise(3), "vjp_cost": elementwise(15), "temporaries": 4}
_SELECT_COSTS: dict[str, Any] = {"vjp_cost": elementwise(6), "temporaries": 3}

defop("add", operator.add,
      (lambda g, ans, x, y: unbroadcast(g, x),
       lambda g, ans, x, y: unbroadcast(g, y)),
      shape=broadcast, numpy=(np.add,), operators=("add",), doc="x + y; smooth everywhere")
defop("subtract", operator.sub,
      (lambda g, ans, x, y: unbroadcast(g, x),
       lambda g, ans, x, y: unbroadcast(-g, y)),
      shape=broadcast, numpy=(np.subtract,), aliases=("sub",), operators=("sub",), doc="x - y; smooth everywhere")
defop("multiply", operator.mul,
      (lambda g, ans, x, y: unbroadcast(g * y, x),
       lambda g, ans, x, y: unbroadcast(g * x, y)),
      shape=broadcast, numpy=(np.multiply,), aliases=("mul",), operators=("mul",), doc="x * y; smooth everywhere")
defop("divide", np.divide,
      (lambda g, ans, x, y: unbroadcast(g / y, x),
       lambda g, ans, x, y: unbroadcast(-g * ans / y, y)),
      shape=broadcast, numpy=(np.divide,), aliases=("div",), operators=("truediv",),
      doc="x / y; at y == 0 the gradients are inf/NaN like the value")
defop("power", np.power, (_power_dx, _power_dy),
      shape=broadcast, numpy=(np.power,), aliases=("pow",), operators=("pow",), **_POWER_COSTS,
      doc="x ** y; d/dx = y * x**(y-1); d/dy = ans * log(x) where x > 0, else 0 (TensorFlow's rule)")
defop("negative", operator.neg, (lambda g, ans, x: -g,),
      shape=broadcast, numpy=(np.negative,), aliases=("neg",), operators=("neg",), doc="-x; smooth everywhere")
defop("maximum", np.maximum,
      (lambda g, ans, x, y: unbroadcast(np.where(x >= y, g, 0), x),
       lambda g, ans, x, y: unbroadcast(np.where(x >= y, 0, g), y)),
      shape=broadcast, numpy=(np.maximum,), **_SELECT_COSTS,
      doc="elementwise max; a tie sends the whole gradient to x (TensorFlow)")
defop("minimum", np.minimum,
      (lambda g, ans, x, y: unbroadcast(np.where(x <= y, g, 0), x),
       lambda g, ans, x, y: unbroadcast(np.where(x <= y, 0, g), y)),
      shape=broadcast, numpy=(np.minimum,), **_SELECT_COSTS,
      doc="elementwise min; a tie sends the whole gradient to x (TensorFlow)")
