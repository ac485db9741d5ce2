"""Typed errors of the engine.

Every error a user can cause is an ``EngineError``: it carries a stable
machine-readable ``code`` (the service maps codes to HTTP statuses in one
table) and, where one exists, a JSON Pointer (RFC 6901) to the offending
place, e.g. ``/nodes/3/args/1``. Input errors are also ``ValueError``s, so
``except ValueError`` behaves as with TensorFlow.

    EngineError
    ├── GraphError              a graph or expression is malformed (ValueError)
    │   ├── UnknownOpError      an op name is not in the op set
    │   ├── ReferenceError_     a ref names no input or earlier node
    │   ├── ArityError          wrong number of arguments for an op
    │   ├── AttrError           a missing, unknown or ill-typed attribute
    │   └── ExpressionError     a text expression is not in the whitelist
    ├── ShapeError              shapes do not agree (ValueError)
    ├── ArgumentError           args do not fit the function's inputs (ValueError)
    ├── ParamsError             params are malformed or name nothing (ValueError)
    ├── CotangentError          dy has the wrong count or shape (ValueError)
    ├── OutputTypeError         an output to differentiate is integer, boolean or complex (TypeError)
    ├── LimitError              the request exceeds a configured limit
    │   ├── TooLargeError       a tensor or graph is larger than allowed
    │   └── TooExpensiveError   estimated FLOPs or memory are over the limit
    └── TracingError            Python code asked for a value a symbolic trace lacks (TypeError)
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ArgumentError",
    "ArityError",
    "AttrError",
    "CotangentError",
    "EngineError",
    "ExpressionError",
    "GraphError",
    "LimitError",
    "OutputTypeError",
    "ParamsError",
    "ReferenceError_",
    "ShapeError",
    "TooExpensiveError",
    "TooLargeError",
    "TracingError",
    "UnknownOpError",
    "join_pointer",
]


def join_pointer(*parts: str | int) -> str:
    """Build a JSON Pointer, escaping ``~`` and ``/`` as RFC 6901 requires."""
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return "".join("/" + p for p in escaped)


class EngineError(Exception):
    """Base of every error a caller can cause; ``code`` is stable across releases."""

    code: ClassVar[str] = "invalid_request"

    def __init__(self, message: str, pointer: str | None = None) -> None:
        super().__init__(message)
        self._message = message
        self._pointer = pointer

    @property
    def message(self) -> str:
        return self._message

    @property
    def pointer(self) -> str | None:
        """Where the error is (RFC 6901), relative to what the raiser was given; anchored by ``at``."""
        return self._pointer

    def at(self, prefix: str) -> EngineError:
        """The same error anchored under ``prefix`` (``/function`` + ``/nodes/3``): a new value, never a patch."""
        return self.placed(prefix + (self._pointer or ""))

    def placed(self, pointer: str | None) -> EngineError:
        """The same error at ``pointer`` instead (a text function's ``/expression`` for its generated nodes)."""
        return type(self)(self._message, pointer)

    def __str__(self) -> str:
        return f"{self.message} (at {self.pointer})" if self.pointer else self.message


class GraphError(EngineError, ValueError):
    code = "invalid_graph"


class UnknownOpError(GraphError):
    code = "unknown_op"


class ReferenceError_(GraphError):  # noqa: N801, N818 - trailing underscore avoids the builtin
    code = "unknown_reference"


class ArityError(GraphError):
    code = "wrong_arity"


class AttrError(GraphError):
    code = "invalid_attrs"


class ExpressionError(GraphError):
    code = "invalid_expression"


class ShapeError(EngineError, ValueError):
    code = "shape_mismatch"


class ArgumentError(EngineError, ValueError):
    code = "invalid_args"


class ParamsError(EngineError, ValueError):
    code = "invalid_params"


class CotangentError(EngineError, ValueError):
    code = "invalid_dy"


class OutputTypeError(EngineError, TypeError):
    code = "invalid_output"


class LimitError(EngineError, ValueError):
    code = "limit_exceeded"


class TooLargeError(LimitError):
    code = "payload_too_large"


class TooExpensiveError(LimitError):
    code = "too_expensive"


class TracingError(EngineError, TypeError):
    code = "tracing_error"
