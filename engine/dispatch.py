"""Which op a NumPy call on a ``Tensor`` means, from each op's ``numpy=`` list.

Positional arguments beyond an op's inputs map to its attributes in the
order the op declares them (NumPy's order for the common ones); keyword
arguments map by name. Anything unsupported is a ``TypeError`` that names
the function, so a user never gets a silently untraced result.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from engine.errors import AttrError
from engine.ops.keywords import KEYWORDS, REDUCTIONS, reduce_with_keywords
from engine.ops.subscript import take_by_tensor
from engine.registry import OPS, Op

__all__ = ["call_function", "call_method", "ufunc_op"]

CallOp = Callable[..., Any]  # engine.tensor.call_op, handed in: this module never imports the tensor
_UFUNCS: dict[Any, Op] = {}
_FUNCS: dict[Any, list[Op]] = {}  # a function several ops share is tried in registration order (np.clip)
_NAMED: dict[str, Op] = {}  # "scipy.special.erf": ufuncs of libraries the engine never imports itself
_SEEN = [0]  # how many ops the tables were built from; rebuilt when more register


def _tables() -> None:
    if _SEEN[0] == len(OPS):
        return
    _FUNCS.clear()
    for op in OPS.values():
        for f in op.numpy:
            if isinstance(f, str):
                _NAMED[f] = op
            elif isinstance(f, np.ufunc):
                _UFUNCS[f] = op
            else:
                _FUNCS.setdefault(f, []).append(op)
    _SEEN[0] = len(OPS)


def _by_name(ufunc: np.ufunc) -> Op | None:
    """The op for a ufunc of another library (SciPy's erf), matched by identity once that library is loaded."""
    for dotted, op in _NAMED.items():
        module, _, name = dotted.rpartition(".")
        if getattr(sys.modules.get(module), name, None) is ufunc:
            _UFUNCS[ufunc] = op
            return op
    return None


def _ufunc_name(ufunc: np.ufunc) -> str:
    if getattr(np, ufunc.__name__, None) is ufunc:
        return f"np.{ufunc.__name__}"
    for module in ("scipy.special",):
        if getattr(sys.modules.get(module), ufunc.__name__, None) is ufunc:
            return f"{module}.{ufunc.__name__}"
    return ufunc.__name__


def _name(func: Any) -> str:
    """``np.fft.fft`` for ``numpy.fft.fft``: the spelling a user wrote."""
    module = getattr(func, "__module__", None) or ""
    name = getattr(func, "__name__", repr(func))
    if module == "numpy" or module.startswith("numpy."):
        return "np" + module[len("numpy"):] + "." + name
    return name


def _unsupported(name: str) -> TypeError:
    return TypeError(
        f"{name} is not supported on traced values: it has no registered op "
        "(engine.OPS lists the op set)"
    )


def ufunc_op(ufunc: np.ufunc, method: str, kwargs: Mapping[str, Any]) -> Op:
    """The op for ``ufunc(...)``; reductions like ``np.add.reduce`` and ``out=`` are refused."""
    _tables()
    if method == "__call__" and not kwargs:  # the common case, first
        op = _UFUNCS.get(ufunc) or _by_name(ufunc)
        if op is not None:
            return op
    name = _ufunc_name(ufunc)
    if method != "__call__":
        raise _unsupported(f"{name}.{method}")
    extra = sorted(k for k, v in kwargs.items() if not (k == "out" and v is None))
    if extra:
        raise TypeError(f"{name}: keyword argument(s) {', '.join(extra)} are not supported on traced values")
    op = _UFUNCS.get(ufunc) or _by_name(ufunc)
    if op is None:
        raise _unsupported(name)
    return op


def _split(op: Op, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Separate tensor inputs from attributes for a NumPy-style call (``name`` as the user wrote it)."""
    high = op.arity[1]
    if high is None and args and isinstance(args[0], str):  # einsum(subscripts, *operands)
        inputs, rest = list(args[1:]), []
        attrs: dict[str, Any] = {op.attrs[0].name: args[0]}
    elif high is None:  # concatenate/stack take one sequence of arrays
        inputs, rest = list(args[0]) if args else [], list(args[1:])
        attrs = {}
    else:
        inputs, rest = list(args[:high]), list(args[high:])
        attrs = {}
    free = [a.name for a in op.attrs if a.name not in attrs]
    if len(rest) > len(free):
        raise TypeError(f"{name}: too many positional arguments for traced values")
    attrs.update(zip(free, rest, strict=False))
    for key, value in kwargs.items():
        if key in attrs:
            raise TypeError(f"{name}: got multiple values for argument '{key}'")
        if key == "out" and value is None:
            continue
        if key not in op.attr_index:
            raise TypeError(f"{name}: argument '{key}' is not supported on traced values")
        attrs[key] = value
    return inputs, attrs


def call_function(func: Any, args: Sequence[Any], kwargs: Mapping[str, Any], call_op: CallOp) -> Any:
    """Route a NumPy function called on a ``Tensor`` to its op, applied with ``call_op`` (the tensor's)."""
    if func is np.shape:
        return args[0].shape if hasattr(args[0], "_tape") else np.shape(args[0])
    if func is np.ndim:
        return len(np.shape(args[0]))
    _tables()
    ops = _FUNCS.get(func)
    if ops is None:
        raise _unsupported(_name(func))
    if not KEYWORDS.isdisjoint(kwargs) and ops[0].name in REDUCTIONS:  # np.sum(x, where=mask)
        return reduce_with_keywords(call_op, ops[0].name, *args, **kwargs)
    if func is np.take and _traced(args[1:2] or [kwargs.get("indices")]):  # positions known at run time: gather
        return take_by_tensor(call_op, *args, **kwargs)
    for op in ops[:-1]:  # np.clip(x, 0, 1) is clip; np.clip(x, lo_array, hi_array) is clip_by_value
        try:
            inputs, attrs = _split(op, _name(func), args, kwargs)
            op.bind(attrs)
        except (TypeError, AttrError):
            continue
        return _call(op, inputs, attrs, call_op)
    inputs, attrs = _split(ops[-1], _name(func), args, kwargs)
    return _call(ops[-1], inputs, attrs, call_op)


def _traced(values: Sequence[Any]) -> bool:
    return any(hasattr(v, "_tape") for v in values)


def _call(op: Op, inputs: list[Any], attrs: dict[str, Any], call_op: CallOp) -> Any:
    if op.results == 1 or "output" in attrs:
        return call_op(op.name, *inputs, **attrs)
    # A function with several results (linalg.eigh): one node per result, as NumPy's tuple; NumPy gives a
    # bare array where the attributes leave one (svd with compute_uv=False).
    n = op.n_results(op.bind(attrs)[1])
    if n == 1:
        return call_op(op.name, *inputs, **attrs)
    return tuple(call_op(op.name, *inputs, **attrs, output=k) for k in range(n))


def call_method(op: Op, name: str, x: Any, args: Sequence[Any], kwargs: Mapping[str, Any],
                call_op: CallOp) -> Any:
    """``x.name(*args, **kwargs)`` for an ndarray method the registry lists (``defop(..., methods=...)``)."""
    if not KEYWORDS.isdisjoint(kwargs) and op.name in REDUCTIONS:  # x.sum(where=mask)
        return reduce_with_keywords(call_op, op.name, x, *args, **kwargs)
    if op.pack_args and len(args) > 1:  # x.reshape(2, 3) == x.reshape((2, 3))
        args = (list(args),)
    inputs, attrs = _split(op, f"ndarray.{name}", (x, *args), kwargs)
    return call_op(op.name, *inputs, **attrs)
