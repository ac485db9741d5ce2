"""valgrad's autodiff engine: an op registry, a tape, tracers, and the JSON graph format.

This namespace is the engine's public surface, for users and for the
service (``app``) and the SDK (``valgrad``), which import nothing else from
it but the optional compiled tier (``engine.compiled``) and the op set's
NumPy-style functions (``engine.ops``):

- TF r1.15's contract for Python functions (``value_and_gradients_function``,
  ``gradients_function``) and the derivative kinds built like it (JVP,
  Jacobian, Hessian, HVP), with the rules both sides of the wire apply
  (``as_argument``, ``argument_dtype``, ``dy_leaves``, ``check_unconnected``);
- graphs: ``load_function`` (a JSON graph or text function, validated),
  ``value_and_gradients`` and the ``prepare*`` functions that check and
  price a request before its first NumPy call, and the ``*_checked``
  functions that run, in a helper process, what was checked elsewhere;
- the symbolic tracer (``trace``), gradient checkers, the op set (``OPS``),
  the tensor codec, limits and the typed errors.

Submodules never import from this namespace (only from ``engine.<module>``),
so importing any one of them first is safe.
"""

from engine.attrs import MAX_RANK
from engine.check import check_grads
from engine.checking import (
    BatchItem,
    PreparedBatch,
    PreparedCheck,
    abstract_eval,
    check_gradients,
    compare_checked,
    prepare_batch,
    prepare_check,
    run_batch_checked,
)
from engine.codec import NONFINITE, decode_tensor, encode_tensor
from engine.contract import (
    Array,
    Unconnected,
    argument_dtype,
    argument_signature,
    as_argument,
    check_unconnected,
    dy_leaves,
    real_cotangent,
)
from engine.derivatives import (
    Prepared,
    hessian,
    hessian_function,
    hvp,
    hvp_function,
    prepare_hessian,
    prepare_hvp,
    prepare_jacobian,
    prepare_jvp,
    run_checked,
    value_and_jacobian,
    value_and_jacobian_function,
    value_and_jvp,
    value_and_jvp_function,
)
from engine.eager import gradients_function, value_and_gradients_function
from engine.errors import (
    ArgumentError,
    ArityError,
    AttrError,
    CotangentError,
    EngineError,
    ExpressionError,
    GraphError,
    LimitError,
    OutputTypeError,
    ParamsError,
    ReferenceError_,
    ShapeError,
    TooExpensiveError,
    TooLargeError,
    TracingError,
    UnknownOpError,
    join_pointer,
)
from engine.evaluation import Evaluation, evaluate_checked, prepare, value_and_gradients
from engine.graph import load_checked, load_function
from engine.ir import FLOAT_DTYPES, FUNCTION_ID_PATTERN, ID_PATTERN, NEWEST_OPSET, OPSETS, VERSION, Graph
from engine.limits import DEFAULT_LIMITS, Limits
from engine.params import positional_names, resolve_params
from engine.registry import ALIASES, OPS, REQUIRED, Op
from engine.targets import check_vectors
from engine.tensor import Tensor
from engine.tracing import Traced, trace
from engine.tree import flatten

__all__ = [
    "ALIASES", "DEFAULT_LIMITS", "FLOAT_DTYPES", "FUNCTION_ID_PATTERN", "ID_PATTERN", "MAX_RANK", "NEWEST_OPSET",
    "NONFINITE", "OPS", "OPSETS", "REQUIRED", "VERSION", "ArgumentError", "ArityError", "Array", "AttrError",
    "BatchItem", "CotangentError", "EngineError", "Evaluation", "ExpressionError", "Graph", "GraphError",
    "LimitError", "Limits", "Op", "OutputTypeError", "ParamsError", "Prepared", "PreparedBatch", "PreparedCheck",
    "ReferenceError_", "ShapeError", "Tensor", "TooExpensiveError", "TooLargeError", "Traced", "TracingError",
    "Unconnected", "UnknownOpError", "abstract_eval", "argument_dtype", "argument_signature", "as_argument",
    "check_gradients", "check_grads", "check_unconnected", "check_vectors", "compare_checked", "decode_tensor",
    "dy_leaves", "encode_tensor", "evaluate_checked", "flatten", "gradients_function", "hessian", "hessian_function",
    "hvp", "hvp_function", "join_pointer", "load_checked", "load_function", "positional_names", "prepare",
    "prepare_batch", "prepare_check", "prepare_hessian", "prepare_hvp", "prepare_jacobian", "prepare_jvp",
    "real_cotangent", "resolve_params", "run_batch_checked", "run_checked", "trace", "value_and_gradients",
    "value_and_gradients_function", "value_and_jacobian", "value_and_jacobian_function", "value_and_jvp",
    "value_and_jvp_function",
]
