"""TF r1.15's ``value_and_gradients_function`` for Python functions: traced eagerly on every call.

Tracing on every call is what makes Python control flow on values work (as
TF eager and autograd do); a graph evaluated many times is
``engine.evaluation``'s business.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import numpy as np

from engine.contract import (
    Unconnected,
    as_argument,
    check_unconnected,
    finish_gradient,
    no_keywords,
    returned,
    seeds,
    to_array,
)
from engine.params import positional_names, resolve_params
from engine.tape import Tape, backward, make_plan
from engine.tensor import Tensor, lift
from engine.tree import flatten

__all__ = ["gradients_function", "value_and_gradients_function"]


def value_and_gradients_function(
    f: Callable[..., Any], params: Any = None, unconnected_gradients: Unconnected = "none"
) -> Callable[..., tuple[Any, list[Any]]]:
    """Return ``g(*args, dy=None) -> (value, [gradients])`` of ``f`` w.r.t. ``params`` (names or indices)."""
    zeros = check_unconnected(unconnected_gradients)
    names = positional_names(f)

    def decorated(*args: Any, **kwargs: Any) -> tuple[Any, list[Any]]:
        dy = kwargs.pop("dy", None)
        no_keywords(kwargs)
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
    leaves, rebuild, structured = flatten(returned(f(*traced)))
    leaves = [lift(v) if type(v) is np.ndarray and v.dtype.kind == "O" else v for v in leaves]
    values: list[Any] = []
    out_slots: list[int | None] = []
    for leaf in leaves:
        mine = isinstance(leaf, Tensor) and leaf._tape is tape
        values.append(leaf._value if mine else leaf)
        out_slots.append(leaf._slot if mine else None)
    cotangents = seeds(values, out_slots, dy, structured)
    params = [slots[p] for p in positions]
    grads = backward(make_plan(tape.nodes, cotangents, params), tape.values, cotangents, params)
    finished = [finish_gradient(g, xs[p], zeros) for g, p in zip(grads, positions, strict=True)]
    return rebuild([to_array(v) for v in values]), finished
