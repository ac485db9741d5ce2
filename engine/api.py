"""The public contract: TF r1.15's ``value_and_gradients_function``, for Python functions and graphs.

``value_and_gradients_function(f)`` traces ``f`` eagerly on every call (so
Python control flow works); ``value_and_gradients(graph, args)`` evaluates a
validated graph with a backward plan cached per params and static checks
cached per argument signature, so a registered function costs one loop.
``prepare`` stops before the first NumPy call and reports the static
estimate, for callers that choose where to run the work.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, Literal

import numpy as np

import engine.compiled as compiled
from engine.errors import ArgumentError, CotangentError
from engine.graph import load_function
from engine.ir import Graph
from engine.limits import DEFAULT_LIMITS, Limits
from engine.params import positional_names, resolve_params
from engine.static import StaticInfo, infer
from engine.tape import Plan, Tape, backward, forward, make_plan
from engine.tensor import Tensor, concrete, forward_traced, lift
from engine.tree import flatten

__all__ = [
    "Array", "Evaluation", "as_argument", "check_unconnected", "gradients_function", "prepare", "to_array",
    "value_and_gradients", "value_and_gradients_function",
]

Unconnected = Literal["none", "zero"]
NumpyErrors = Literal["ignore", "warn", "raise"]
_CACHE_SIZE = 64  # plans and static checks memoised per graph


class Array(np.ndarray):
    """A NumPy array with TF eager's ``.numpy()``, so TF code runs unchanged."""

    def numpy(self) -> np.ndarray:
        return np.asarray(self)


def value_and_gradients_function(
    f: Callable[..., Any], params: Any = None, unconnected_gradients: Unconnected = "none"
) -> Callable[..., tuple[Any, list[Any]]]:
    """Return ``g(*args, dy=None) -> (value, [gradients])`` of ``f`` w.r.t. ``params`` (names or indices)."""
    zeros = check_unconnected(unconnected_gradients)
    names = positional_names(f)

    def decorated(*args: Any, **kwargs: Any) -> tuple[Any, list[Any]]:
        dy = kwargs.pop("dy", None)
        if kwargs:
            raise ValueError("Functions to be differentiated cannot receive keyword arguments.")
        positions = resolve_params(params, names, len(args))
        told: set[str] = set()  # NumPy's floating-point warnings, once each, at the user's line
        with np.errstate(all="call", call=lambda kind, _: _warn_outside_engine(kind, told)):
            return _eager(f, args, positions, dy, zeros)

    decorated.__doc__ = f"Value and gradients of {getattr(f, '__name__', 'f')}."
    return decorated


def gradients_function(
    f: Callable[..., Any], params: Any = None, unconnected_gradients: Unconnected = "none"
) -> Callable[..., list[Any]]:
    """Return ``g(*args, dy=None) -> [gradients]``; nest it for higher derivatives."""
    inner = value_and_gradients_function(f, params, unconnected_gradients)
    return lambda *args, **kwargs: inner(*args, **kwargs)[1]


def value_and_gradients(
    graph: Graph | Mapping[str, Any], args: Sequence[Any] | Mapping[str, Any], params: Any = None,
    dy: Any = None, unconnected_gradients: Unconnected = "none", *, limits: Limits = DEFAULT_LIMITS,
) -> tuple[Any, list[Any]]:
    """Value and gradients of a graph (or JSON graph / expression) at ``args`` (a list, or a dict by name)."""
    return prepare(graph, args, params, dy, unconnected_gradients, limits=limits).run()


def prepare(
    graph: Graph | Mapping[str, Any], args: Sequence[Any] | Mapping[str, Any], params: Any = None,
    dy: Any = None, unconnected_gradients: Unconnected = "none", *, limits: Limits = DEFAULT_LIMITS,
) -> Evaluation:
    """``value_and_gradients`` up to its first NumPy call: arguments bound, params resolved, static checks passed.

    Raises the same typed errors; the returned ``Evaluation`` carries the static estimate (``info``), so a
    caller such as the service can decide where to run it before paying for it.
    """
    zeros = check_unconnected(unconnected_gradients)
    if not isinstance(graph, Graph):
        graph = load_function(graph, limits=limits)
    xs = _bind_args(graph, args)
    positions, plan = _plan(graph, params)
    return Evaluation(graph, xs, positions, plan, _static_check(graph, xs, limits), dy, zeros)


@dataclass(slots=True)
class Evaluation:
    """A graph bound to checked arguments: ``run()`` computes its value and gradients."""

    graph: Graph
    xs: list[Any]
    positions: list[int]  # of the params, in the order their gradients are returned
    plan: Plan
    info: StaticInfo  # shapes, element counts and estimated FLOPs, from the static pass
    dy: Any
    zeros: bool  # unconnected gradients as zeros rather than None

    def run(self, numpy_errors: NumpyErrors = "ignore") -> tuple[Any, list[Any]]:
        """Value and gradients. ``numpy_errors`` is the caller's ``np.errstate`` policy for the NumPy calls:
        NaN and inf are answers here, so by default they warn no one ("warn" or "raise" as the caller likes)."""
        graph, xs, positions = self.graph, self.xs, self.positions
        runner = compiled.tiered(graph, positions, self.plan, xs) if compiled.enabled() else None
        if runner is not None and not any(type(x) is Tensor for x in xs):  # a hot plan, compiled and checked
            return self._finish(*runner.run(xs, self._seeds_for))
        env = xs + _env_tail(graph)
        outputs = graph.outputs
        with np.errstate(all=numpy_errors):
            if any(type(x) is Tensor for x in xs):  # inside an enclosing gradient (higher order)
                forward_traced(graph.nodes, env)
            else:
                forward(graph.nodes, env)
            values = [env[s] for s in outputs]
            grads = backward(self.plan, env, self._seeds_for(values), positions)
        return self._finish(values, grads)

    def _seeds_for(self, values: list[Any]) -> dict[int, Any]:
        return _seeds(values, self.graph.outputs, self.dy, self.graph.output_is_list)

    def _finish(self, values: list[Any], grads: list[Any]) -> tuple[Any, list[Any]]:
        value = [to_array(v) for v in values] if self.graph.output_is_list else to_array(values[0])
        return value, [_finish(g, self.xs[p], self.zeros) for g, p in zip(grads, self.positions, strict=True)]


_ENGINE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _warn_outside_engine(kind: str, told: set[str]) -> None:
    """A NumPy floating-point warning (``kind``: "divide by zero", ...) told at the first line outside the engine:
    the user's ``np.log(x)`` while tracing, their ``g(x)`` for the backward pass. Once per kind and call."""
    if kind in told:
        return
    told.add(kind)
    frame: FrameType | None = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_code.co_filename.startswith(_ENGINE):
        frame, level = frame.f_back, level + 1
    warnings.warn(f"{kind} encountered while differentiating", RuntimeWarning, stacklevel=level)


# -- eager tracing ------------------------------------------------------------------


def _eager(f: Callable[..., Any], args: Sequence[Any], positions: list[int], dy: Any,
           zeros: bool) -> tuple[Any, list[Any]]:
    tape = Tape()
    traced = list(args)  # as in TF, arguments that are not params reach f untouched
    xs: dict[int, Any] = {}
    slots: dict[int, int] = {}
    for p in positions:
        if p not in slots:
            xs[p] = as_argument(args[p], p)
            slots[p] = tape.new_slot(xs[p])
            traced[p] = Tensor(tape, slots[p], xs[p])
    out = f(*traced)
    if out is None:
        raise ValueError("Cannot differentiate a function that returns None; "
                         "did you forget to return a value from f?")
    leaves, rebuild, structured = flatten(out)
    leaves = [lift(v) if type(v) is np.ndarray and v.dtype.kind == "O" else v for v in leaves]
    values: list[Any] = []
    out_slots: list[int | None] = []
    for leaf in leaves:
        mine = isinstance(leaf, Tensor) and leaf._tape is tape
        values.append(leaf._value if mine else leaf)
        out_slots.append(leaf._slot if mine else None)
    seeds = _seeds(values, out_slots, dy, structured)
    params = [slots[p] for p in positions]
    grads = backward(make_plan(tape.nodes, seeds, params), tape.values, seeds, params)
    finished = [_finish(g, xs[p], zeros) for g, p in zip(grads, positions, strict=True)]
    return rebuild([to_array(v) for v in values]), finished


# -- arguments, cotangents, results ----------------------------------------------------


def as_argument(a: Any, i: int) -> Any:
    """An argument as float64 (or float32, which stays float32); a 0-d one as a NumPy scalar, ~10x faster."""
    if isinstance(a, Tensor):
        return a
    if type(a) is float:  # the common case, e.g. f(2.0, 3.0)
        return np.float64(a)
    x = np.asarray(a)
    kind, size = x.dtype.kind, x.dtype.itemsize
    if kind == "f" and size in (4, 8):
        pass
    elif kind in "biu" or kind == "f":  # integers and bools, float16 (-> float32), long double (-> float64)
        x = x.astype(np.float32 if kind == "f" and size < 4 else np.float64)
    else:
        raise ArgumentError(f"argument {i} must be a real number or array of numbers, got dtype {x.dtype}",
                            pointer=f"/args/{i}")
    return x[()] if x.ndim == 0 else x


def _bind_args(graph: Graph, args: Sequence[Any] | Mapping[str, Any]) -> list[Any]:
    if type(args) is not list and type(args) is not tuple:  # the common case skips the ABC checks
        args = _args_by_name(graph, args) if isinstance(args, Mapping) else _args_sequence(args)
    n = len(graph.inputs)
    if len(args) != n:
        names = graph.input_names
        raise ArgumentError(f"the function takes {n} argument(s) ({', '.join(names)}), got {len(args)}",
                            pointer="/args")
    return [as_argument(a, i) for i, a in enumerate(args)]


def _args_by_name(graph: Graph, args: Mapping[str, Any]) -> list[Any]:
    names = graph.input_names
    extra = sorted(set(args) - set(names), key=str)
    if extra:
        raise ArgumentError(f"unknown argument {extra[0]!r}; the function's inputs are {', '.join(names)}",
                            pointer=f"/args/{extra[0]}")
    missing = [n for n in names if n not in args]
    if missing:
        raise ArgumentError(f"missing argument {missing[0]!r}; the function's inputs are {', '.join(names)}",
                            pointer="/args")
    return [args[n] for n in names]


def _args_sequence(args: Any) -> Sequence[Any]:
    if not isinstance(args, Sequence) or isinstance(args, str | bytes):
        raise ArgumentError("args must be a list (by position) or an object (by name)", pointer="/args")
    return args


def _static_check(graph: Graph, xs: list[Any], limits: Limits) -> StaticInfo:
    """Shapes, dtypes, sizes and costs, checked once per argument signature before any NumPy call."""
    key = ("static", limits, *[(x.shape, x.dtype.char) for x in xs])
    info: StaticInfo | None = graph.cache.get(key)
    if info is None:
        info = infer(graph, [x.shape for x in xs], [x.dtype for x in xs], limits=limits)
        _remember(graph, key, info)
    return info


def _plan(graph: Graph, params: Any) -> tuple[list[int], Plan]:
    """Param positions and the backward plan for them, cached per positions (and for ``params=None``)."""
    hit = graph.cache.get(("params", None)) if params is None else None
    if hit is not None:
        positions, plan = hit
        return list(positions), plan
    positions = resolve_params(params, graph.input_names, len(graph.inputs))
    key = ("plan", tuple(positions))
    plan = graph.cache.get(key)
    if plan is None:
        plan = make_plan(graph.nodes, graph.outputs, positions)
        _remember(graph, key, plan)
    if params is None:  # equal params of other types (1, 1.0, True) must not share a cache entry
        _remember(graph, ("params", None), (tuple(positions), plan))
    return positions, plan


def _env_tail(graph: Graph) -> list[Any]:
    """The slots after the inputs: constants, then one empty slot per node."""
    tail: list[Any] | None = graph.cache.get("env")
    if tail is None:
        tail = [*graph.constant_values(), *([None] * len(graph.nodes))]
        _remember(graph, "env", tail)
    return tail


def _remember(graph: Graph, key: Any, value: Any) -> None:
    """Store a memo, evicting the oldest when full; safe when server threads share the graph."""
    cache = graph.cache
    if len(cache) >= _CACHE_SIZE:
        with contextlib.suppress(KeyError, RuntimeError, StopIteration):  # another thread got there first
            del cache[next(iter(cache))]
    cache[key] = value


def _seeds(values: list[Any], slots: Sequence[int | None], dy: Any, structured: bool) -> dict[int, Any]:
    """Output cotangents by slot: ones by default, else ``dy`` (one per flattened output, each checked)."""
    if dy is None:
        if len(values) == 1 and slots[0] is not None:
            return {slots[0]: _cotangent(values[0], None, "/dy")}
        dys: list[Any] = [None] * len(values)
    elif not structured:
        dys = [dy]
    else:
        dys = flatten(dy)[0] if isinstance(dy, Mapping | list | tuple) else [dy]
        if len(dys) != len(values):
            raise CotangentError(f"dy must hold one cotangent per output: the function has {len(values)} "
                                 f"output(s), dy has {len(dys)}", pointer="/dy")
    seeds: dict[int, Any] = {}
    for i, (v, slot, d) in enumerate(zip(values, slots, dys, strict=True)):
        g = _cotangent(v, d, f"/dy/{i}" if structured else "/dy")
        if slot is not None:  # an output that depends on no param still has its dy checked
            seeds[slot] = g if slot not in seeds else seeds[slot] + g
    return seeds


def _cotangent(v: Any, d: Any, pointer: str) -> Any:
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
    if np.iscomplexobj(d):
        raise CotangentError("dy must be real: complex cotangents are not supported", pointer=pointer)
    try:
        g = np.array(d, dtype=dtype, copy=None)
    except (TypeError, ValueError) as e:
        raise CotangentError(f"dy must be numeric: {e}", pointer=pointer) from None
    if g.shape != shape:
        try:
            ok = np.broadcast_shapes(g.shape, shape) == shape
        except ValueError:
            ok = False
        if not ok:
            raise CotangentError(f"dy of shape {list(g.shape)} does not fit an output of shape {list(shape)}",
                                 pointer=pointer)
        return np.broadcast_to(g, shape)  # a read-only view: _finish copies it if it comes out as a gradient
    if g.ndim == 0:
        return g[()]
    g = g.view()
    g.flags.writeable = False
    return g


def _traced_cotangent(d: Any, shape: tuple[int, ...], pointer: str) -> Any:
    """A ``dy`` traced by an enclosing gradient: checked and broadcast exactly like a concrete one."""
    if not isinstance(d, Tensor) or d._tape.symbolic:
        return d
    dshape = d.shape
    if dshape == shape:
        return d
    try:
        fits = np.broadcast_shapes(dshape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise CotangentError(f"dy of shape {list(dshape)} does not fit an output of shape {list(shape)}",
                             pointer=pointer)
    return np.broadcast_to(d, shape)  # recorded, so the enclosing gradient sees every element's weight


def to_array(v: Any) -> Any:
    return v if isinstance(v, Tensor) else np.asarray(v).view(Array)


def _finish(g: Any, x: Any, zeros: bool) -> Any:
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


def check_unconnected(value: str) -> bool:
    if value not in ("none", "zero"):
        raise ValueError(f"unconnected_gradients must be 'none' or 'zero', got {value!r}")
    return value == "zero"
