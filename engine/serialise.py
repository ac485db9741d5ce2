"""Serialise a recorded tape (eager or symbolic) as a JSON graph: the tracer's way onto the wire."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.codec import encode_constant
from engine.errors import GraphError
from engine.ir import NEWEST_OPSET, VERSION, Input, Node, fresh_prefix

__all__ = ["tape_to_json"]


def tape_to_json(inputs: Sequence[Input | str], nodes: Sequence[Node], constants: Mapping[int, Any],
                 outputs: Sequence[int], output_is_list: bool) -> dict[str, Any]:
    """Serialise a recorded tape as a JSON graph (the tracer's way into the wire format).

    Slots are the tape's own: ``inputs[k]`` lives in slot ``k``, ``constants`` maps slot -> value (Python
    float or ndarray), and each node reads
    ``node.args`` and writes ``node.out``. Only nodes that reach an output are kept;
    they get ids ``n0, n1, ...``. An output that is a constant becomes ``multiply(c, 1.0)``.
    """
    specs = [i if isinstance(i, Input) else Input(i) for i in inputs]
    live: set[int] = set(outputs)
    for n in reversed(nodes):  # one reverse sweep: the tape order is topological
        if n.out in live:
            live.update(n.args)
    prefix = fresh_prefix([s.name for s in specs], "n")
    refs: dict[int, Any] = {slot: spec.name for slot, spec in enumerate(specs)}
    out_nodes: list[dict[str, Any]] = []

    def emit(op: str, args: list[Any], attrs: Mapping[str, Any]) -> str:
        out_nodes.append({"id": f"{prefix}{len(out_nodes)}", "op": op, "args": args, "attrs": dict(attrs)})
        return str(out_nodes[-1]["id"])

    def ref(slot: int) -> Any:
        if slot in refs:
            return refs[slot]
        if slot in constants:
            return encode_constant(constants[slot])
        raise GraphError(f"tape slot {slot} is neither an input, a constant nor an earlier node")

    for n in nodes:
        if n.out in live:
            refs[n.out] = emit(n.op.name, [ref(a) for a in n.args], n.attrs)
    out_ids = [refs[s] if s in refs else emit("multiply", [ref(s), 1.0], {}) for s in outputs]
    return {"version": VERSION, "opset": NEWEST_OPSET,
            "inputs": [{"name": s.name, "dtype": s.dtype, "shape": None if s.shape is None else list(s.shape)}
                       for s in specs],
            "nodes": out_nodes, "outputs": out_ids if output_is_list else out_ids[0]}
