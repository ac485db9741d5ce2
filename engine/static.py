"""Static checks of a graph at given argument shapes, run before any NumPy call.

Like Autodidax's type-checking pass, ``infer`` walks the nodes with shapes
instead of values: arguments must fit the declared inputs, every op's shape
rule must accept its operands, and the estimated work (elements per tensor,
elements over all intermediates, FLOPs) must stay under ``Limits`` — so
``broadcast_to(x, shape=[100000, 100000])`` is refused before a byte is
allocated. ``infer`` is a pure function of its arguments; callers cache it
per (graph, shapes, dtypes). Estimates cover the forward pass; a backward
pass costs a small constant multiple of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import ArgumentError, EngineError, TooExpensiveError, TooLargeError
from engine.ir import FLOAT_DTYPES, Graph, Input
from engine.limits import DEFAULT_LIMITS, Limits
from engine.registry import shape_of, size_of

__all__ = ["StaticInfo", "infer"]

Shape = tuple[int, ...]


@dataclass(frozen=True)
class StaticInfo:
    """What the static pass learned: every slot's shape and the forward pass's estimated size and work."""

    shapes: tuple[Shape, ...]  # per slot: inputs, constants, nodes
    output_shapes: tuple[Shape, ...]
    total_elements: int  # summed over node outputs
    max_elements: int  # of the largest node output
    flops: int


def _dtype_name(d: Any) -> str:
    return d if isinstance(d, str) else np.dtype(d).name


def _check_arg(i: int, spec: Input, shape: Shape, dtype: str, limits: Limits) -> None:
    pointer = f"/args/{i}"
    if dtype not in FLOAT_DTYPES:
        raise ArgumentError(f"argument '{spec.name}' has dtype {dtype}; arguments are float64 or float32", pointer)
    if spec.dtype is not None and dtype != spec.dtype:
        raise ArgumentError(f"argument '{spec.name}' is {dtype}, but the function declares {spec.dtype}", pointer)
    if spec.shape is not None and (len(shape) != len(spec.shape) or any(
            d is not None and d != n for d, n in zip(spec.shape, shape, strict=False))):
        declared = "[" + ", ".join("null" if d is None else str(d) for d in spec.shape) + "]"
        raise ArgumentError(f"argument '{spec.name}' has shape {list(shape)}, but the function declares {declared}",
                            pointer)
    if size_of(shape) > limits.max_tensor_elements:
        raise TooLargeError(f"argument '{spec.name}' of shape {list(shape)} has more than "
                            f"{limits.max_tensor_elements} elements", pointer)


def _check_args(graph: Graph, arg_shapes: Sequence[Sequence[int]], arg_dtypes: Sequence[Any],
                limits: Limits) -> list[Shape]:
    if len(arg_shapes) != len(graph.inputs) or len(arg_dtypes) != len(arg_shapes):
        names = ", ".join(graph.input_names) or "none"
        raise ArgumentError(f"the function takes {len(graph.inputs)} argument(s) ({names}), got {len(arg_shapes)}",
                            "/args")
    shapes = [tuple(int(n) for n in s) for s in arg_shapes]
    for i, (spec, shape, dtype) in enumerate(zip(graph.inputs, shapes, arg_dtypes, strict=True)):
        _check_arg(i, spec, shape, _dtype_name(dtype), limits)
    return shapes


def infer(graph: Graph, arg_shapes: Sequence[Sequence[int]], arg_dtypes: Sequence[Any], *,
          limits: Limits = DEFAULT_LIMITS) -> StaticInfo:
    """Check ``graph`` at these argument shapes/dtypes and estimate its cost; raises before anything runs.

    ``ArgumentError`` (pointer ``/args/i``) for arguments that do not fit the inputs;
    ``ShapeError``/``AttrError`` (``/nodes/i``) where an op rejects its operands;
    ``TooLargeError`` for a tensor over ``max_tensor_elements``; ``TooExpensiveError``
    when elements summed over intermediates or FLOPs exceed their limits.
    """
    shapes: list[Shape] = _check_args(graph, arg_shapes, arg_dtypes, limits)
    shapes.extend(shape_of(c) for c in graph.constants)
    total = flops = largest = 0
    for i, node in enumerate(graph.nodes):
        ins = [shapes[a] for a in node.args]
        try:
            out = tuple(node.op.shape(*ins, **node.kwargs))
            cost = node.op.cost(out, *ins, **node.kwargs)
        except EngineError as e:
            where = f"/nodes/{i}" + (e.pointer or "")
            raise type(e)(f"node '{node.id}' ({node.op.name}): {e.message}", where) from None
        n = size_of(out)
        if n > limits.max_tensor_elements:
            raise TooLargeError(f"node '{node.id}' ({node.op.name}) would make a tensor of shape {list(out)}, "
                                f"more than {limits.max_tensor_elements} elements", f"/nodes/{i}")
        total += n
        flops += cost
        largest = max(largest, n)
        if total > limits.max_total_elements:
            raise TooExpensiveError(f"intermediates up to node '{node.id}' hold more than "
                                    f"{limits.max_total_elements} elements", f"/nodes/{i}")
        if flops > limits.max_flops:
            raise TooExpensiveError(f"estimated work up to node '{node.id}' exceeds {limits.max_flops} FLOPs",
                                    f"/nodes/{i}")
        shapes.append(out)
    return StaticInfo(tuple(shapes), tuple(shapes[s] for s in graph.outputs), total, largest, flops)
