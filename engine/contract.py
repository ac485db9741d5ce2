"""TF r1.15's contract for what goes in and comes out, written once for the local API and the SDK.

``value_and_gradients_function`` takes real arguments (float32 stays float32,
integers and booleans become float64), no keyword arguments but ``dy``, a
``dy`` with one cotangent per flattened output, and ``unconnected_gradients``
of "none" or "zero"; it answers NumPy arrays with ``.numpy()``, a gradient
per param shaped like its argument. The engine's evaluators and the SDK's
remote functions (``valgrad.remote``) both apply these rules, so a call the
service would refuse is refused by the SDK before any request, with the same
error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from engine.errors import ArgumentError, CotangentError
from engine.tensor import Tensor, concrete, lift
from engine.tree import flatten

__all__ = [
    "Array", "Unconnected", "argument_dtype", "argument_signature", "as_argument", "check_unconnected", "cotangent",
    "dy_leaves", "finish_gradient", "no_keywords", "real_cotangent", "returned", "seeds", "to_array",
]

Unconnected = Literal["none", "zero"]


class Array(np.ndarray):
    """A NumPy array with TF eager's ``.numpy()``, so TF code runs unchanged."""

    def numpy(self) -> np.ndarray:
        return np.asarray(self)


def check_unconnected(value: str) -> bool:
    """Whether unconnected gradients are zeros (``"zero"``) rather than None (``"none"``)."""
    if value not in ("none", "zero"):
        raise ValueError(f"unconnected_gradients must be 'none' or 'zero', got {value!r}")
    return value == "zero"


def no_keywords(kwargs: Mapping[str, Any]) -> None:
    """TF's rule: the decorated function takes its arguments by position (``dy`` already taken out)."""
    if kwargs:
        raise ValueError("Functions to be differentiated cannot receive keyword arguments.")


def returned(out: Any) -> Any:
    """``f``'s result, refused when it is None (TF's message)."""
    if out is None:
        raise ValueError("Cannot differentiate a function that returns None; "
                         "did you forget to return a value from f?")
    return out


def argument_dtype(dtype: np.dtype[Any], key: int | str) -> np.dtype[Any]:
    """The dtype an argument computes in: float64 and float32 kept, float16 as float32, long double, integers
    and booleans as float64; anything else (complex, objects, strings) refused at ``/args/<key>``."""
    kind, size = dtype.kind, dtype.itemsize
    if kind == "f":
        return dtype if size in (4, 8) else np.dtype(np.float32 if size < 4 else np.float64)
    if kind in "biu":
        return np.dtype(np.float64)
    raise ArgumentError(f"argument {key} must be a real number or array of numbers, got dtype {dtype}",
                        pointer=f"/args/{key}")


def as_argument(a: Any, i: int) -> Any:
    """An argument as it computes (``argument_dtype``); a 0-d one as a NumPy scalar, ~10x faster."""
    if isinstance(a, Tensor):
        return a
    if type(a) is float:  # the common case, e.g. f(2.0, 3.0)
        return np.float64(a)
    x = np.asarray(a)
    dtype = x.dtype
    if dtype.kind != "f" or dtype.itemsize not in (4, 8):  # float64 and float32, the common case, stay as they are
        x = x.astype(argument_dtype(dtype, i))
    return x[()] if x.ndim == 0 else x


def argument_signature(a: Any, i: int) -> tuple[tuple[int, ...], str]:
    """An argument's shape and dtype name as it will compute (``as_argument``), without converting it."""
    if type(a) is float or type(a) is int:
        return (), "float64"
    x = a if isinstance(a, np.ndarray) else np.asarray(a)
    return x.shape, argument_dtype(x.dtype, i).name


def dy_leaves(dy: Any, n_outputs: int | None, structured: bool) -> list[Any]:
    """``dy`` as one cotangent per flattened output (dicts in sorted key order); None stays None (ones).
    ``n_outputs`` None: not known here (the count is checked where it is)."""
    if not structured:
        return [dy]
    leaves = flatten(dy)[0] if isinstance(dy, Mapping | list | tuple) else [dy]
    if n_outputs is not None and len(leaves) != n_outputs:
        raise CotangentError(f"dy must hold one cotangent per output: the function has {n_outputs} "
                             f"output(s), dy has {len(leaves)}", pointer="/dy")
    return leaves


def seeds(values: list[Any], slots: Sequence[int | None], dy: Any, structured: bool) -> dict[int, Any]:
    """Output cotangents by slot: ones by default, else ``dy`` (one per flattened output, each checked)."""
    if dy is None:
        if len(values) == 1 and slots[0] is not None:
            return {slots[0]: cotangent(values[0], None, "/dy")}
        dys: list[Any] = [None] * len(values)
    else:
        dys = dy_leaves(dy, len(values), structured)
    out: dict[int, Any] = {}
    for i, (v, slot, d) in enumerate(zip(values, slots, dys, strict=True)):
        g = cotangent(v, d, f"/dy/{i}" if structured else "/dy")
        if slot is not None:  # an output that depends on no param still has its dy checked
            out[slot] = g if slot not in out else out[slot] + g
    return out


def cotangent(v: Any, d: Any, pointer: str) -> Any:
    """``d`` (None: ones) as a cotangent of ``v``: same dtype, broadcast to its shape, never aliasing the caller's."""
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    if isinstance(v, Tensor):  # higher order: v belongs to an enclosing trace
        shape, dtype = v.shape, v.dtype
    else:
        shape, dtype = getattr(v, "shape", None), getattr(v, "dtype", None)  # type: ignore[assignment]
        if shape is None or dtype is None:  # a Python number or other array-like
            shape, dtype = np.shape(v), np.asarray(v).dtype
        if dtype.kind != "f":  # a boolean (comparison) or constant output: its dy is still checked as numbers
            dtype = np.dtype(np.float64)
    if d is None:
        return dtype.type(1) if shape == () else np.ones(shape, dtype)
    if isinstance(d, Tensor) or (type(d) is np.ndarray and d.dtype.kind == "O"):
        return _traced_cotangent(lift(d), shape, pointer)
    g = real_cotangent(d, dtype, pointer)
    if g.shape != shape:
        if not _fits(g.shape, shape):
            raise CotangentError(f"dy of shape {list(g.shape)} does not fit an output of shape {list(shape)}",
                                 pointer=pointer)
        return np.broadcast_to(g, shape)  # a read-only view: finish_gradient copies it if it comes out
    if g.ndim == 0:
        return g[()]
    g = g.view()
    g.flags.writeable = False
    return g


def real_cotangent(d: Any, dtype: np.dtype[Any] | None, pointer: str) -> np.ndarray:
    """``d`` as a real array of ``dtype`` (None: float32 kept, anything else float64), never silently dropping
    an imaginary part; ``CotangentError`` for complex or non-numeric values."""
    if np.iscomplexobj(d):
        raise CotangentError("dy must be real: complex cotangents are not supported", pointer=pointer)
    try:
        if dtype is None:
            x = np.asarray(d)
            return x if x.dtype in (np.float64, np.float32) else np.asarray(d, dtype=np.float64)
        return np.array(d, dtype=dtype, copy=None)
    except (TypeError, ValueError) as e:
        raise CotangentError(f"dy must be numeric: {e}", pointer=pointer) from None


def _fits(dshape: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    try:
        return np.broadcast_shapes(dshape, shape) == shape
    except ValueError:
        return False


def _traced_cotangent(d: Any, shape: tuple[int, ...], pointer: str) -> Any:
    """A ``dy`` traced by an enclosing gradient: checked and broadcast exactly like a concrete one."""
    if not isinstance(d, Tensor) or d._tape.symbolic:
        return d
    dshape = d.shape
    if dshape == shape:
        return d
    if not _fits(dshape, shape):
        raise CotangentError(f"dy of shape {list(dshape)} does not fit an output of shape {list(shape)}",
                             pointer=pointer)
    return np.broadcast_to(d, shape)  # recorded, so the enclosing gradient sees every element's weight


def to_array(v: Any) -> Any:
    """A result as TF eager returns it: an ``Array`` (a traced value stays traced)."""
    return v if isinstance(v, Tensor) else np.asarray(v).view(Array)


def finish_gradient(g: Any, x: Any, zeros: bool) -> Any:
    """A gradient as an owned array of its argument's shape and dtype (zeros or None if unconnected)."""
    if isinstance(g, Tensor) or isinstance(x, Tensor):
        if g is None:
            return np.zeros(x.shape) if zeros else None
        if isinstance(g, Tensor) and not g._tape.symbolic and g.shape != np.shape(concrete(x)):
            g = np.broadcast_to(g, np.shape(concrete(x)))  # as for a concrete gradient, below
        return g
    if g is None:
        return np.zeros_like(x).view(Array) if zeros else None
    if isinstance(g, np.generic) and g.dtype == x.dtype and x.shape == ():
        return np.array(g).view(Array)
    if type(g) is not np.ndarray or g.dtype != x.dtype or not g.flags.writeable:
        # scalars, broadcast (read-only) views, the caller's own dy: copied into a fresh array
        g = np.array(g, dtype=x.dtype)
    if g.shape != x.shape:  # a VJP may leave a broadcastable gradient (e.g. a scalar g of a sum)
        g = np.array(np.broadcast_to(g, x.shape))
    return g.view(Array)
