"""Text expressions: a strict ``ast`` whitelist into graph nodes; everything else is a pointed rejection."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np
import pytest

from engine.errors import ArityError, AttrError, ExpressionError, GraphError, TooLargeError
from engine.expr import parse_expression
from engine.graph import load_function, parse_graph
from engine.ir import Graph
from engine.limits import Limits
from engine.registry import OPS
from tests.support import SEED_ARGS, SEED_VALUE, time_budget


def needs(*ops: str) -> None:
    missing = [op for op in ops if op not in OPS]
    if missing:
        pytest.skip(f"ops not registered yet: {', '.join(missing)}")


def text(expression: Any, inputs: Any = ("x", "y")) -> dict[str, Any]:
    return parse_expression({"inputs": list(inputs), "expression": expression})


def ops_of(expression: str, inputs: Any = ("x", "y")) -> list[str]:
    return [n["op"] for n in text(expression, inputs)["nodes"]]


def run(graph: Graph, *args: Any) -> Any:
    env: list[Any] = [*map(np.asarray, args), *graph.constant_values(), *([None] * len(graph.nodes))]
    for n in graph.nodes:
        env[n.out] = n.op.forward(*[env[a] for a in n.args], **n.kwargs)
    values = [env[s] for s in graph.outputs]
    return values if graph.output_is_list else values[0]


def test_seed_expression_builds_the_seed_graph() -> None:
    doc = text("x**3*y - x*y**2")
    assert [n["op"] for n in doc["nodes"]] == ["power", "multiply", "power", "multiply", "subtract"]
    assert doc["outputs"] == doc["nodes"][-1]["id"] and doc["inputs"] == ["x", "y"]
    assert run(parse_graph(doc), *SEED_ARGS) == SEED_VALUE


@pytest.mark.parametrize("expression, ops", [
    ("x + y", ["add"]), ("x - y", ["subtract"]), ("x * y", ["multiply"]), ("x / y", ["divide"]),
    ("x ** y", ["power"]), ("-x", ["negative"]), ("+x", []), ("-(x * y)", ["multiply", "negative"]),
    ("maximum(x, y)", ["maximum"]), ("neg(x)", ["negative"]), ("pow(x, 2)", ["power"]),
])
def test_operators_and_calls_map_to_canonical_ops(expression: str, ops: list[str]) -> None:
    assert ops_of(expression) == ops


@pytest.mark.parametrize("expression, op", [
    ("x @ y", "matmul"), ("x > y", "greater"), ("x >= y", "greater_equal"), ("x < y", "less"),
    ("x <= y", "less_equal"), ("x == y", "equal"), ("x != y", "not_equal"),
])
def test_matmul_and_comparisons_map_to_their_ops(expression: str, op: str) -> None:
    needs(op)
    assert ops_of(expression) == [op]


def test_unary_plus_of_an_input_outputs_the_input() -> None:
    assert text("+x")["outputs"] == "x"


def test_a_sign_belongs_to_a_number_literal() -> None:
    doc = text("x * -2")
    assert doc["nodes"] == [{"id": "t0", "op": "multiply", "args": ["x", -2.0]}]


def test_power_towers_are_nodes_not_evaluated() -> None:
    with time_budget(1.0):
        doc = text("9**9**9**9")
    assert [n["op"] for n in doc["nodes"]] == ["power"] * 3
    assert doc["nodes"][0]["args"] == [9.0, 9.0]


def test_pi_and_e_are_constants_unless_an_input_shadows_them() -> None:
    assert text("pi * x")["nodes"][0]["args"] == [np.pi, "x"]
    assert text("e * x")["nodes"][0]["args"] == [np.e, "x"]
    assert text("pi * x", inputs=["pi", "x"])["nodes"][0]["args"] == ["pi", "x"]


def test_list_literals_are_constant_tensors() -> None:
    g = load_function({"inputs": ["x"], "expression": "[[1, 2], [3, -4]] * x"})
    np.testing.assert_array_equal(run(g, 2.0), [[2.0, 4.0], [6.0, -8.0]])


def test_a_constant_expression_still_produces_an_output_node() -> None:
    g = load_function({"inputs": ["x"], "expression": "-0.0"})
    out = run(g, 1.0)
    assert out == 0.0 and np.signbit(out)


def test_a_list_of_expressions_gives_a_list_output() -> None:
    doc = text(["x + y", "x", "2 * y"])
    assert doc["outputs"] == ["t0", "x", "t1"]
    assert [v.tolist() for v in run(parse_graph(doc), 1.0, 2.0)] == [3.0, 1.0, 4.0]


def test_generated_ids_avoid_input_names() -> None:
    doc = text("t0 * t1", inputs=["t0", "t1"])
    assert doc["nodes"][0]["id"] == "_t0"
    parse_graph(doc)


def test_calls_take_literal_keyword_attributes() -> None:
    needs("sum")
    doc = text("sum(x, axis=0, keepdims=True)")
    assert doc["nodes"][0] == {"id": "t0", "op": "sum", "args": ["x"], "attrs": {"axis": 0, "keepdims": True}}
    assert text("sum(x, axis=(0, -1))")["nodes"][0]["attrs"] == {"axis": [0, -1]}


def test_subscripts_become_getitem_with_the_index_list() -> None:
    needs("getitem")
    doc = text("x[0, 1:3, None, ...]")
    assert doc["nodes"][0]["op"] == "getitem"
    assert doc["nodes"][0]["attrs"] == {"index": [0, {"start": 1, "stop": 3}, None, "..."]}
    assert text("x[::-1]")["nodes"][0]["attrs"] == {"index": [{"step": -1}]}
    assert text("x[-1]")["nodes"][0]["attrs"] == {"index": [-1]}


def test_dotted_names_are_allowed_only_for_registered_linalg_ops() -> None:
    needs("linalg.inv")
    assert ops_of("linalg.inv(x)") == ["linalg.inv"]
    with pytest.raises(ExpressionError, match=r"attribute access \(linalg.frob\)"):
        text("linalg.frob(x)")


def test_numpy_spellings_of_einsum_and_concatenate_are_accepted() -> None:
    needs("einsum", "concatenate")
    assert text('einsum("ij,jk->ik", x, y)')["nodes"][0]["attrs"] == {"subscripts": "ij,jk->ik"}
    node = text("concatenate([x, y], axis=0)")["nodes"][0]
    assert node["args"] == ["x", "y"] and node["attrs"] == {"axis": 0}


REJECTED: list[tuple[Any, str]] = [
    ("__import__('os')", "calling '__import__' is not allowed"),
    ("x.__class__", "attribute access is not allowed at column 1 'x.__class__'"),
    ("x.sum()", "attribute access (x.sum"),
    ("np.sin(x)", "attribute access (np.sin"),
    ("(lambda: 1)()", "a lambda is not allowed"),
    ("[i for i in x]", "a comprehension is not allowed"),
    ("(i for i in x)", "a generator expression is not allowed"),
    ('f"{x}"', "an f-string is not allowed"),
    ("*x", "invalid syntax"),
    ("maximum(*x)", "unpacking"),
    ("maximum(x, **y)", "unpacking"),
    ("open('f')", "calling 'open' is not allowed"),
    ("getattr(x, 'y')", "calling 'getattr' is not allowed"),
    ("x if y else 1", "a conditional expression (use where(cond, x, y)) is not allowed"),
    ("x and y", "and/or is not allowed"),
    ("(z := x)", "an assignment expression (:=) is not allowed"),
    ("x = 1", "invalid syntax"),
    ("import os", "invalid syntax"),
    ("x << y", "the operator << is not allowed"),
    ("x ^ y", "the operator ^"),
    ("~x", "the operator ~"),
    ("not x", "the operator not"),
    ("x is y", "the operator is"),
    ("x in y", "the operator in"),
    ("x < y < 1", "a chained comparison"),
    ("z + 1", "unknown name 'z' (inputs: x, y; constants: pi, e)"),
    ("'abc' + x", "the literal 'abc' as a tensor is not allowed"),
    ("True * x", "the literal True"),
    ("None + x", "the literal None"),
    ("x + 1j", "the literal 1j"),
    ("{1: x}", "a dict is not allowed"),
    ("{x}", "a set is not allowed"),
    ("(x, y)", "a list of tensors"),
    ("x[y]", "indices must be integer literals"),
    ("x[1.5]", "indices must be integer literals"),
    ("x[y:2]", "slice bounds must be integer literals"),
    ("1e999 * x", "too large"),
    ("x * " + "1" * 500, "more than 400 digits"),
    ("x\0", "invalid"),
    ("", "non-empty string"),
    ("   ", "non-empty string"),
    (3, "non-empty string"),
    ("(" * 10_000 + "x" + ")" * 10_000, "too many nested parentheses"),
    ("-" * 99_000 + "x", "nested too deeply"),
    ("x+" * 49_999 + "x", "nested too deeply"),
    ("-" * 600 + "x", "nested deeper than 500 levels"),
]


@pytest.mark.parametrize("expression, words", REJECTED, ids=[str(r[0])[:30] for r in REJECTED])
def test_constructs_outside_the_whitelist_are_rejected(expression: Any, words: str) -> None:
    with pytest.raises(ExpressionError) as info:
        text(expression)
    assert info.value.pointer == "/expression"
    assert words in info.value.message


def test_errors_name_the_column_of_the_construct() -> None:
    with pytest.raises(ExpressionError) as info:
        text("x + y.real")
    assert "column 5 'y.real'" in info.value.message


def test_errors_in_a_list_point_at_the_expression() -> None:
    with pytest.raises(ExpressionError) as info:
        text(["x", "x.y"])
    assert info.value.pointer == "/expression/1"


def test_keyword_values_must_be_literals() -> None:
    needs("sum")
    with pytest.raises(ExpressionError, match="keyword values must be literals"):
        text("sum(x, axis=y)")


@pytest.mark.parametrize("expression, cls, words", [
    ("neg(x, y)", ArityError, "op 'negative' takes 1 argument(s), got 2 at column 1"),
    ("maximum(x)", ArityError, "takes 2"),
    ("neg(x, axis=0)", AttrError, "op 'negative' has no attribute 'axis'"),
])
def test_arity_and_attribute_errors_keep_their_type_and_get_a_column(expression: str, cls: type[Exception],
                                                                     words: str) -> None:
    with pytest.raises(cls) as info:
        text(expression)
    assert info.value.pointer == "/expression"  # type: ignore[attr-defined]
    assert words in info.value.message  # type: ignore[attr-defined]


def test_positional_attributes_follow_numpy_order() -> None:
    # DESIGN "Version 2": text accepts NumPy's positional forms, in the op's attribute order.
    assert text("clip(x, 0, 1)")["nodes"] == text("clip(x, a_min=0, a_max=1)")["nodes"]
    assert text("sum(x, 0, True)")["nodes"][0]["attrs"] == {"axis": 0, "keepdims": True}
    assert text("stack([x, y], 1)")["nodes"][0]["attrs"] == {"axis": 1}


def test_too_many_positional_attributes_name_the_attributes() -> None:
    with pytest.raises(ExpressionError, match="at most 2 positional attribute"):
        text("clip(x, 0, 1, 2)")
    with pytest.raises(ArityError, match="takes 1 argument"):
        text("exp(x, 2)")


def test_a_megabyte_expression_is_refused_before_parsing() -> None:
    with pytest.raises(TooLargeError) as info:
        text("x+" * 500_000 + "x")
    assert info.value.pointer == "/expression" and "limit is 100000" in info.value.message


def test_expression_limits_are_configurable() -> None:
    with pytest.raises(TooLargeError):
        parse_expression({"inputs": ["x"], "expression": "x + x"}, limits=Limits(max_expression_length=4))
    with pytest.raises(ExpressionError, match="deeper than 2"):
        parse_expression({"inputs": ["x"], "expression": "-(-(-x))"}, limits=Limits(max_expression_depth=2))


@pytest.mark.parametrize("obj, pointer, words", [
    ({"inputs": ["x", "1x"], "expression": "x"}, "/inputs/1", "must match"),
    ({"inputs": "x", "expression": "x"}, "/inputs", "list of names"),
    ({"inputs": ["x"], "expression": "x", "extra": 1}, "/extra", "unknown key 'extra'"),
    ({"inputs": ["x"], "expression": []}, "/expression", "at least one"),
    ([], "", "a text function is an object"),
])
def test_malformed_text_functions_are_graph_errors(obj: Any, pointer: str, words: str) -> None:
    with pytest.raises(GraphError) as info:
        parse_expression(obj)
    assert info.value.pointer == pointer and words in info.value.message


def test_nothing_is_evaluated(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*_: Any) -> None:
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    assert len(text("x**3*y - x*y**2 + maximum(x, -y) / 2")["nodes"]) == 9


def test_load_function_reports_generated_node_errors_at_the_expression() -> None:
    with pytest.raises(TooLargeError) as info:
        load_function({"inputs": ["x"], "expression": "x + x + x"}, limits=Limits(max_nodes=1))
    assert info.value.pointer == "/expression"


def test_operators_of_op_set_2_come_from_the_registry() -> None:
    assert [n["op"] for n in text("x // y + x % y")["nodes"]] == ["floor_divide", "remainder", "add"]


def test_dot_t_is_a_transpose() -> None:
    nodes = text("sum(x.T @ y)")["nodes"]
    assert [n["op"] for n in nodes] == ["transpose", "matmul", "sum"]
    with pytest.raises(ExpressionError, match="attribute access"):
        text("x.shape")
