"""valgrad's autodiff engine: an op registry, a tape, tracers, and the JSON graph format.

The public surface is TF r1.15's contract for Python functions
(``value_and_gradients_function``, ``gradients_function``), its twin for
graphs (``value_and_gradients``), the symbolic tracer (``trace``), a
numerical gradient checker (``check_grads``), the op set (``OPS``) and the
typed errors. Submodules never import from this package's namespace (only
from ``engine.<module>``), so importing any one of them first is safe; the
imports here are eager because the function ``trace`` must win over the
submodule of the same name, which import would otherwise bind here.
"""

from engine.api import Array, gradients_function, value_and_gradients, value_and_gradients_function
from engine.check import check_grads
from engine.checking import abstract_eval, check_gradients, prepare_batch
from engine.derivatives import (
    hessian,
    hessian_function,
    hvp,
    hvp_function,
    prepare_hessian,
    prepare_hvp,
    prepare_jacobian,
    prepare_jvp,
    value_and_jacobian,
    value_and_jacobian_function,
    value_and_jvp,
    value_and_jvp_function,
)
from engine.errors import (
    ArgumentError,
    ArityError,
    AttrError,
    CotangentError,
    EngineError,
    ExpressionError,
    GraphError,
    LimitError,
    ParamsError,
    ReferenceError_,
    ShapeError,
    TooExpensiveError,
    TooLargeError,
    TracingError,
    UnknownOpError,
)
from engine.graph import load_function
from engine.limits import DEFAULT_LIMITS, Limits
from engine.registry import OPS
from engine.tensor import Tensor
from engine.trace import trace

__all__ = [
    "DEFAULT_LIMITS",
    "OPS",
    "ArgumentError",
    "ArityError",
    "Array",
    "AttrError",
    "CotangentError",
    "EngineError",
    "ExpressionError",
    "GraphError",
    "LimitError",
    "Limits",
    "ParamsError",
    "ReferenceError_",
    "ShapeError",
    "Tensor",
    "TooExpensiveError",
    "TooLargeError",
    "TracingError",
    "UnknownOpError",
    "abstract_eval",
    "check_gradients",
    "check_grads",
    "hessian",
    "hessian_function",
    "hvp",
    "hvp_function",
    "prepare_batch",
    "prepare_hessian",
    "prepare_hvp",
    "prepare_jacobian",
    "prepare_jvp",
    "value_and_jacobian",
    "value_and_jacobian_function",
    "value_and_jvp",
    "value_and_jvp_function",
    "gradients_function",
    "load_function",
    "trace",
    "value_and_gradients",
    "value_and_gradients_function",
]
