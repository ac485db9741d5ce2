"""The op set (opsets 1 and 2). Importing this package registers every op (one ``defop`` per op).

Ops without a NumPy function are exported as NumPy-style functions that a
``Tensor`` dispatches through ``__array_function__`` (see ``engine.ops.dispatched``, a module:
not re-exported here, so the function never shadows it).
"""

from engine.ops import (  # noqa: F401  # noqa: F401  - op set 2
    arithmetic,
    arrange,
    compare,
    copying,
    decomp,
    einsum,
    elementwise,
    indexing,
    joining,
    linalg,
    ml,
    pieces,
    products,
    reductions,
    selection,
    shape,
    unary,
)
from engine.ops.lift import stop_gradient
from engine.ops.ml import log_softmax, logsumexp, sigmoid, softmax
from engine.ops.special import digamma, erf, erfc, gammaln, log_expit, logit, polygamma, xlogy

__all__ = [
    "digamma", "erf", "erfc", "gammaln", "log_expit", "log_softmax", "logit", "logsumexp", "polygamma", "sigmoid",
    "softmax", "stop_gradient", "xlogy",
]
