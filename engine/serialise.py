"""A recorded tape (eager or symbolic) as a ``Graph``: the tracer's way onto the wire.

The nodes go through the same ``GraphBuilder`` as a parsed JSON graph or a
text function, so there is one canonical serialiser and a traced function's
id is known before it is sent: the service computes the same one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from engine.builder import GraphBuilder
from engine.codec import encode_constant
from engine.errors import GraphError
from engine.ir import NEWEST_OPSET, Graph, Input, Node, fresh_prefix
from engine.limits import Limits
from engine.registry import OPS, Op

__all__ = ["tape_to_graph"]


def tape_to_graph(inputs: Sequence[Input | str], nodes: Sequence[Node], constants: Mapping[int, Any],
                  outputs: Sequence[int], output_is_list: bool) -> Graph:
    """The graph of a recorded tape. ``inputs[k]`` lives in slot ``k``, ``constants`` maps slot -> value (Python
    float or ndarray), and each node reads ``node.args`` and writes ``node.out``. Only nodes that reach an
    output are kept; they get ids ``n0, n1, ...``. An output that is a constant becomes ``multiply(c, 1.0)``.
    """
    specs = [i if isinstance(i, Input) else Input(i) for i in inputs]
    live: set[int] = set(outputs)
    for n in reversed(nodes):  # one reverse sweep: the tape order is topological
        if n.out in live:
            live.update(n.args)
    kept = [n for n in nodes if n.out in live]
    constant_outputs = [s for s in outputs if s in constants]
    n_constants = sum(1 for n in kept for a in n.args if a in constants) + 2 * len(constant_outputs)
    builder = GraphBuilder(specs, n_constants, _UNBOUNDED)
    prefix = fresh_prefix([s.name for s in specs], "n")
    slots: dict[int, int] = {k: k for k in range(len(specs))}  # tape slot -> graph slot (inputs and nodes)

    def ref(slot: int) -> int:
        if slot in slots:
            return slots[slot]
        if slot in constants:  # each use is a constant of its own, as in the JSON form
            return builder.constant(encode_constant(constants[slot]), "")
        raise GraphError(f"tape slot {slot} is neither an input, a constant nor an earlier node")

    def emit(op: Op, args: tuple[int, ...], bound: tuple[Mapping[str, Any], Mapping[str, Any]]) -> int:
        return builder.node(op, args, bound, f"{prefix}{len(builder.nodes)}")

    for n in kept:
        slots[n.out] = emit(n.op, tuple(ref(a) for a in n.args), (n.attrs, n.kwargs))
    out: list[int] = []
    for s in outputs:
        if s not in slots:  # a constant output, as multiply(c, 1.0): its arguments in the JSON form's order
            c = ref(s)
            out.append(emit(OPS["multiply"], (c, builder.constant(1.0, "")), ({}, {})))
        else:
            out.append(slots[s])
    return builder.build(out, output_is_list, NEWEST_OPSET)


# A trace is checked against the limits of the service that receives it, not here.
_UNBOUNDED = Limits(**{f.name: 2**62 for f in fields(Limits)})
