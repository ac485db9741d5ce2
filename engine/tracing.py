"""Symbolic tracing: record a plain NumPy function once, as a canonical JSON graph.

The SDK sends the graph to a service and afterwards only arguments. The
function is called with value-less ``Tensor``s, so every operation only
appends a node; Python control flow on values raises ``TracingError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.contract import returned
from engine.errors import TracingError
from engine.ir import Abstract, Graph, Input, is_id
from engine.params import positional_names
from engine.serialise import tape_to_graph
from engine.tape import Tape
from engine.tensor import Tensor, lift
from engine.tree import Rebuild, flatten

__all__ = ["Traced", "input_names", "positional_names", "trace"]



@dataclass(frozen=True)
class Traced:
    """A traced function: its canonical JSON ``graph`` (whose id a service gives it too: ``function_id``) and how
    to rebuild its output structure from leaves."""

    graph: dict[str, Any]
    structured: bool
    rebuild: Rebuild
    n_outputs: int
    function_id: str

    @property
    def input_names(self) -> list[str]:
        return [i if isinstance(i, str) else i["name"] for i in self.graph["inputs"]]


def trace(f: Callable[..., Any], n_args: int, signature: Sequence[tuple[Sequence[int], Any]] | None = None) -> Traced:
    """Record ``f`` called with ``n_args`` symbolic arguments.

    With a ``signature`` (each argument's shape and dtype) the trace is specific to it, as ``jax.jit``'s:
    ``x.shape``, ``len(x)`` and ``x.dtype`` work inside ``f``, and the graph declares those inputs, so the
    service refuses arguments of another signature. Without one the graph is shape-polymorphic.
    """
    names = input_names(positional_names(f) or [], n_args)
    tape = Tape(symbolic=True)
    avals = [None] * n_args if signature is None else [Abstract(tuple(int(n) for n in s), np.dtype(d))
                                                        for s, d in signature]
    if len(avals) != n_args:
        raise ValueError(f"signature has {len(avals)} entries for {n_args} arguments")
    xs = [Tensor(tape, tape.new_slot(None), a) for a in avals]
    leaves, rebuild, structured = flatten(returned(f(*xs)))
    leaves = [lift(v) if type(v) is np.ndarray and v.dtype.kind == "O" else v for v in leaves]
    slots = []
    for leaf in leaves:
        # An output that does not depend on the inputs is a constant of the graph (as eagerly: no gradient).
        slots.append(leaf._slot if isinstance(leaf, Tensor) and leaf._tape is tape else tape.new_slot(leaf))
    inputs = names if signature is None else [
        Input(n, a.dtype.name, a.shape) for n, a in zip(names, avals, strict=True) if a is not None]
    graph = _graph_of(tape, inputs, slots, structured)
    return Traced(json.loads(graph.canonical), structured, rebuild, len(leaves), graph.id)


def input_names(names: list[str], n_args: int) -> list[str]:
    """``f``'s parameter names for ``n_args`` inputs: ``x<i>`` where a name is missing or not a valid id."""
    out = [n if is_id(n) else "" for n in names[:n_args]]
    out += [""] * (n_args - len(out))
    taken = set(out)
    for i, n in enumerate(out):
        if not n:
            k = i
            while f"x{k}" in taken:
                k += n_args
            out[i] = f"x{k}"
            taken.add(out[i])
    return out


def _graph_of(tape: Tape, names: Sequence[str | Input], outputs: list[int], as_list: bool) -> Graph:
    """The graph of a symbolic tape whose inputs are its first ``len(names)`` slots."""
    produced = {node.out for node in tape.nodes}
    constants: dict[int, Any] = {}
    for slot in range(len(names), len(tape.values)):
        if slot not in produced:
            constants[slot] = _constant(tape.values[slot])
    return tape_to_graph(names, tape.nodes, constants, outputs, as_list)


def _constant(value: Any) -> Any:
    """A captured constant as the graph format holds it: a Python float or a float array."""
    if isinstance(value, Tensor):
        raise TracingError("a value traced by an enclosing gradient cannot be captured by a remote function")
    if isinstance(value, bool | int | float) and not isinstance(value, np.generic):
        return float(value)
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TracingError(f"a constant of dtype {arr.dtype} cannot be sent; use numbers or float arrays")
    return arr if arr.dtype in (np.float64, np.float32) else arr.astype(np.float64)
