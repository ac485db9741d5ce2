"""The v1 op set. Importing this package registers every op (one ``defop`` per op).

Ops without a NumPy function are exported as NumPy-style functions that a
``Tensor`` dispatches through ``__array_function__`` (see ``engine.ops.nep18``).
"""

from engine.ops import arithmetic, compare, einsum, indexing, linalg, ml, reductions, shape, unary  # noqa: F401
from engine.ops.ml import log_softmax, logsumexp, sigmoid, softmax
from engine.ops.nep18 import dispatched

__all__ = ["dispatched", "log_softmax", "logsumexp", "sigmoid", "softmax"]
