"""Broadcasting arithmetic: add subtract multiply divide power negative maximum minimum."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.registry import defop, unbroadcast
from engine.shapes import broadcast


def _power_dx(g: Any, ans: Any, x: Any, y: Any) -> Any:
    # Special-case the common x**2 so the backward pass costs one multiply, not a pow.
    if isinstance(y, int | float) and y == 2:
        return unbroadcast(g * (2 * x), x)
    return unbroadcast(g * y * np.power(x, y - 1), x)


def _power_dy(g: Any, ans: Any, x: Any, y: Any) -> Any:
    # Only reached when y lies on a path to a param; log(x) of x <= 0 then follows TF (nan/-inf).
    return unbroadcast(g * ans * np.log(np.where(x == 0, 1, x)) * (x != 0), y)


defop("add", np.add,
      (lambda g, ans, x, y: unbroadcast(g, x),
       lambda g, ans, x, y: unbroadcast(g, y)),
      shape=broadcast, numpy=(np.add,), doc="x + y")
defop("subtract", np.subtract,
      (lambda g, ans, x, y: unbroadcast(g, x),
       lambda g, ans, x, y: unbroadcast(-g, y)),
      shape=broadcast, numpy=(np.subtract,), aliases=("sub",), doc="x - y")
defop("multiply", np.multiply,
      (lambda g, ans, x, y: unbroadcast(g * y, x),
       lambda g, ans, x, y: unbroadcast(g * x, y)),
      shape=broadcast, numpy=(np.multiply,), aliases=("mul",), doc="x * y")
defop("divide", np.divide,
      (lambda g, ans, x, y: unbroadcast(g / y, x),
       lambda g, ans, x, y: unbroadcast(-g * ans / y, y)),
      shape=broadcast, numpy=(np.divide, np.true_divide), aliases=("div",), doc="x / y")
defop("power", np.power, (_power_dx, _power_dy),
      shape=broadcast, numpy=(np.power,), aliases=("pow",),
      doc="x ** y; d/dy uses log(x) and is 0 where x == 0 (TensorFlow's rule)")
defop("negative", np.negative, (lambda g, ans, x: -g,),
      shape=broadcast, numpy=(np.negative,), aliases=("neg",), doc="-x")
defop("maximum", np.maximum,
      (lambda g, ans, x, y: unbroadcast(g * (x >= y), x),
       lambda g, ans, x, y: unbroadcast(g * (x < y), y)),
      shape=broadcast, numpy=(np.maximum,), doc="elementwise max; a tie sends the gradient to x (TensorFlow's rule)")
defop("minimum", np.minimum,
      (lambda g, ans, x, y: unbroadcast(g * (x <= y), x),
       lambda g, ans, x, y: unbroadcast(g * (x > y), y)),
      shape=broadcast, numpy=(np.minimum,), doc="elementwise min; a tie sends the gradient to x (TensorFlow's rule)")
