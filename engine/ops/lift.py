"""``stop_gradient``: the one sanctioned way to use a traced value without its gradient.

As ``tf.stop_gradient`` and ``jax.lax.stop_gradient``: every implicit way
out of the tape (``float(x)``, ``x.item()``, writing into a NumPy buffer) is
refused by ``Tensor``, and this op says on purpose what those said by accident.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.ops.dispatched import dispatched
from engine.registry import defop
from engine.shapes import same

__all__ = ["stop_gradient"]


def _identity(x: Any) -> Any:
    return np.asarray(x)[()] if np.ndim(x) == 0 else np.asarray(x)


stop_gradient = dispatched(_identity)

defop("stop_gradient", stop_gradient, (None,), shape=same, numpy=(stop_gradient,), opset=2,
      doc="x itself, but no gradient flows through it (tf.stop_gradient, jax.lax.stop_gradient)")
