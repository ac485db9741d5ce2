"""Building a ``Graph``: slots, constants and nodes checked once, then canonicalised and hashed into its id.

The JSON parser (``engine.graph``) and the expression translator
(``engine.expr``) both feed a ``GraphBuilder``, so a function is validated
once on its way in, whichever way it was written, and there is one
canonical serialiser. The canonical form — aliases normalised, attribute
defaults filled, constants in one encoding, sorted keys, no whitespace — is
hashed with SHA-256 into the function's id. Canonical inputs are always
``{"name", "dtype", "shape"}`` objects (``null`` for "any"); canonical nodes
always carry ``attrs``; canonical constants are JSON numbers,
``{"value": "NaN"|"Infinity"|"-Infinity"}``, or binary tensor objects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from engine.attrs import MAX_RANK
from engine.codec import decode_constant, encode_constant
from engine.errors import AttrError, GraphError, TooLargeError, join_pointer
from engine.ir import (
    FLOAT_DTYPES,
    MAX_ID_LENGTH,
    NEWEST_OPSET,
    OPSETS,
    VERSION,
    Graph,
    Input,
    Node,
    function_id,
    is_id,
)
from engine.limits import DEFAULT_LIMITS, Limits
from engine.registry import Op, shape_of, size_of

__all__ = ["GraphBuilder", "check_header", "check_id", "check_keys", "input_slots", "parse_inputs"]


_INPUT_KEYS = frozenset(("name", "dtype", "shape"))


class GraphBuilder:
    """The slots of a graph being built: inputs, then ``n_constants`` constants, then one per node."""

    def __init__(self, inputs: Sequence[Input], n_constants: int, limits: Limits = DEFAULT_LIMITS) -> None:
        self.inputs = tuple(inputs)
        self.limits = limits
        self.base = len(self.inputs) + n_constants
        self.constants: list[Any] = []
        self.constant_elements = 0
        self.nodes: list[Node] = []

    def constant(self, a: Any, pointer: str) -> int:
        """The slot of a constant argument (a number, nested list or binary tensor), decoded and counted."""
        c = float(a) if type(a) is float else decode_constant(a, pointer, limits=self.limits)
        self.constant_elements += 1 if type(c) is float else size_of(shape_of(c))
        if self.constant_elements > self.limits.max_constant_elements:
            raise TooLargeError(f"constants hold more than {self.limits.max_constant_elements} elements", pointer)
        self.constants.append(c)
        return len(self.inputs) + len(self.constants) - 1

    def node(self, op: Op, args: tuple[int, ...], bound: tuple[Mapping[str, Any], Mapping[str, Any]],
             nid: str) -> int:
        """The slot of a node whose op, argument slots and (canonical, keyword) attributes are checked."""
        out = self.base + len(self.nodes)
        self.nodes.append(Node(op, args, bound[1], out, bound[0], nid))
        return out

    def build(self, outputs: Sequence[int], output_is_list: bool, declared_opset: int) -> Graph:
        """The finished graph; its opset is the lowest that holds every op and attribute it uses."""
        assert len(self.inputs) + len(self.constants) == self.base, "constant count disagrees with the build"
        nodes = tuple(self.nodes)
        opset = _lowest_opset(nodes, declared_opset)
        canonical = _serialise(self.inputs, self.constants, nodes, outputs, output_is_list, opset)
        return Graph(self.inputs, tuple(self.constants), nodes, tuple(outputs), output_is_list, opset, canonical,
                     function_id(canonical))


def check_header(obj: Mapping[str, Any]) -> int:
    """The ``version`` (checked) and ``opset`` (returned) of a graph or text function; absent means newest."""
    _check_choice(obj.get("version", VERSION), "/version", "version", (VERSION,))
    return _check_choice(obj.get("opset", NEWEST_OPSET), "/opset", "opset", OPSETS)


def check_keys(obj: Mapping[Any, Any], allowed: frozenset[str], pointer: str, what: str) -> None:
    for key in obj:
        if key not in allowed:
            raise GraphError(f"unknown key {str(key)[:40]!r} in {what} (allowed: {', '.join(sorted(allowed))})",
                             pointer + join_pointer(str(key)))


def check_id(value: Any, pointer: str, what: str) -> str:
    if not isinstance(value, str) or not is_id(value):
        raise GraphError(f"{what} must match [A-Za-z_][A-Za-z0-9_]* (at most {MAX_ID_LENGTH} characters), "
                         f"got {value!r:.60}", pointer)
    return value


def _check_choice(value: Any, pointer: str, what: str, choices: Sequence[int]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in choices:
        raise GraphError(f"unsupported {what} {value!r:.40}; supported: {', '.join(map(str, choices))}", pointer)
    return value


def _parse_input(entry: Any, pointer: str) -> Input:
    if isinstance(entry, str):
        return Input(check_id(entry, pointer, "an input name"))
    if not isinstance(entry, Mapping):
        raise GraphError(f'an input is a name or {{"name", "dtype", "shape"}}, got {entry!r:.60}', pointer)
    check_keys(entry, _INPUT_KEYS, pointer, "an input")
    name = check_id(entry.get("name"), pointer + "/name", "an input name")
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


def input_slots(inputs: Sequence[Input]) -> dict[str, int]:
    """Each input's name -> its slot; a name given twice is an error at its pointer."""
    names: dict[str, int] = {}
    for i, inp in enumerate(inputs):
        if inp.name in names:
            raise GraphError(f"duplicate input name '{inp.name}'", f"/inputs/{i}/name")
        names[inp.name] = i
    return names


def parse_inputs(raw: Any, limits: Limits = DEFAULT_LIMITS) -> list[Input]:
    """The ``inputs`` list of a graph or text function (names or objects), validated; pointers under ``/inputs``."""
    if not isinstance(raw, list):
        raise GraphError('inputs must be a list of names or {"name", "dtype", "shape"} objects', "/inputs")
    if len(raw) > limits.max_inputs:
        raise TooLargeError(f"{len(raw)} inputs exceed the limit of {limits.max_inputs}", "/inputs")
    return [_parse_input(entry, f"/inputs/{i}") for i, entry in enumerate(raw)]


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


