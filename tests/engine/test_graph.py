"""JSON graph format: validation with pointed errors, slot numbering, canonical ids, tape serialisation."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import numpy as np
import pytest

from engine.codec import encode_tensor
from engine.errors import ArityError, AttrError, GraphError, ReferenceError_, TooLargeError, UnknownOpError
from engine.graph import load_checked, load_function, parse_graph, to_json
from engine.ir import FUNCTION_ID_PATTERN, ID_PATTERN, Graph, Input, is_id
from engine.limits import Limits
from engine.registry import OPS
from engine.serialise import tape_to_graph
from tests.support import SEED as SEED_TEXT
from tests.support import SEED_ARGS, SEED_VALUE, time_budget
from tests.support import SEED_GRAPH as SEED


def run(graph: Graph, *args: Any) -> Any:
    """A minimal interpreter (the tape's job elsewhere), enough to compare functions here."""
    env: list[Any] = [*map(np.asarray, args), *graph.constant_values(), *([None] * len(graph.nodes))]
    for n in graph.nodes:
        env[n.out] = n.op.forward(*[env[a] for a in n.args], **n.kwargs)
    values = [np.asarray(env[s]) for s in graph.outputs]
    return values if graph.output_is_list else values[0]


def with_node(node: Any, inputs: Any = ("x", "y"), outputs: Any = "n") -> dict[str, Any]:
    return {"inputs": list(inputs), "nodes": [node], "outputs": outputs}


def test_seed_graph_parses_and_computes_the_seed_value() -> None:
    g = parse_graph(SEED)
    assert g.input_names == ["x", "y"] and g.opset == 1 and not g.output_is_list
    assert [n.op.name for n in g.nodes] == ["multiply"] * 5 + ["subtract"]
    assert run(g, 2.0, 3.0) == 6.0


def test_slots_number_inputs_then_constants_then_nodes() -> None:
    g = parse_graph({"inputs": ["x"], "nodes": [
        {"id": "a", "op": "add", "args": ["x", 1.5]},
        {"id": "b", "op": "mul", "args": [[1, 2], "a"]},
    ], "outputs": ["b", "a", "x"]})
    assert g.constants[0] == 1.5 and type(g.constants[0]) is float
    assert isinstance(g.constants[1], np.ndarray)
    assert [n.args for n in g.nodes] == [(0, 1), (2, 3)]
    assert [n.out for n in g.nodes] == [3, 4] and len(g.inputs) + len(g.constants) + len(g.nodes) == 5
    assert g.outputs == (4, 3, 0) and g.output_is_list


def test_a_list_of_one_output_stays_a_list() -> None:
    g = parse_graph({"inputs": ["x"], "nodes": [], "outputs": ["x"]})
    assert g.output_is_list and g.outputs == (0,)


def test_input_objects_keep_dtype_and_shape() -> None:
    g = parse_graph({"inputs": [{"name": "w", "dtype": "float32", "shape": [None, 3]}, {"name": "b"}],
                     "nodes": [], "outputs": "w"})
    assert g.inputs == (Input("w", "float32", (None, 3)), Input("b"))


def test_equal_functions_spelled_differently_share_an_id() -> None:
    spelled = {
        "outputs": "f", "inputs": [{"name": "x"}, {"name": "y", "dtype": None, "shape": None}],
        "nodes": [
            {"args": ["x", "x"], "op": "multiply", "id": "a", "attrs": {}},
            {"id": "b", "op": "multiply", "args": ["a", "x"]},
            {"id": "c", "op": "mul", "args": ["b", "y"]},
            {"id": "d", "op": "mul", "args": ["x", "y"]},
            {"id": "e", "op": "multiply", "args": ["d", "y"]},
            {"id": "f", "op": "subtract", "args": ["c", "e"]},
        ],
    }
    assert parse_graph(spelled).id == parse_graph(SEED).id
    assert parse_graph(json.loads(json.dumps(SEED, indent=4))).id == parse_graph(SEED).id


@pytest.mark.parametrize("one, other", [
    (2, 2.0), (2, {"value": 2}), ([1, 2], {"value": [1.0, 2.0]}),
    ([1, 2], encode_tensor(np.array([1.0, 2.0]), "base64")),
])
def test_constant_spellings_share_an_id(one: Any, other: Any) -> None:
    def graph(c: Any) -> Graph:
        return parse_graph(with_node({"id": "n", "op": "add", "args": ["x", c]}))

    assert graph(one).id == graph(other).id


@pytest.mark.parametrize("change", [
    lambda g: g["nodes"][5].update(op="add"),
    lambda g: g["nodes"][0].update(args=["x", 2.0]),
    lambda g: g.update(inputs=["x", {"name": "y", "dtype": "float32"}]),
    lambda g: g.update(inputs=["y", "x"]),
    lambda g: g.update(outputs=["f"]),
])
def test_different_functions_get_different_ids(change: Any) -> None:
    other = copy.deepcopy(SEED)
    change(other)
    assert parse_graph(other).id != parse_graph(SEED).id


def test_defaults_are_filled_in_the_canonical_form() -> None:
    if "sum" not in OPS:
        pytest.skip("reductions not registered yet")
    bare = parse_graph({"inputs": ["x"], "nodes": [{"id": "s", "op": "sum", "args": ["x"]}], "outputs": "s"})
    full = parse_graph({"inputs": ["x"], "nodes": [{"id": "s", "op": "sum", "args": ["x"],
                                                    "attrs": {"axis": None, "keepdims": False}}], "outputs": "s"})
    assert bare.id == full.id
    assert to_json(bare)["nodes"][0]["attrs"] == {"axis": None, "keepdims": False}


def test_canonical_bytes_are_sorted_compact_json_and_hash_to_the_id() -> None:
    import hashlib

    g = parse_graph({"inputs": ["x"], "nodes": [
        {"id": "a", "op": "add", "args": ["x", {"value": "NaN"}]},
        {"id": "b", "op": "mul", "args": ["a", [[1, 2], [3, 4]]]},
        {"id": "c", "op": "sub", "args": ["b", -0.0]},
    ], "outputs": ["c", "a"]})
    doc = to_json(g)
    assert json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False).encode() == g.canonical
    assert g.id == "sha256:" + hashlib.sha256(g.canonical).hexdigest()
    assert doc["inputs"] == [{"name": "x", "dtype": None, "shape": None}]
    assert doc["nodes"][0]["args"] == ["x", {"value": "NaN"}]
    assert doc["nodes"][1]["args"][1]["dtype"] == "float64"  # arrays are binary: exact bytes


def test_to_json_round_trips_to_the_same_id_and_values() -> None:
    g = parse_graph({"inputs": [{"name": "x", "shape": [2]}], "nodes": [
        {"id": "a", "op": "div", "args": [[1.0, 0.1], "x"]},
        {"id": "b", "op": "pow", "args": ["a", 2]},
    ], "outputs": "b"})
    again = parse_graph(to_json(g))
    assert again.id == g.id and again.canonical == g.canonical
    np.testing.assert_array_equal(run(again, [2.0, 4.0]), run(g, [2.0, 4.0]))


def test_float32_constants_keep_their_dtype() -> None:
    c = encode_tensor(np.array([0.5, 0.25], dtype=np.float32), "base64")
    g = parse_graph(with_node({"id": "n", "op": "add", "args": ["x", c]}))
    assert g.constants[0].dtype == np.float32
    assert parse_graph(to_json(g)).constants[0].dtype == np.float32


E = GraphError
ERRORS: list[tuple[Any, type[Exception], str, str]] = [
    ([], E, "", "a graph is an object"),
    ({**SEED, "name": "f"}, E, "/name", "unknown key 'name'"),
    ({**SEED, "version": 2}, E, "/version", "unsupported version 2"),
    ({**SEED, "opset": 99}, E, "/opset", "supported: 1"),
    ({**SEED, "opset": True}, E, "/opset", "unsupported opset"),
    ({"nodes": [], "outputs": "x"}, E, "/inputs", "needs inputs"),
    ({**SEED, "inputs": "x"}, E, "/inputs", "list of names"),
    ({**SEED, "inputs": ["x", "1y"]}, E, "/inputs/1", "must match [A-Za-z_]"),
    ({**SEED, "inputs": ["x", "x"]}, E, "/inputs/1/name", "duplicate input name 'x'"),
    ({**SEED, "inputs": ["x", {"name": "y", "dtype": "int32"}]}, E, "/inputs/1/dtype", '"float64", "float32"'),
    ({**SEED, "inputs": ["x", {"name": "y", "shape": [2, -1]}]}, E, "/inputs/1/shape/1", "non-negative"),
    ({**SEED, "inputs": ["x", {"name": "y", "size": 3}]}, E, "/inputs/1/size", "unknown key 'size'"),
    ({**SEED, "inputs": ["x", 3]}, E, "/inputs/1", "a name or"),
    ({**SEED, "nodes": {}}, E, "/nodes", "nodes must be a list"),
    (with_node("n"), E, "/nodes/0", "a node is an object"),
    (with_node({"id": "n", "op": "add", "args": ["x", "y"], "kind": 1}), E, "/nodes/0/kind", "unknown key 'kind'"),
    (with_node({"id": "n-1", "op": "add", "args": ["x", "y"]}), E, "/nodes/0/id", "must match"),
    (with_node({"id": "a" * 129, "op": "add", "args": ["x", "y"]}), E, "/nodes/0/id", "128 characters"),
    (with_node({"op": "add", "args": ["x", "y"]}), E, "/nodes/0/id", "got None"),
    (with_node({"id": "y", "op": "add", "args": ["x", "x"]}, outputs="y"), E, "/nodes/0/id",
     "duplicate id 'y' (already used by input 1)"),
    (with_node({"id": "n", "op": "frobnicate", "args": ["x"]}), UnknownOpError, "/nodes/0/op",
     "unknown op 'frobnicate'"),
    (with_node({"id": "n", "op": 3, "args": ["x"]}), UnknownOpError, "/nodes/0/op", "unknown op 3"),
    (with_node({"id": "n", "op": "add", "args": "x"}), E, "/nodes/0/args", "must be a list"),
    (with_node({"id": "n", "op": "add", "args": ["x"]}), ArityError, "/nodes/0/args", "takes 2 argument(s), got 1"),
    (with_node({"id": "n", "op": "neg", "args": ["x", "y"]}), ArityError, "/nodes/0/args", "'negative' takes 1"),
    (with_node({"id": "n", "op": "add", "args": ["x", "n"]}), ReferenceError_, "/nodes/0/args/1", "refers to itself"),
    (with_node({"id": "n", "op": "add", "args": ["x", "z"]}), ReferenceError_, "/nodes/0/args/1",
     "unknown id 'z' (inputs: x, y)"),
    (with_node({"id": "n", "op": "add", "args": ["x", "yy"]}), ReferenceError_, "/nodes/0/args/1", "did you mean y"),
    (with_node({"id": "n", "op": "add", "args": ["x", "NaN"]}), ReferenceError_, "/nodes/0/args/1",
     '{"value": "NaN"}'),
    (with_node({"id": "n", "op": "add", "args": ["x", [1, True]]}), E, "/nodes/0/args/1/1", "booleans"),
    (with_node({"id": "n", "op": "add", "args": ["x", None]}), E, "/nodes/0/args/1", "got null"),
    (with_node({"id": "n", "op": "add", "args": ["x", "y"], "attrs": {"axis": 0}}), AttrError,
     "/nodes/0/attrs/axis", "op 'add' has no attribute 'axis' (valid: none)"),
    (with_node({"id": "n", "op": "add", "args": ["x", "y"], "attrs": [1]}), AttrError, "/nodes/0/attrs",
     "must be an object"),
    ({**SEED, "outputs": None}, E, "/outputs", "needs outputs"),
    ({**SEED, "outputs": []}, E, "/outputs", "at least one"),
    ({**SEED, "outputs": ["f", "g"]}, ReferenceError_, "/outputs/1", "unknown id 'g'"),
    ({**SEED, "outputs": 3}, E, "/outputs", "the id of an input or node"),
]


@pytest.mark.parametrize("obj, cls, pointer, words", ERRORS, ids=[e[3][:30] for e in ERRORS])
def test_malformed_graphs_raise_typed_errors_with_pointers(obj: Any, cls: type[Exception], pointer: str,
                                                           words: str) -> None:
    with pytest.raises(cls) as info:
        parse_graph(obj)
    assert isinstance(info.value, GraphError)
    assert info.value.pointer == pointer
    assert words in info.value.message


def test_forward_reference_names_the_later_node() -> None:
    obj = {"inputs": ["x"], "nodes": [
        {"id": "a", "op": "neg", "args": ["x"]},
        {"id": "b", "op": "add", "args": ["a", "c"]},
        {"id": "c", "op": "neg", "args": ["x"]},
    ], "outputs": "b"}
    with pytest.raises(ReferenceError_) as info:
        parse_graph(obj)
    assert info.value.pointer == "/nodes/1/args/1"
    assert "'c' is defined later (node 2)" in info.value.message and "earlier nodes" in info.value.message


def test_did_you_mean_stays_cheap_for_adversarial_ids() -> None:
    # Many long, nearly equal ids and a near miss would cost difflib seconds if every id were compared.
    stem = "ab" * 60
    nodes = [{"id": f"{stem}{i}", "op": "neg", "args": ["x"]} for i in range(5000)]
    nodes.append({"id": "out", "op": "add", "args": ["x", stem]})
    with time_budget(1.0), pytest.raises(ReferenceError_) as info:  # was 2.4 s before suggestions were bounded
        parse_graph({"inputs": ["x"], "nodes": nodes, "outputs": "out"})
    assert info.value.pointer == "/nodes/5000/args/1" and "unknown id" in info.value.message


def test_unknown_attribute_of_an_op_with_attrs_lists_the_valid_ones() -> None:
    if "sum" not in OPS:
        pytest.skip("reductions not registered yet")
    with pytest.raises(AttrError) as info:
        parse_graph({"inputs": ["x"], "nodes": [{"id": "s", "op": "sum", "args": ["x"], "attrs": {"axes": 0}}],
                     "outputs": "s"})
    assert info.value.pointer == "/nodes/0/attrs/axes" and "axis, keepdims" in info.value.message


def test_pathologically_nested_attribute_is_a_graph_error() -> None:
    if "sum" not in OPS:
        pytest.skip("reductions not registered yet")
    deep: Any = [0]
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(GraphError):
        parse_graph({"inputs": ["x"], "nodes": [{"id": "s", "op": "sum", "args": ["x"], "attrs": {"axis": deep}}],
                     "outputs": "s"})


@pytest.mark.parametrize("limits, obj, pointer", [
    (Limits(max_nodes=5), SEED, "/nodes"),
    (Limits(max_inputs=1), SEED, "/inputs"),
    (Limits(max_constant_elements=3), with_node({"id": "n", "op": "add", "args": [[1, 2], [3, 4]]}), "/nodes/0/args/1"),
])
def test_size_limits_raise_too_large_before_work(limits: Limits, obj: Any, pointer: str) -> None:
    with pytest.raises(TooLargeError) as info:
        parse_graph(obj, limits=limits)
    assert info.value.pointer == pointer


def chain(n: int) -> dict[str, Any]:
    nodes = [{"id": "n0", "op": "mul", "args": ["x", 1.0001]}]
    nodes += [{"id": f"n{i}", "op": "add" if i % 2 else "mul", "args": [f"n{i - 1}", "x" if i % 3 else 0.5]}
              for i in range(1, n)]
    return {"inputs": ["x"], "nodes": nodes, "outputs": f"n{n - 1}"}


@pytest.mark.slow  # seconds of parsing: `make test`
def test_a_200000_node_chain_parses_quickly() -> None:
    obj = chain(200_000)
    with time_budget(4.0):  # about 0.7 s on a quiet 2-core box; the budget only catches quadratic blow-ups
        g = parse_graph(obj)
    assert len(g.nodes) == 200_000 and g.nodes[-1].out == len(g.inputs) + len(g.constants) + len(g.nodes) - 1


def test_load_function_accepts_graphs_and_text_functions() -> None:
    assert load_function(SEED).id == parse_graph(SEED).id
    text = load_function(SEED_TEXT)
    assert run(text, *SEED_ARGS) == SEED_VALUE


@pytest.mark.parametrize("obj", [{"inputs": ["x"]}, [], "x**2", {"inputs": ["x"], "outputs": "x"}])
def test_load_function_rejects_anything_else_showing_both_shapes(obj: Any) -> None:
    with pytest.raises(GraphError) as info:
        load_function(obj)
    assert '"nodes"' in info.value.message and '"expression"' in info.value.message


def tape_of(graph: Graph) -> tuple[Any, ...]:
    constants = {len(graph.inputs) + k: c for k, c in enumerate(graph.constants)}
    return graph.inputs, graph.nodes, constants, graph.outputs, graph.output_is_list


def test_tape_to_graph_round_trips_a_parsed_graph() -> None:
    g = parse_graph({"inputs": ["x", {"name": "y", "dtype": "float64", "shape": [2]}], "nodes": [
        {"id": "a", "op": "mul", "args": ["x", [0.5, -0.0]]},
        {"id": "b", "op": "add", "args": ["a", "y"]},
        {"id": "c", "op": "pow", "args": ["b", {"value": "Infinity"}]},
    ], "outputs": ["b", "c"]})
    traced = tape_to_graph(*tape_of(g))
    again = parse_graph(json.loads(traced.canonical))
    assert again.id == traced.id  # one canonical serialiser: the service computes the tracer's id
    assert [n.id for n in again.nodes] == ["n0", "n1", "n2"]
    assert again.inputs == g.inputs and again.output_is_list
    for got, want in zip(run(again, 0.5, [1.0, 2.0]), run(g, 0.5, [1.0, 2.0]), strict=True):
        np.testing.assert_array_equal(got, want)


def test_tape_to_graph_drops_nodes_that_reach_no_output() -> None:
    g = parse_graph({"inputs": ["x"], "nodes": [
        {"id": "dead", "op": "neg", "args": ["x"]},
        {"id": "live", "op": "add", "args": ["x", 1]},
    ], "outputs": "live"})
    doc = to_json(tape_to_graph(*tape_of(g)))
    assert [n["op"] for n in doc["nodes"]] == ["add"] and doc["outputs"] == "n0"


def test_tape_to_graph_handles_constant_outputs_and_id_clashes() -> None:
    g = parse_graph({"inputs": ["n0"], "nodes": [{"id": "a", "op": "neg", "args": ["n0"]}], "outputs": "a"})
    node = g.nodes[0]._replace(args=(0,), out=9)  # a tape: the input in slot 0, a constant in slot 3
    traced = tape_to_graph(["n0"], [node], {3: 2.5}, [9, 3, 0], True)
    again = parse_graph(to_json(traced))
    assert again.id == traced.id and again.constants == traced.constants
    assert all(not n.id.startswith("n") or n.id.startswith("_n") for n in again.nodes)
    assert [v.tolist() for v in run(again, 4.0)] == [-4.0, 2.5, 4.0]


def test_tape_to_graph_rejects_a_slot_nothing_defines() -> None:
    g = parse_graph(with_node({"id": "n", "op": "add", "args": ["x", "y"]}))
    with pytest.raises(GraphError, match="tape slot 5"):
        tape_to_graph(["x"], [g.nodes[0]._replace(args=(0, 5))], {}, [g.nodes[0].out], False)


CHECKED_GRAPHS = [
    SEED,
    {"inputs": [{"name": "x", "dtype": "float32", "shape": [None, 3]}, "w"],
     "nodes": [{"id": "m", "op": "mul", "args": ["x", "w"]},
               {"id": "s", "op": "sum", "args": ["m"], "attrs": {"axis": 0, "keepdims": True}},
               {"id": "c", "op": "clip_by_value", "args": ["s", -1.5, {"value": "Infinity"}]},
               {"id": "b", "op": "add", "args": ["c", encode_tensor(np.arange(4.0).reshape(1, 4))]},
               {"id": "l", "op": "add", "args": ["b", [[1.0, 2.0, 3.0, 4.0]]]}],
     "outputs": ["l", "s", "x"]},
    {"opset": 2, "inputs": ["a"],
     "nodes": [{"id": "q", "op": "linalg.qr", "args": ["a"], "attrs": {"output": 1}},
               {"id": "n", "op": "linalg.norm", "args": ["q"], "attrs": {"ord": 2}}],
     "outputs": "n"},
    {"inputs": ["x", "y"], "expression": "sum(where(x > y, x * 2, y ** 3)) + mean(x[1:, ::2])"},
]


@pytest.mark.parametrize("function", CHECKED_GRAPHS, ids=["seed", "declared_constants_list", "results", "text"])
def test_load_checked_rebuilds_the_graph_load_function_built(function: dict[str, Any]) -> None:
    g = load_function(function)
    h = load_checked(json.loads(g.canonical), g.canonical, g.id)
    assert (h.id, h.canonical, h.inputs, h.outputs, h.output_is_list, h.opset) == \
        (g.id, g.canonical, g.inputs, g.outputs, g.output_is_list, g.opset)
    assert [(n.op, n.args, n.out, n.id, dict(n.attrs)) for n in h.nodes] == \
        [(n.op, n.args, n.out, n.id, dict(n.attrs)) for n in g.nodes]
    assert repr([sorted(n.kwargs.items()) for n in h.nodes]) == repr([sorted(n.kwargs.items()) for n in g.nodes])
    assert repr(h.constants) == repr(g.constants)
    assert h.output_names == to_json(g)["outputs"]


@pytest.mark.parametrize("name", ["x", "_", "w_1", "a" * 128, "a" * 129, "1x", "é", "x-y", "", "x\n"])
def test_the_id_pattern_the_schema_documents_is_the_check_the_parser_runs(name: str) -> None:
    assert (re.fullmatch(ID_PATTERN, name) is not None) == is_id(name)


def test_a_function_id_is_the_sha256_of_the_canonical_form_and_fits_the_documented_pattern() -> None:
    import hashlib

    g = load_function(SEED)
    assert g.id == "sha256:" + hashlib.sha256(g.canonical).hexdigest()
    assert re.fullmatch(FUNCTION_ID_PATTERN, g.id)
