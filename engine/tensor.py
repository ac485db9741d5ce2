"""``Tensor``: a value being traced, so plain NumPy code records onto a tape.

Python operators, ``__array_ufunc__`` and ``__array_function__`` route every
supported NumPy call to its registered op through ``apply``. An eager tensor
holds a value and computes as it records, so Python control flow on values
works (as in TF eager); a symbolic tensor records only, and asking for its
value raises ``TracingError`` naming ``where`` as the way out (as JAX does).
Nested traces (higher-order gradients) nest tensors: the innermost trace
records, and its values are tensors of the traces around it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

import engine.ops  # noqa: F401 - registers the op set
from engine.dispatch import call_function, ufunc_op
from engine.errors import TracingError
from engine.ir import Node
from engine.ops.indexing import subscript
from engine.registry import OPS, Op, lookup, shape_of
from engine.tape import EMPTY, Tape

__all__ = ["Tensor", "apply", "call_op", "forward_traced"]


def apply(op: Op, args: Sequence[Any], kwargs: Mapping[str, Any] = EMPTY,
          attrs: Mapping[str, Any] = EMPTY) -> Any:
    """Apply ``op``: plain NumPy when no argument is traced, else compute (if eager) and record."""
    tape = None
    for a in args:  # the innermost trace (highest level) records; see Tape.level
        if isinstance(a, Tensor) and (tape is None or a._tape.level > tape.level):
            tape = a._tape
    if tape is None:
        return op.forward(*args, **kwargs)
    slots = []
    raw = []
    nested = False  # do values belong to an enclosing trace (higher-order gradients)?
    for a in args:
        if isinstance(a, Tensor):
            if a._tape is tape:
                slots.append(a._slot)
                a = a._value
                if isinstance(a, Tensor):
                    nested = True
            else:  # a value of an enclosing trace is a constant of this one
                slots.append(tape.new_slot(a))
                nested = True
        else:
            if type(a) is list or type(a) is tuple:  # VJPs do arithmetic on constants: x ** [1, 2] needs y - 1
                a = np.asarray(a)
            slots.append(tape.new_slot(a))
        raw.append(a)
    if tape.symbolic:
        value = None
    elif nested:
        value = apply(op, raw, kwargs, attrs)
    else:
        value = op.forward(*raw, **kwargs)
    return Tensor(tape, tape.record(op, tuple(slots), kwargs, attrs, value), value)


def forward_traced(nodes: Sequence[Node], env: list[Any]) -> None:
    """``tape.forward`` for a graph whose arguments an enclosing gradient traces: each node records as its op."""
    for op, args, kwargs, out, attrs, _ in nodes:
        env[out] = apply(op, [env[a] for a in args], kwargs, attrs)


def call_op(name: str, *args: Any, **attrs: Any) -> Any:
    """Apply the op called ``name`` with JSON-style ``attrs`` (validated as in a graph)."""
    op = lookup(name)
    message = op.check_arity(len(args))
    if message:
        raise TypeError(message)
    canonical, kwargs = op.bind(attrs) if (attrs or op.attrs) else (EMPTY, EMPTY)
    return apply(op, args, kwargs, canonical)


_OPERATORS = {
    "add": "add", "sub": "subtract", "mul": "multiply", "truediv": "divide", "pow": "power",
    "matmul": "matmul", "lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal",
    "eq": "equal", "ne": "not_equal",
}


def _binary(name: str, reflected: bool) -> Callable[[Tensor, Any], Any]:
    op = OPS[name]
    if reflected:
        return lambda self, other: apply(op, (other, self))
    return lambda self, other: apply(op, (self, other))


class Tensor:
    """A traced value; results handed back to users are NumPy arrays, never Tensors."""

    __slots__ = ("_slot", "_tape", "_value")
    __array_priority__ = 1000.0
    __hash__ = None  # type: ignore[assignment]  # == is elementwise, as in NumPy

    def __init__(self, tape: Tape, slot: int, value: Any) -> None:
        self._tape = tape
        self._slot = slot
        self._value = value

    # -- values -----------------------------------------------------------
    def _concrete(self, what: str) -> Any:
        if self._tape.symbolic:
            raise TracingError(
                f"{what} of a traced value is not known while tracing symbolically: the function is "
                "recorded once and evaluated remotely, so Python control flow on values cannot be "
                "recorded. Use np.where(cond, a, b) (or np.maximum/np.minimum/np.clip) instead."
            )
        return self._value

    @property
    def value(self) -> Any:
        return self._concrete("the value")

    def numpy(self) -> np.ndarray:
        return np.asarray(self._concrete("the value"))

    @property
    def shape(self) -> tuple[int, ...]:
        return shape_of(self._concrete("the shape"))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.asarray(self._concrete("the dtype")).dtype if not isinstance(
            self._value, Tensor) else self._value.dtype

    def __bool__(self) -> bool:
        return bool(self._concrete("the truth value"))

    def __float__(self) -> float:
        return float(self._concrete("the float value"))

    def __int__(self) -> int:
        return int(self._concrete("the int value"))

    def __len__(self) -> int:
        shape = self.shape
        if not shape:
            raise TypeError("len() of a 0-d tensor")
        return shape[0]

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(
            "a traced Tensor cannot be converted to a NumPy array (its gradient would be lost); "
            "use NumPy functions on it directly, or .numpy() for its current value"
        )

    def __repr__(self) -> str:
        inner = "symbolic" if self._tape.symbolic else repr(self._value)
        return f"Tensor({inner}, slot={self._slot})"

    # -- NumPy protocols ----------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return apply(ufunc_op(ufunc, method, kwargs), inputs)

    def __array_function__(self, func: Any, types: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return call_function(func, args, kwargs)

    # -- operators ------------------------------------------------------------
    def __neg__(self) -> Any:
        return apply(OPS["negative"], (self,))

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Any:
        return apply(OPS["absolute"], (self,))

    def __getitem__(self, index: Any) -> Any:
        return subscript(self, index)

    @property
    def T(self) -> Any:  # noqa: N802 - NumPy's name
        return call_op("transpose", self)

    # -- methods, as on ndarray ------------------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False) -> Any:
        return call_op("sum", self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Any:
        return call_op("mean", self, axis=axis, keepdims=keepdims)

    def prod(self, axis: Any = None, keepdims: bool = False) -> Any:
        return call_op("prod", self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Any:
        return call_op("max", self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Any:
        return call_op("min", self, axis=axis, keepdims=keepdims)

    def var(self, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
        return call_op("var", self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
        return call_op("std", self, axis=axis, ddof=ddof, keepdims=keepdims)

    def cumsum(self, axis: Any = None) -> Any:
        return call_op("cumsum", self, axis=axis)

    def reshape(self, *shape: Any) -> Any:
        dims = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
        return call_op("reshape", self, shape=[int(d) for d in dims])

    def transpose(self, *axes: Any) -> Any:
        perm = axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes
        return call_op("transpose", self, axes=list(perm) if perm else None)

    def squeeze(self, axis: Any = None) -> Any:
        return call_op("squeeze", self, axis=axis)

    def flatten(self) -> Any:
        return call_op("reshape", self, shape=[-1])

    ravel = flatten

    def clip(self, a_min: Any = None, a_max: Any = None) -> Any:
        return call_op("clip", self, a_min=a_min, a_max=a_max)

    def dot(self, other: Any) -> Any:
        return call_op("dot", self, other)


for _py, _name in _OPERATORS.items():
    setattr(Tensor, f"__{_py}__", _binary(_name, reflected=False))
    if _py not in ("lt", "le", "gt", "ge", "eq", "ne"):
        setattr(Tensor, f"__r{_py}__", _binary(_name, reflected=True))
