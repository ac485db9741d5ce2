"""Static checks of a graph at given argument shapes, run before any NumPy call.

Like Autodidax's type-checking pass, ``infer`` walks the nodes with shapes
instead of values: arguments must fit the declared inputs, every op's shape
rule must accept its operands, and the estimated work must stay under
``Limits`` — so ``broadcast_to(x, shape=[100000, 100000])`` is refused before
a byte is allocated. ``infer`` is a pure function of its arguments; callers
cache it per (graph, shapes, dtypes).

Estimates cover what a value-and-gradients evaluation runs: FLOPs are each
node's forward cost plus its VJPs' cost (``Op.backward_cost``), in the units
of ``engine.costs``; the memory peak is the arguments, constants and every
node output (all alive when the backward pass starts) plus the largest
temporaries one node's VJPs hold (``Op.scratch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.costs import VJP_FACTOR
from engine.errors import ArgumentError, EngineError, TooExpensiveError, TooLargeError
from engine.ir import Graph, Input, Node
from engine.limits import DEFAULT_LIMITS, Limits
from engine.registry import shape_of, size_of

__all__ = ["StaticInfo", "infer"]

Shape = tuple[int, ...]


@dataclass(frozen=True)
class StaticInfo:
    """What the static pass learned: every slot's shape and the evaluation's estimated size and work."""

    shapes: tuple[Shape, ...]  # per slot: inputs, constants, nodes
    output_shapes: tuple[Shape, ...]
    total_elements: int  # summed over node outputs
    max_elements: int  # of the largest node output
    flops: int  # forward and backward pass
    forward_flops: int = 0  # the forward pass alone
    peak_elements: int = 0  # arguments, constants, node outputs and the largest VJP temporaries


def _dtype_name(d: Any) -> str:
    return d if isinstance(d, str) else np.dtype(d).name


def _check_dims(shape: Shape, limits: Limits, what: str, pointer: str) -> None:
    """Every dimension bounded, not only the product: [2**62, 2**62, 0] has no elements but breaks NumPy."""
    big = next((n for n in shape if n > limits.max_tensor_elements), None)
    if big is not None:
        raise TooLargeError(f"{what} of shape {list(shape)} has a dimension of size {big}, more than the "
                            f"{limits.max_tensor_elements} elements a tensor may have", pointer)


def _check_arg(i: int, spec: Input, shape: Shape, dtype: str, limits: Limits) -> None:
    pointer = f"/args/{i}"
    if spec.dtype is not None and dtype != spec.dtype:
        raise ArgumentError(f"argument '{spec.name}' is {dtype}, but the function declares {spec.dtype}", pointer)
    if any(n < 0 for n in shape):
        raise ArgumentError(f"argument '{spec.name}' has shape {list(shape)}; sizes are non-negative", pointer)
    if spec.shape is not None and (len(shape) != len(spec.shape) or any(
            d is not None and d != n for d, n in zip(spec.shape, shape, strict=False))):
        declared = "[" + ", ".join("null" if d is None else str(d) for d in spec.shape) + "]"
        raise ArgumentError(f"argument '{spec.name}' has shape {list(shape)}, but the function declares {declared}",
                            pointer)
    _check_dims(shape, limits, f"argument '{spec.name}'", pointer)
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


def _node(i: int, node: Node, ins: list[Shape], limits: Limits) -> tuple[Shape, int, int, int]:
    """One node's output shape, forward FLOPs, backward FLOPs and VJP temporaries (elements).

    Runs once per node of graphs of up to 200,000 nodes: the common path builds no strings.
    """
    op, kwargs = node.op, node.kwargs
    try:
        out = tuple(op.shape(*ins, **kwargs))
        n = size_of(out)
        if n > limits.max_tensor_elements or (out and max(out) > limits.max_tensor_elements):
            what = f"node '{node.id}' ({op.name}) would make a tensor"
            _check_dims(out, limits, what, "")
            raise TooLargeError(f"{what} of shape {list(out)}, more than {limits.max_tensor_elements} elements")
        fwd = op.cost(out, *ins, **kwargs)
        if op.vjp_cost is not None:
            bwd = op.vjp_cost(out, *ins, **kwargs)
        else:
            bwd = VJP_FACTOR * fwd if op.differentiable else 0
        if not isinstance(op.temporaries, int):
            return out, fwd, bwd, op.temporaries(out, *ins, **kwargs)
        if not op.temporaries or not op.differentiable:
            return out, fwd, bwd, 0
        return out, fwd, bwd, op.temporaries * max([n, *map(size_of, ins)])
    except TooLargeError as e:
        raise TooLargeError(e.message, f"/nodes/{i}") from None
    except EngineError as e:
        where = f"/nodes/{i}" + (e.pointer or "")
        raise type(e)(f"node '{node.id}' ({op.name}): {e.message}", where) from None


def _peak_message(graph: Graph, heaviest: int, scratch: int, limits: Limits) -> str:
    if heaviest < 0:
        return f"arguments, constants and intermediates hold more than {limits.max_total_elements} elements"
    node = graph.nodes[heaviest]
    return (f"the gradient of node '{node.id}' ({node.op.name}) needs temporaries of {scratch} elements; with the "
            f"arguments and intermediates that is more than {limits.max_total_elements} elements")


def infer(graph: Graph, arg_shapes: Sequence[Sequence[int]], arg_dtypes: Sequence[Any], *,
          limits: Limits = DEFAULT_LIMITS) -> StaticInfo:
    """Check ``graph`` at these argument shapes/dtypes and estimate its cost; raises before anything runs.

    The dtypes are float64 or float32, as callers made them: arguments bound by ``engine.contract.as_argument``,
    abstract ones checked by ``abstract_eval`` (the dtype rule is applied once, there).

    ``ArgumentError`` (pointer ``/args/i``) for arguments that do not fit the inputs;
    ``ShapeError``/``AttrError`` (``/nodes/i``) where an op rejects its operands;
    ``TooLargeError`` for a tensor over ``max_tensor_elements`` (or any dimension over it);
    ``TooExpensiveError`` when elements summed over intermediates (then the memory peak, VJP
    temporaries included) exceed ``max_total_elements`` or forward plus backward FLOPs exceed ``max_flops``.
    """
    shapes: list[Shape] = _check_args(graph, arg_shapes, arg_dtypes, limits)
    shapes.extend(shape_of(c) for c in graph.constants)
    held = sum(size_of(s) for s in shapes)  # arguments and constants
    total = flops = forward_flops = largest = scratch = 0
    heaviest = -1
    for i, node in enumerate(graph.nodes):
        out, fwd, bwd, temps = _node(i, node, [shapes[a] for a in node.args], limits)
        n = size_of(out)
        total += n
        forward_flops += fwd
        flops += fwd + bwd
        largest = max(largest, n)
        if temps > scratch:
            scratch, heaviest = temps, i
        if total > limits.max_total_elements:
            raise TooExpensiveError(f"intermediates up to node '{node.id}' hold more than "
                                    f"{limits.max_total_elements} elements", f"/nodes/{i}")
        if flops > limits.max_flops:
            raise TooExpensiveError(f"estimated work (forward and gradients) up to node '{node.id}' exceeds "
                                    f"{limits.max_flops} FLOPs", f"/nodes/{i}")
        shapes.append(out)
    peak = held + total + scratch
    if peak > limits.max_total_elements:
        raise TooExpensiveError(_peak_message(graph, heaviest, scratch, limits), f"/nodes/{heaviest}"
                                if heaviest >= 0 else "/args")
    return StaticInfo(tuple(shapes), tuple(shapes[s] for s in graph.outputs), total, largest, flops,
                      forward_flops, peak)
