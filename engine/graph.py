"""The JSON graph format (version 1): parse and validate into a ``Graph``, and back.

``parse_graph`` walks the nodes once, in order, so a reference can only name
an input or an earlier node and the result is already a topological order.
Every error is a typed ``EngineError`` whose pointer (RFC 6901) names the
offending place. The canonical form — aliases normalised, attribute defaults
filled, constants in one encoding, sorted keys, no whitespace — is hashed
with SHA-256 into the function's id, so equal functions spelled differently
share an id. Canonical inputs are always ``{"name", "dtype", "shape"}``
objects (``null`` for "any"); canonical nodes always carry ``attrs``;
canonical constants are JSON numbers, ``{"value": "NaN"|"Infinity"|"-Infinity"}``,
or binary tensor objects (exact bytes).
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import engine.ops  # noqa: F401 - registers the op set
from engine.attrs import MAX_RANK
from engine.codec import NONFINITE, decode_constant, encode_constant
from engine.errors import (
    ArityError,
    AttrError,
    EngineError,
    GraphError,
    ReferenceError_,
    TooLargeError,
    UnknownOpError,
    join_pointer,
)
from engine.ir import FLOAT_DTYPES, Graph, Input, Node
from engine.limits import DEFAULT_LIMITS, Limits
from engine.registry import Op, lookup, shape_of, size_of

__all__ = [
    "NEWEST_OPSET",
    "OPSETS",
    "VERSION",
    "canonical_json",
    "load_function",
    "parse_graph",
    "parse_inputs",
    "to_json",
]

VERSION = 1
OPSETS = (1, 2)
NEWEST_OPSET = OPSETS[-1]
_GRAPH_KEYS = frozenset(("version", "opset", "inputs", "nodes", "outputs"))
_NODE_KEYS = frozenset(("id", "op", "args", "attrs"))
_INPUT_KEYS = frozenset(("name", "dtype", "shape"))
_RULE = "a node may use only inputs and earlier nodes"
Bound = tuple[dict[str, Any], dict[str, Any]]


def _check_keys(obj: Mapping[Any, Any], allowed: frozenset[str], pointer: str, what: str) -> None:
    for key in obj:
        if key not in allowed:
            raise GraphError(f"unknown key {str(key)[:40]!r} in {what} (allowed: {', '.join(sorted(allowed))})",
                             pointer + join_pointer(str(key)))


def _is_id(s: str) -> bool:
    """``[A-Za-z_][A-Za-z0-9_]*``, at most 128 characters: an ASCII Python identifier."""
    return s.isascii() and s.isidentifier() and len(s) <= 128


def _check_id(value: Any, pointer: str, what: str) -> str:
    if not isinstance(value, str) or not _is_id(value):
        raise GraphError(f"{what} must match [A-Za-z_][A-Za-z0-9_]* (at most 128 characters), got {value!r:.60}",
                         pointer)
    return value


def _check_choice(value: Any, pointer: str, what: str, choices: Sequence[int]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in choices:
        raise GraphError(f"unsupported {what} {value!r:.40}; supported: {', '.join(map(str, choices))}", pointer)
    return value


def _parse_input(entry: Any, pointer: str) -> Input:
    if isinstance(entry, str):
        return Input(_check_id(entry, pointer, "an input name"))
    if not isinstance(entry, Mapping):
        raise GraphError(f'an input is a name or {{"name", "dtype", "shape"}}, got {entry!r:.60}', pointer)
    _check_keys(entry, _INPUT_KEYS, pointer, "an input")
    name = _check_id(entry.get("name"), pointer + "/name", "an input name")
    dtype = entry.get("dtype")
    if dtype is not None and dtype not in FLOAT_DTYPES:
        raise GraphError(f'dtype must be "float64", "float32" or null, got {dtype!r:.40}', pointer + "/dtype")
    shape = entry.get("shape")
    if shape is None:
        return Input(name, dtype)
    if not isinstance(shape, list) or len(shape) > MAX_RANK:
        raise GraphError(f"shape must be a list of at most {MAX_RANK} sizes (null = any), got {shape!r:.60}",
                         pointer + "/shape")
    for j, n in enumerate(shape):
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
            raise GraphError(f"a size must be a non-negative integer or null, got {n!r:.40}", f"{pointer}/shape/{j}")
    return Input(name, dtype, tuple(shape))


def parse_inputs(raw: Any, limits: Limits = DEFAULT_LIMITS) -> list[Input]:
    """The ``inputs`` list of a graph or text function (names or objects), validated; pointers under ``/inputs``."""
    if not isinstance(raw, list):
        raise GraphError('inputs must be a list of names or {"name", "dtype", "shape"} objects', "/inputs")
    if len(raw) > limits.max_inputs:
        raise TooLargeError(f"{len(raw)} inputs exceed the limit of {limits.max_inputs}", "/inputs")
    return [_parse_input(entry, f"/inputs/{i}") for i, entry in enumerate(raw)]


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
        self.limits = limits
        self.raw_nodes = raw_nodes
        self.n_inputs = len(inputs)
        self.base = self.n_inputs + _count_constants(raw_nodes)
        self.names: dict[str, int] = {}  # id -> slot
        for i, inp in enumerate(inputs):
            if inp.name in self.names:
                raise GraphError(f"duplicate input name '{inp.name}'", f"/inputs/{i}/name")
            self.names[inp.name] = i
        self.constants: list[Any] = []
        self.constant_elements = 0
        self.checked: dict[tuple[str, int], Op] = {}  # (op name as written, arity) -> op, once validated
        self.unattributed: dict[str, Bound] = {}  # nodes without attrs share one read-only binding per op

    def constant(self, a: Any, pointer: str) -> int:
        c = float(a) if type(a) is float else decode_constant(a, pointer, limits=self.limits)
        self.constant_elements += 1 if type(c) is float else size_of(shape_of(c))
        if self.constant_elements > self.limits.max_constant_elements:
            raise TooLargeError(f"constants hold more than {self.limits.max_constant_elements} elements", pointer)
        self.constants.append(c)
        return self.n_inputs + len(self.constants) - 1

    def check_node(self, i: int, nd: Any) -> tuple[str, Op, list[Any]]:
        """The node's id, op and raw args, each validated: the cold path of ``node``, which fills the memo."""
        if type(nd) is not dict and not isinstance(nd, Mapping):
            raise GraphError(f'a node is an object {{"id", "op", "args", "attrs"?}}, got {nd!r:.60}', f"/nodes/{i}")
        if not nd.keys() <= _NODE_KEYS:
            _check_keys(nd, _NODE_KEYS, f"/nodes/{i}", "a node")
        nid = _check_id(nd.get("id"), f"/nodes/{i}/id", "a node id")
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
                slots.append(self.constant(a, f"/nodes/{i}/args/{j}"))
        return tuple(slots)

    def node(self, i: int, nd: Any) -> Node:
        raw_args: Any
        if type(nd) is dict and nd.keys() <= _NODE_KEYS:  # hot path: checks answered by the memo
            nid, name, raw_args = nd.get("id"), nd.get("op"), nd.get("args")
            op = self.checked.get((name, len(raw_args))) if type(name) is str and type(raw_args) is list else None
            if op is None or type(nid) is not str or not _is_id(nid) or nid in self.names:
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
        out = self.base + i
        self.names[nid] = out
        return Node(op, args, bound[1], out, bound[0], nid)

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
    _check_keys(obj, _GRAPH_KEYS, "", "a graph")
    _check_choice(obj.get("version", VERSION), "/version", "version", (VERSION,))
    opset = _check_choice(obj.get("opset", NEWEST_OPSET), "/opset", "opset", OPSETS)
    if "inputs" not in obj:
        raise GraphError("a graph needs inputs (a list, possibly empty)", "/inputs")
    inputs = tuple(parse_inputs(obj["inputs"], limits))
    raw_nodes = obj.get("nodes")
    if not isinstance(raw_nodes, list):
        raise GraphError("nodes must be a list of node objects", "/nodes")
    if len(raw_nodes) > limits.max_nodes:
        raise TooLargeError(f"{len(raw_nodes)} nodes exceed the limit of {limits.max_nodes}", "/nodes")
    parser = _Parser(inputs, raw_nodes, limits)
    try:
        nodes = tuple([parser.node(i, nd) for i, nd in enumerate(raw_nodes)])
    except RecursionError:  # a pathological attribute nested thousands deep
        raise GraphError("an attribute is nested too deeply", "/nodes") from None
    outputs, is_list = _outputs(obj.get("outputs"), parser)
    assert len(parser.constants) + len(inputs) == parser.base, "constant pre-count disagrees with the parse"
    opset = _lowest_opset(nodes, opset)
    canonical = _serialise(inputs, parser.constants, nodes, outputs, is_list, opset)
    digest = "sha256:" + hashlib.sha256(canonical).hexdigest()
    return Graph(inputs, tuple(parser.constants), nodes, outputs, is_list, opset, canonical, digest)


def _lowest_opset(nodes: Sequence[Node], declared: int) -> int:
    """The lowest opset holding every op the graph uses; an op newer than the declared opset is an error.

    An op's meaning never changes within the opsets that hold it, so a graph written against opset 2 that
    uses only opset-1 ops is the same function as its opset-1 spelling, and gets the same canonical form
    and id: version-1 functions keep their ids whether or not they state an opset.
    """
    needed = 1
    for i, node in enumerate(nodes):
        op = node.op
        k = op.node_opset(node.attrs) if op.attrs else op.opset
        if k > needed:
            if k > declared:
                what = "was introduced in" if k == op.opset else "with these attributes needs"
                raise GraphError(f"op '{op.name}' {what} opset {k}, but the graph declares opset {declared}; "
                                 f"declare \"opset\": {k} or omit it", f"/nodes/{i}/op")
            needed = k
    return needed


def _compact(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _constant_json(c: Any) -> str:
    e = encode_constant(c)
    return repr(e) if type(e) is float else _compact(e)  # json renders a float with float.__repr__


def _serialise(inputs: Sequence[Input], constants: Sequence[Any], nodes: Sequence[Node], outputs: Sequence[int],
               output_is_list: bool, opset: int) -> bytes:
    """Canonical bytes, byte-for-byte what ``_compact`` gives for the canonical document, but built per node.

    Ids and op names need no JSON escaping (ids are ASCII identifiers), so only attrs and
    constants go through ``json``; attrs shared between nodes are serialised once.
    """
    refs = [f'"{i.name}"' for i in inputs]
    refs.extend(_constant_json(c) for c in constants)
    refs.extend(f'"{n.id}"' for n in nodes)
    attrs_json: dict[int, str] = {}
    parts: list[str] = []
    for i, n in enumerate(nodes):
        aj = attrs_json.get(id(n.attrs))
        if aj is None:
            try:
                aj = attrs_json[id(n.attrs)] = _compact(n.attrs)
            except ValueError:
                raise AttrError(f"attributes of node '{n.id}' must be finite numbers", f"/nodes/{i}/attrs") from None
        args = ",".join([refs[a] for a in n.args])
        parts.append(f'{{"args":[{args}],"attrs":{aj},"id":"{n.id}","op":"{n.op.name}"}}')
    out = [refs[s] for s in outputs]
    ins = _compact([{"name": i.name, "dtype": i.dtype, "shape": None if i.shape is None else list(i.shape)}
                    for i in inputs])
    outs = f"[{','.join(out)}]" if output_is_list else out[0]
    text = f'{{"inputs":{ins},"nodes":[{",".join(parts)}],"opset":{opset},"outputs":{outs},"version":{VERSION}}}'
    return text.encode("ascii")


def canonical_json(graph: Graph) -> dict[str, Any]:
    """The canonical JSON graph: the document whose bytes ``graph.id`` hashes."""
    doc: dict[str, Any] = json.loads(graph.canonical)
    return doc


def to_json(graph: Graph) -> dict[str, Any]:
    """The graph as JSON; ``parse_graph(to_json(g)).id == g.id``."""
    return canonical_json(graph)


def load_function(obj: Any, *, limits: Limits = DEFAULT_LIMITS) -> Graph:
    """The service's one entry point: a JSON graph (has ``nodes``) or a text function (has ``expression``)."""
    if isinstance(obj, Mapping) and "nodes" in obj:
        return parse_graph(obj, limits=limits)
    if isinstance(obj, Mapping) and "expression" in obj:
        from engine.expr import parse_expression  # expr builds graph dicts; imported here to keep layers one-way

        doc = parse_expression(obj, limits=limits)
        try:
            return parse_graph(doc, limits=limits)
        except EngineError as e:  # pointers into generated nodes mean nothing to the author of the text
            if e.pointer and e.pointer.startswith("/nodes"):
                e.pointer = "/expression"
            raise
    raise GraphError('a function is a graph {"inputs": [...], "nodes": [...], "outputs": "..."} '
                     'or a text function {"inputs": [...], "expression": "..."}', "")
