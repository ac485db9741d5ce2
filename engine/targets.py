"""What every derivative kind is computed from: a function (Python or graph) recorded at a point.

A ``Target`` offers the two primitives the kinds are built from: ``record``
(the forward pass on a tape, values kept, for forward-mode sweeps) and
``value_and_gradients`` (reverse mode, whose backward pass records onto an
enclosing trace when its arguments or ``dy`` are traced, for Hessians, HVPs
and reverse-mode Jacobians). Python functions record eagerly; graphs run
their cached plan. Also here: checking tangents, outputs and results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.contract import Array, as_argument, returned, to_array
from engine.eager import value_and_gradients_function
from engine.errors import ArgumentError, OutputTypeError
from engine.evaluation import evaluate_checked
from engine.ir import Graph
from engine.registry import shape_of, size_of
from engine.tape import Tape, forward
from engine.tensor import Tensor, concrete, forward_traced, lift
from engine.tree import Rebuild, flatten

__all__ = ["Recording", "Target", "as_block", "check_vectors", "distinct"]


@dataclass
class Recording:
    """A forward pass: ``values[slot]`` for every slot of ``nodes``; params' and outputs' slots."""

    nodes: Sequence[Any]
    values: list[Any]
    param_slots: dict[int, int]  # argument position -> slot
    out_slots: list[int | None]  # per flattened output; None: a constant of the trace
    outputs: list[Any]  # values of the flattened outputs
    rebuild: Rebuild
    structured: bool

    def value(self) -> Any:
        return self.rebuild([to_array(v) for v in self.outputs])


class Target:
    """A Python function or a graph, with its argument count and the positions of the params."""

    def __init__(self, f: Callable[..., Any] | None, graph: Graph | None, args: Sequence[Any],
                 positions: list[int]) -> None:
        self.f, self.graph, self.positions = f, graph, positions
        self.args = [as_argument(a, i) if i in positions else a for i, a in enumerate(args)] if graph is None \
            else list(args)

    def record(self) -> Recording:
        """The forward pass with the params as slots of a tape (a graph's own slots, when a graph)."""
        if self.graph is not None:
            return self._record_graph(self.graph)
        tape = Tape()
        traced = list(self.args)
        slots: dict[int, int] = {}
        for p in self.positions:
            if p not in slots:
                slots[p] = tape.new_slot(self.args[p])
                traced[p] = Tensor(tape, slots[p], self.args[p])
        assert self.f is not None
        leaves, rebuild, structured = flatten(returned(self.f(*traced)))
        leaves = [lift(v) if type(v) is np.ndarray and v.dtype.kind == "O" else v for v in leaves]
        mine = [isinstance(v, Tensor) and v._tape is tape for v in leaves]
        values = [v._value if m else v for v, m in zip(leaves, mine, strict=True)]
        out_slots = [v._slot if m else None for v, m in zip(leaves, mine, strict=True)]
        check_outputs(values)
        return Recording(tape.nodes, tape.values, slots, out_slots, values, rebuild, structured)

    def _record_graph(self, graph: Graph) -> Recording:
        xs = self.args
        env = [*xs, *graph.env_tail]
        with np.errstate(all="ignore"):
            if any(type(x) is Tensor for x in xs):
                forward_traced(graph.nodes, env)
            else:
                forward(graph.nodes, env)
        outs = [env[s] for s in graph.outputs]
        check_outputs(outs)
        slots = {p: p for p in self.positions}
        is_list = graph.output_is_list
        rebuild: Rebuild = (lambda v: list(v)) if is_list else (lambda v: v[0])
        return Recording(graph.nodes, env, slots, list(graph.outputs), outs, rebuild, is_list)

    def value_and_gradients(self, xs: Sequence[Any], dy: Any = None) -> tuple[Any, list[Any]]:
        """Reverse mode at ``xs`` (zeros for unconnected params are not wanted: None marks them)."""
        if self.graph is not None:  # its arguments were checked when the kind was prepared
            return evaluate_checked(self.graph, list(xs), self.positions, dy, False)
        assert self.f is not None
        return value_and_gradients_function(self.f, self.positions)(*xs, dy=dy)


def check_outputs(values: Sequence[Any]) -> None:
    for i, v in enumerate(values):
        kind = np.result_type(concrete(v)).kind if not isinstance(v, Tensor) else "f"
        if kind != "f":
            what = {"c": "complex", "b": "boolean"}.get(kind, "integer")
            raise OutputTypeError(f"output {i} is {what} ({np.result_type(concrete(v))}): derivatives are defined "
                                  "for real floating-point outputs only; cast it with astype or drop it",
                                  pointer=f"/outputs/{i}")


def distinct(positions: Sequence[int]) -> list[int]:
    return list(dict.fromkeys(positions))


def check_vectors(vectors: Any, positions: Sequence[int], args: Sequence[Any], name: str) -> list[Any]:
    """One tangent (or HVP vector) per param, broadcast to its param's shape and cast to its dtype."""
    n = len(positions)
    if n == 1 and not (isinstance(vectors, list | tuple) and len(vectors) == 1):
        vectors = [vectors]
    if not isinstance(vectors, list | tuple) or len(vectors) != n:
        got = len(vectors) if isinstance(vectors, list | tuple) else "one array"
        raise ArgumentError(f"{name} must hold one array per param: {n} param(s), got {got}", pointer=f"/{name}")
    return [_vector(v, args[p], f"/{name}/{i}") for i, (v, p) in enumerate(zip(vectors, positions, strict=True))]


def _vector(v: Any, x: Any, pointer: str) -> Any:
    shape = shape_of(x)
    if isinstance(v, Tensor):
        return v if v.shape == shape else np.broadcast_to(v, shape)
    if np.iscomplexobj(v):
        raise ArgumentError("tangents and vectors must be real", pointer=pointer)
    try:
        t = np.asarray(v, dtype=np.result_type(concrete(x)))
    except (TypeError, ValueError) as e:
        raise ArgumentError(f"must be numeric: {e}", pointer=pointer) from None
    try:
        return np.broadcast_to(t, shape)
    except ValueError:
        raise ArgumentError(f"an array of shape {list(t.shape)} does not fit a param of shape {list(shape)}",
                            pointer=pointer) from None


def as_block(t: Any, shape: tuple[int, ...], dtype: Any, connected: bool, zeros: bool) -> Any:
    """A result block: an owned array of ``shape`` (zeros where ``t`` is None but connected), or None."""
    if t is None:
        return np.zeros(shape, dtype).view(Array) if connected or zeros else None
    if isinstance(t, Tensor) or isinstance(concrete(t), Tensor):
        return t if shape_of(t) == shape else np.broadcast_to(t, shape)
    return np.array(np.broadcast_to(t, shape), dtype=dtype).view(Array)


def flat_size(shapes: Sequence[tuple[int, ...]]) -> int:
    return sum(size_of(s) for s in shapes)
