"""The JSON graph format (version 1): parse and validate into a ``Graph``, and back.

``parse_graph`` walks the nodes once, in order, so a reference can only name
an input or an earlier node and the result is already a topological order.
Every error is a typed ``EngineError`` whose pointer (RFC 6901) names the
offending place. The checked nodes go to a ``GraphBuilder`` (``engine.builder``),
which gives the canonical form and the id. ``load_function`` is the one entry
point for a function as clients send it: a JSON graph or a text function.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import engine.ops  # noqa: F401 - registers the op set
from engine.builder import GraphBuilder, check_header, check_id, check_keys, input_slots, parse_inputs
from engine.codec import NONFINITE
from engine.errors import ArityError, AttrError, GraphError, ReferenceError_, TooLargeError, UnknownOpError
from engine.expr import load_expression
from engine.ir import Graph, Input, is_id
from engine.limits import DEFAULT_LIMITS, Limits
from engine.registry import OPS, Op, lookup

__all__ = ["load_checked", "load_function", "parse_graph", "to_json"]

_GRAPH_KEYS = frozenset(("version", "opset", "inputs", "nodes", "outputs"))
_NODE_KEYS = frozenset(("id", "op", "args", "attrs"))
_RULE = "a node may use only inputs and earlier nodes"
Bound = tuple[dict[str, Any], dict[str, Any]]


_SUGGEST_MAX_LEN = 32  # ids longer than this get no "did you mean" (bounds its cost to ~50 ms)
_SUGGEST_FROM = 500  # names considered for it: the most recently defined


def _bad_ref(ref: str, here: str | None, names: Mapping[str, int], n_inputs: int, nodes: Sequence[Any],
             start: int, pointer: str) -> ReferenceError_:
    """The most helpful of: a self reference, a forward reference, or an unknown id with close matches."""
    if ref == here:
        return ReferenceError_(f"node '{ref}' refers to itself; {_RULE}", pointer)
    for k in range(start + 1, len(nodes)):
        if isinstance(nodes[k], Mapping) and nodes[k].get("id") == ref:
            return ReferenceError_(f"'{ref}' is defined later (node {k}); {_RULE}", pointer)
    inputs = [n for n, s in names.items() if s < n_inputs]
    # difflib is quadratic in the id's length: suggest only for short ids, among the latest names
    close = difflib.get_close_matches(ref, list(names)[-_SUGGEST_FROM:], n=3) \
        if len(ref) <= _SUGGEST_MAX_LEN else []
    hint = f"; did you mean {', '.join(close)}?" if close else (
        f" (inputs: {', '.join(inputs) or 'none'})" if len(inputs) <= 10 else f" ({len(inputs)} inputs, none close)")
    if ref in NONFINITE:
        hint += f'; a non-finite constant is written {{"value": "{ref}"}}'
    return ReferenceError_(f"unknown id {ref[:60]!r}{hint}", pointer)


def _bind(op: Op, raw: Any, pointer: str) -> Bound:
    try:
        return op.bind({} if raw is None else raw)
    except AttrError as e:
        raise e.at(pointer) from None


def _lookup(name: Any, pointer: str) -> Op:
    try:
        return lookup(name)
    except UnknownOpError as e:
        raise e.at(pointer) from None


def _count_constants(raw_nodes: Sequence[Any]) -> int:
    """Constants come before nodes in slot order, so count them first (malformed nodes fail later)."""
    count = 0
    for nd in raw_nodes:
        args = nd.get("args") if type(nd) is dict or isinstance(nd, Mapping) else None
        if type(args) is list:
            for a in args:
                if type(a) is not str:
                    count += 1
    return count


class _Parser:
    """State of one parse: ids seen so far, constants, and memos shared by all nodes."""

    def __init__(self, inputs: Sequence[Input], raw_nodes: Sequence[Any], limits: Limits) -> None:
        self.raw_nodes = raw_nodes
        self.n_inputs = len(inputs)
        self.builder = GraphBuilder(inputs, _count_constants(raw_nodes), limits)
        self.base = self.builder.base
        self.names = input_slots(inputs)  # id -> slot
        self.checked: dict[tuple[str, int], Op] = {}  # (op name as written, arity) -> op, once validated
        self.unattributed: dict[str, Bound] = {}  # nodes without attrs share one read-only binding per op

    def check_node(self, i: int, nd: Any) -> tuple[str, Op, list[Any]]:
        """The node's id, op and raw args, each validated: the cold path of ``node``, which fills the memo."""
        if type(nd) is not dict and not isinstance(nd, Mapping):
            raise GraphError(f'a node is an object {{"id", "op", "args", "attrs"?}}, got {nd!r:.60}', f"/nodes/{i}")
        if not nd.keys() <= _NODE_KEYS:
            check_keys(nd, _NODE_KEYS, f"/nodes/{i}", "a node")
        nid = check_id(nd.get("id"), f"/nodes/{i}/id", "a node id")
        if nid in self.names:
            slot = self.names[nid]
            where = f"input {slot}" if slot < self.n_inputs else f"node {slot - self.base}"
            raise GraphError(f"duplicate id '{nid}' (already used by {where})", f"/nodes/{i}/id")
        name = nd.get("op")
        op = _lookup(name, f"/nodes/{i}/op")
        assert isinstance(name, str)  # lookup accepts only strings
        raw_args: Any = nd.get("args")
        if type(raw_args) is not list:
            raise GraphError(f"args of node '{nid}' must be a list of ids and constants", f"/nodes/{i}/args")
        msg = op.check_arity(len(raw_args))
        if msg:
            raise ArityError(f"node '{nid}': {msg}", f"/nodes/{i}/args")
        self.checked[(name, len(raw_args))] = op
        return nid, op, raw_args

    def args(self, i: int, nid: str, raw_args: list[Any]) -> tuple[int, ...]:
        """Slots of a node's arguments; strings are references, anything else a constant."""
        names = self.names
        slots: list[int] = []
        for a in raw_args:  # hot path: references only
            slot = names.get(a) if type(a) is str else None
            if slot is None:
                break
            slots.append(slot)
        else:
            return tuple(slots)
        slots = []
        for j, a in enumerate(raw_args):
            if type(a) is str:
                slot = names.get(a)
                if slot is None:
                    raise _bad_ref(a, nid, names, self.n_inputs, self.raw_nodes, i, f"/nodes/{i}/args/{j}")
                slots.append(slot)
            else:
                slots.append(self.builder.constant(a, f"/nodes/{i}/args/{j}"))
        return tuple(slots)

    def node(self, i: int, nd: Any) -> int:
        raw_args: Any
        if type(nd) is dict and nd.keys() <= _NODE_KEYS:  # hot path: checks answered by the memo
            nid, name, raw_args = nd.get("id"), nd.get("op"), nd.get("args")
            op = self.checked.get((name, len(raw_args))) if type(name) is str and type(raw_args) is list else None
            if op is None or type(nid) is not str or not is_id(nid) or nid in self.names:
                nid, op, raw_args = self.check_node(i, nd)
        else:
            nid, op, raw_args = self.check_node(i, nd)
        args = self.args(i, nid, raw_args)
        raw_attrs = nd.get("attrs")
        if raw_attrs is None or (type(raw_attrs) is dict and not raw_attrs):
            bound = self.unattributed.get(op.name)
            if bound is None:
                bound = self.unattributed[op.name] = _bind(op, None, f"/nodes/{i}/attrs")
        else:
            bound = _bind(op, raw_attrs, f"/nodes/{i}/attrs")
        out = self.names[nid] = self.builder.node(op, args, bound, nid)
        return out

    def output(self, ref: Any, pointer: str) -> int:
        if not isinstance(ref, str):
            raise GraphError(f"an output is the id of an input or node, got {ref!r:.60}", pointer)
        slot = self.names.get(ref)
        if slot is None:
            raise _bad_ref(ref, None, self.names, self.n_inputs, (), 0, pointer)
        return slot


def _outputs(raw: Any, parser: _Parser) -> tuple[tuple[int, ...], bool]:
    if isinstance(raw, list):
        if not raw:
            raise GraphError("outputs must name at least one input or node", "/outputs")
        return tuple(parser.output(r, f"/outputs/{k}") for k, r in enumerate(raw)), True
    if raw is None:
        raise GraphError("a graph needs outputs: an id, or a list of ids", "/outputs")
    return (parser.output(raw, "/outputs"),), False


def parse_graph(obj: Any, *, limits: Limits = DEFAULT_LIMITS) -> Graph:
    """Validate a JSON graph into a ``Graph``; raises a typed ``EngineError`` with a JSON Pointer."""
    if not isinstance(obj, Mapping):
        raise GraphError('a graph is an object {"inputs", "nodes", "outputs"}', "")
    check_keys(obj, _GRAPH_KEYS, "", "a graph")
    opset = check_header(obj)
    if "inputs" not in obj:
        raise GraphError("a graph needs inputs (a list, possibly empty)", "/inputs")
    inputs = parse_inputs(obj["inputs"], limits)
    raw_nodes = obj.get("nodes")
    if not isinstance(raw_nodes, list):
        raise GraphError("nodes must be a list of node objects", "/nodes")
    if len(raw_nodes) > limits.max_nodes:
        raise TooLargeError(f"{len(raw_nodes)} nodes exceed the limit of {limits.max_nodes}", "/nodes")
    parser = _Parser(inputs, raw_nodes, limits)
    try:
        for i, nd in enumerate(raw_nodes):
            parser.node(i, nd)
    except RecursionError:  # a pathological attribute nested thousands deep
        raise GraphError("an attribute is nested too deeply", "/nodes") from None
    outputs, is_list = _outputs(obj.get("outputs"), parser)
    return parser.builder.build(outputs, is_list, opset)


def to_json(graph: Graph) -> dict[str, Any]:
    """The canonical JSON graph, whose bytes ``graph.id`` hashes: ``parse_graph(to_json(g)).id == g.id``."""
    doc: dict[str, Any] = json.loads(graph.canonical)
    return doc


def load_function(obj: Any, *, limits: Limits = DEFAULT_LIMITS) -> Graph:
    """The one entry point for a function as clients send it: a JSON graph (has ``nodes``) or a text function."""
    if isinstance(obj, Mapping) and "nodes" in obj:
        return parse_graph(obj, limits=limits)
    if isinstance(obj, Mapping) and "expression" in obj:
        return load_expression(obj, limits=limits)
    raise GraphError('a function is a graph {"inputs": [...], "nodes": [...], "outputs": "..."} '
                     'or a text function {"inputs": [...], "expression": "..."}', "")


def load_checked(doc: Mapping[str, Any], canonical: bytes, function_id: str, *,
                 limits: Limits = DEFAULT_LIMITS) -> Graph:
    """The graph of a canonical form (``doc`` is ``canonical`` parsed) that ``load_function`` already accepted, in
    this process or the one that sent it: rebuilt without checking, canonicalising or hashing it again.

    A service hands a function to its helper processes this way, so a request is checked once wherever it
    runs. Never for a function from outside: that goes through ``load_function``.
    """
    inputs = [Input(i["name"], i["dtype"], None if i["shape"] is None else tuple(i["shape"])) for i in doc["inputs"]]
    raw_nodes = doc["nodes"]
    builder = GraphBuilder(inputs, _count_constants(raw_nodes), limits)
    slots = {i.name: k for k, i in enumerate(inputs)}
    for nd in raw_nodes:
        op = OPS[nd["op"]]  # canonical names are never aliases
        args = tuple(slots[a] if type(a) is str else builder.constant(a, "") for a in nd["args"])
        attrs = nd["attrs"]
        slots[nd["id"]] = builder.node(op, args, (attrs, op.kwargs_of(attrs)), nd["id"])
    raw_out = doc["outputs"]
    is_list = isinstance(raw_out, list)
    outputs = tuple(slots[r] for r in (raw_out if is_list else [raw_out]))
    return Graph(tuple(inputs), tuple(builder.constants), tuple(builder.nodes), outputs, is_list, doc["opset"],
                 canonical, function_id)
