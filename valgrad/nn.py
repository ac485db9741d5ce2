"""Neural-network activations written with NumPy, as ``jax.nn`` offers them.

Each function works on plain arrays and on traced values alike: it calls only
NumPy functions that a ``Tensor`` records as registered ops (``sigmoid``,
``softmax``, ``log_softmax``, ``logsumexp`` and ``erfc`` are the engine's
NumPy-style functions, since NumPy has none), so gradients, Hessians and
remote functions see ordinary ops.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.ops import erfc, log_softmax, logsumexp, sigmoid, softmax

__all__ = ["gelu", "log_softmax", "logsumexp", "relu", "sigmoid", "softmax", "softplus"]

_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_SQRT_HALF = math.sqrt(0.5)


def relu(x: Any) -> Any:
    """max(x, 0); the gradient at 0 is 0, as TensorFlow's and JAX's relu (np.maximum would send it to x)."""
    return np.where(x > 0, x, 0)


def softplus(x: Any) -> Any:
    """log(1 + exp(x)) without overflow (``logaddexp(x, 0)``); its gradient is sigmoid(x)."""
    return np.logaddexp(x, 0.0)


def gelu(x: Any, approximate: bool = True) -> Any:
    """Gaussian error linear unit, x * Phi(x); ``approximate`` uses the tanh form, as ``jax.nn.gelu`` does.

    The exact form is written with erfc (x/2 * erfc(-x/sqrt 2)) so that very negative x keeps its digits.
    """
    if approximate:
        return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * (x * x * x))))
    return 0.5 * x * erfc(-_SQRT_HALF * x)
