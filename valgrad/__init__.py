"""valgrad: value and gradients of a function, in-process or from a valgrad service.

The local API reproduces TF r1.15's ``tf.contrib.eager.value_and_gradients_function``::

    import valgrad
    def f(x, y):
        return x * x * x * y - x * y * y
    value, (dx, dy) = valgrad.value_and_gradients_function(f)(2.0, 3.0)   # 6.0, (27.0, -4.0)

``valgrad.Client(url)`` and ``valgrad.AsyncClient(url)`` offer the same function against a valgrad
service: ``f`` is traced once, registered, and afterwards only arguments travel.
"""

from engine import (
    Array,
    EngineError,
    TracingError,
    check_grads,
    gradients_function,
    hessian_function,
    hvp_function,
    value_and_gradients,
    value_and_gradients_function,
    value_and_jacobian_function,
    value_and_jvp_function,
)
from valgrad import nn
from valgrad._base import Backoff
from valgrad.async_client import AsyncClient
from valgrad.client import Client
from valgrad.errors import (
    APIConnectionError,
    APIError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitError,
    ServiceUnavailableError,
    UnprocessableEntityError,
    ValgradError,
)
from valgrad.info import AttrInfo, FunctionHandle, Health, OpInfo, OpSet
from valgrad.toolkit import BoundFunction

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "Array",
    "AsyncClient",
    "AttrInfo",
    "AuthenticationError",
    "Backoff",
    "BadRequestError",
    "BoundFunction",
    "Client",
    "EngineError",
    "FunctionHandle",
    "Health",
    "InternalServerError",
    "NotFoundError",
    "OpInfo",
    "OpSet",
    "PayloadTooLargeError",
    "RateLimitError",
    "ServiceUnavailableError",
    "TracingError",
    "UnprocessableEntityError",
    "ValgradError",
    "check_grads",
    "gradients_function",
    "hessian_function",
    "hvp_function",
    "nn",
    "value_and_gradients",
    "value_and_gradients_function",
    "value_and_jacobian_function",
    "value_and_jvp_function",
]
