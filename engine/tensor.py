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
from engine.dispatch import call_function, call_method, ufunc_op
from engine.errors import TracingError
from engine.ir import Abstract, Node
from engine.ops.subscript import subscript
from engine.pyops import PYTHON_OPERATORS
from engine.registry import OPS, Op, lookup, shape_of
from engine.tape import EMPTY, Tape

__all__ = ["Tensor", "apply", "call_op", "forward_traced"]


def apply(op: Op, args: Sequence[Any], kwargs: Mapping[str, Any] = EMPTY,
          attrs: Mapping[str, Any] = EMPTY) -> Any:
    """Apply ``op``: plain NumPy when no argument is traced, else compute (if eager) and record.

    An eager trace does not record an op without a gradient (comparisons, argmax, stop_gradient): its
    result is what NumPy itself returns, a plain value (as JAX gives integer results no tangent), so
    ``x[np.argmax(x)]``, ``x[x > 0]`` and ``if x > 0`` work on it directly.
    """
    tape = None
    for a in args:  # the innermost trace (highest level) records; see Tape.level
        if type(a) is Tensor:  # (never subclassed: an exact type test is the cheapest)
            if tape is None or a._tape.level > tape.level:
                tape = a._tape
        elif type(a) is list or type(a) is tuple or (type(a) is np.ndarray and a.dtype.kind == "O"):
            return apply(op, [_array(b) for b in args], kwargs, attrs)  # rare: lists and object arrays
    if tape is None:
        return op.forward(*args, **kwargs)
    if not op.differentiable and not tape.symbolic:  # NumPy's own result: bools for x > 0, ints for argmax
        return (op.numpy[0] if op.numpy else op.forward)(*[concrete(a) for a in args], **kwargs)
    slots = []
    raw = []
    nested = False  # do values belong to an enclosing trace (higher-order gradients)?
    for a in args:
        if type(a) is Tensor:
            if a._tape is tape:
                slots.append(a._slot)
                a = a._value
                if type(a) is Tensor:
                    nested = True
            else:  # a value of an enclosing trace is a constant of this one
                slots.append(tape.new_slot(a))
                nested = True
        else:
            if type(a) is not float and _is_complex(a):
                raise TypeError(
                    "complex numbers are not supported: valgrad differentiates real functions (op set 2 has "
                    "no complex arithmetic; autograd refuses complex outputs too); split the computation "
                    "into real and imaginary parts")
            slots.append(tape.new_slot(a))
        raw.append(a)
    if tape.symbolic:
        value = _abstract(op, raw, kwargs)
    elif nested:
        value = apply(op, raw, kwargs, attrs)
    else:
        value = op.forward(*raw, **kwargs)
    return Tensor(tape, tape.record(op, tuple(slots), kwargs, attrs, value), value)


def _abstract(op: Op, raw: Sequence[Any], kwargs: Mapping[str, Any]) -> Abstract | None:
    """The shape and dtype of a symbolic result, from the op's static rule: ``x.shape`` works while tracing a
    signature (as under jax.jit), and shape errors surface at the line that makes them. None where an input's
    shape is unknown (a trace without a signature)."""
    shapes = []
    dtypes = []
    for v in raw:
        if v is None:
            return None
        if isinstance(v, Abstract):
            shapes.append(v.shape)
            dtypes.append(v.dtype)
        else:
            shapes.append(np.shape(v))
            if type(v) is not float and type(v) is not int:  # Python numbers are weakly typed (NEP 50)
                dtypes.append(np.asarray(v).dtype)
    floats = [d for d in dtypes if d.kind == "f"]
    return Abstract(tuple(op.shape(*shapes, **kwargs)), np.result_type(*floats) if floats else np.dtype(np.float64))


def _is_complex(a: Any) -> bool:
    return isinstance(a, complex) or (isinstance(a, np.ndarray | np.generic) and a.dtype.kind == "c")


def _array(a: Any) -> Any:
    """An argument with lists made arrays (VJPs do arithmetic on constants: x ** [1, 2] needs y - 1)
    and object arrays of traced values made tensors."""
    if type(a) is list or type(a) is tuple:
        a = np.asarray(a)
    return lift(a) if type(a) is np.ndarray and a.dtype.kind == "O" else a


def concrete(a: Any) -> Any:
    """The plain value under any number of nested traces."""
    while isinstance(a, Tensor):
        a = a._value
    return a


def lift(a: Any) -> Any:
    """An object array holding traced values (``np.array([a, b])``) as one tensor: their stack, reshaped.

    NumPy builds such arrays from ``Tensor.__array__`` (each traced element is one 0-d object); any op
    that meets one records it as ``stack`` so the elements keep their gradients.
    """
    items = list(a.reshape(-1))
    if not any(isinstance(i, Tensor) for i in items):
        return np.asarray(a, dtype=np.float64)
    if not items:
        return np.zeros(a.shape)
    stacked = call_op("stack", *items)
    return stacked if a.ndim == 1 else call_op("reshape", stacked, shape=list(a.shape))


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
    _check_shapes(op, args, kwargs)
    return apply(op, args, kwargs, canonical)


def _check_shapes(op: Op, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    """An eager call meets the op's static shape rule, as a graph does: NumPy may accept more than the op
    means (np.linalg.norm(A, ord=2) of a matrix), and computing that would pair NumPy's value with the op's
    gradient. Symbolic calls are checked when the server checks the graph."""
    shapes = []
    for a in args:
        if isinstance(a, Tensor):
            if a._tape.symbolic:
                return
            a = concrete(a)
        shapes.append(np.shape(a))
    op.shape(*shapes, **kwargs)


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
        raise self._leave("x.value, the value")

    def numpy(self) -> np.ndarray:
        raise self._leave("x.numpy(), the value")

    @property
    def shape(self) -> tuple[int, ...]:
        if type(self._value) is Abstract:
            return self._value.shape
        return shape_of(self._concrete("the shape"))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def dtype(self) -> np.dtype[Any]:
        if type(self._value) is Abstract:
            return self._value.dtype
        return np.asarray(self._concrete("the dtype")).dtype if not isinstance(
            self._value, Tensor) else self._value.dtype

    def __bool__(self) -> bool:
        return bool(self._concrete("the truth value"))  # eager control flow: each branch is differentiated

    def _leave(self, what: str) -> TracingError:
        """The error for every implicit way a value could leave the tape and silently lose its gradient."""
        why = ("is not known while tracing symbolically (the function is recorded once and evaluated "
               "remotely)" if self._tape.symbolic else
               "would leave the tape and silently lose its gradient (JAX and autograd refuse it too)")
        return TracingError(
            f"{what} of a traced value {why}. Use NumPy on the tensor itself: np.exp(x) rather than "
            "math.exp(x) or np.exp(float(x)), np.where(cond, a, b) for choices; build arrays with np.stack, "
            "np.concatenate or np.where rather than by writing into a NumPy buffer (y[i] = x); "
            "valgrad.stop_gradient(x) drops a gradient on purpose")

    def __float__(self) -> float:
        raise self._leave("float(x), the float value")

    def __int__(self) -> int:
        raise self._leave("int(x), the int value")

    def __complex__(self) -> complex:
        raise self._leave("complex(x), the complex value")

    def __index__(self) -> int:
        raise self._leave("using x as a Python index, the int value")

    def __round__(self, ndigits: Any = None) -> Any:
        raise self._leave("round(x), the rounded Python value")

    def __trunc__(self) -> Any:
        raise self._leave("math.trunc(x), the int value")

    def __floor__(self) -> Any:
        raise self._leave("math.floor(x), the int value")

    def __ceil__(self) -> Any:
        raise self._leave("math.ceil(x), the int value")

    def item(self, *args: Any) -> Any:
        raise self._leave("x.item(), the Python value")

    def tolist(self) -> Any:
        raise self._leave("x.tolist(), the Python value")

    def __setitem__(self, index: Any, value: Any) -> None:
        raise TypeError("traced values are immutable: build the result with np.where(mask, new, x), "
                        "np.concatenate or np.stack instead of assigning into x[...]")

    def __len__(self) -> int:
        shape = self.shape
        if not shape:
            raise TypeError("len() of a 0-d tensor")
        return shape[0]

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        # NumPy asks for this when a traced value is an element of a list it converts (np.array([a, b]),
        # np.sum([a, b])) or when code converts it outright. Only the first keeps the gradient: NumPy gets
        # a 0-d object array holding the tensor, and ops that later meet the object array stack it (lift).
        if dtype is not None and np.dtype(dtype) != object:
            raise self._leave(f"converting to a NumPy {np.dtype(dtype)} array (np.asarray(x, dtype), np.float64(x), "
                              "np.mean of a list of traced values: write np.mean(np.stack([a, b])))")
        if (self._tape.symbolic and type(self._value) is not Abstract) or self.shape:
            # NumPy would hold the tensor as one number; without a known shape (symbolic) or for an array
            # that would silently change what np.sum and friends compute.
            raise TypeError(
                "a traced value cannot be converted to a NumPy array (its gradient would be lost): use NumPy "
                "functions on it directly, and np.stack([...]) or np.concatenate to join traced values; "
                "only 0-d values of an eager trace can be elements of np.array([...]) or of a list given to NumPy")
        holder = np.empty((), dtype=object)
        holder[()] = self
        return holder

    def __repr__(self) -> str:
        inner = "symbolic" if self._tape.symbolic else repr(self._value)
        return f"Tensor({inner}, slot={self._slot})"

    # -- NumPy protocols ----------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return apply(ufunc_op(ufunc, method, kwargs), inputs)

    def __array_function__(self, func: Any, types: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return call_function(func, args, kwargs, call_op)

    # -- operators ------------------------------------------------------------
    def __pos__(self) -> Tensor:
        return self

    def __getitem__(self, index: Any) -> Any:
        return subscript(call_op, self, index)

    @property
    def T(self) -> Any:  # noqa: N802 - NumPy's name
        return call_op("transpose", self)

    @property
    def real(self) -> Any:
        return self  # values are real: op set 2 has no complex numbers

    @property
    def imag(self) -> Any:
        return np.zeros_like(self)

    # -- methods, as on ndarray: most are derived from the registry (``defop(..., methods=...)``) below
    def flatten(self) -> Any:
        return call_op("reshape", self, shape=[-1])

    ravel = flatten


def _operator(op: Op, reflected: bool, arity: int) -> Callable[..., Any]:
    if arity == 1:
        return lambda self: apply(op, (self,))
    if reflected:
        return lambda self, other: apply(op, (other, self))
    return lambda self, other: apply(op, (self, other))


def _method(op: Op, name: str) -> Callable[..., Any]:
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        return call_method(op, name, self, args, kwargs, call_op)

    method.__name__ = name
    method.__doc__ = op.doc
    return method


for _op in OPS.values():  # every op is registered: engine.ops was imported above
    for _stem in _op.operators:
        _py = PYTHON_OPERATORS[_stem]
        setattr(Tensor, f"__{_stem}__", _operator(_op, False, _py.arity))
        if _py.reflected:
            setattr(Tensor, f"__r{_stem}__", _operator(_op, True, _py.arity))
    for _name in _op.methods:
        setattr(Tensor, _name, _method(_op, _name))
    for _f in _op.numpy:  # NumPy's object loops call x.exp(): elementwise math on np.array([a, b]) records
        if isinstance(_f, np.ufunc) and _f.nin == 1 and not hasattr(Tensor, _f.__name__):
            setattr(Tensor, _f.__name__, _operator(_op, False, 1))
