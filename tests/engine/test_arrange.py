"""Stacking, splitting, rearranging and tensor-product ops end to end: eager NumPy code, traces, graphs, text."""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pytest

from engine import (
    AttrError,
    check_grads,
    load_function,
    trace,
    value_and_gradients,
    value_and_gradients_function,
)
from engine.ops.arrange import source_index
from engine.registry import OPS

RNG = np.random.default_rng(7)
A = RNG.standard_normal((2, 3))
B = RNG.standard_normal((2, 3))
X = RNG.standard_normal((6, 4))
V = RNG.standard_normal(3)
W = RNG.standard_normal(3)

# (name, f, args): every f is plain NumPy code that also runs on traced values.
FUNCTIONS: list[tuple[str, Any, list[Any]]] = [
    ("hstack", lambda a, b: np.hstack([a, b * 2]) ** 2, [A, B]),
    ("vstack and column_stack", lambda a, v: np.vstack([a, v]) @ np.column_stack([v, v * v]), [A, V]),
    ("dstack and append", lambda a, b: np.sum(np.dstack([a, b]) ** 2) + np.append(a, b, axis=0), [A, B]),
    ("split result", lambda x: np.split(x, 3)[1] * np.array_split(x[:2], 5, axis=1)[3], [X]),
    ("all split results", lambda x: sum(p.sum() * (k + 1) for k, p in enumerate(np.hsplit(x, [1, 3]))), [X]),
    ("axes", lambda x: np.swapaxes(x[None], 0, 2) * np.moveaxis(x[:, :, None], 0, -1)[None], [X[:3, :3]]),
    ("rollaxis and ravel", lambda x: np.ravel(np.rollaxis(x[None], 2)) * np.ravel(x.T), [X]),
    ("flips and rolls", lambda x: np.rot90(np.flipud(x)) @ np.roll(np.fliplr(x), (1, 2), axis=(0, 1)), [X]),
    ("repeat and tile", lambda v: np.repeat(v, [1, 0, 2]) @ np.tile(v, 2)[:3], [V]),
    ("pad", lambda x: np.pad(x, 1) * np.pad(x, [1, 1], mode="reflect") + np.pad(x, 1, mode="edge"), [X]),
    ("diff", lambda x: np.diff(x, 2, axis=0) ** 2, [X]),
    ("triangles", lambda x: np.tril(x) @ np.triu(x.T, 1) + np.diag(np.diag(x[:4], 1), -3), [X]),
    ("diagonal", lambda x: np.diagonal(x, 1) * np.atleast_2d(np.trace(x)), [X]),
    ("likes are constants", lambda x: x * np.ones_like(x) + np.full_like(x, 2.0) - np.zeros_like(x), [X]),
    ("astype", lambda x: np.astype(x * x, np.float32) * 2, [V]),
    ("tensordot", lambda a, x: np.tensordot(a, x[:3], axes=([1], [0])), [A, X]),
    ("outer, inner, kron", lambda v, w: np.outer(v, w) + np.inner(v, w) - np.kron(v, w)[:3], [V, W]),
    ("cross", lambda v, a: np.cross(v, a) + np.cross(a[:, :2], v[:2])[:, None], [V, A]),
]


@pytest.mark.parametrize(("name", "f", "args"), FUNCTIONS, ids=[c[0] for c in FUNCTIONS])
def test_eager_gradients_match_central_differences(name: str, f: Any, args: list[Any]) -> None:
    if name == "astype":  # float32 values: a step of 1e-2 is exact for a quadratic and well above rounding
        check_grads(f, args, eps=1e-2, rtol=1e-4, atol=1e-5)
    else:
        check_grads(f, args)


@pytest.mark.parametrize(("name", "f", "args"), FUNCTIONS, ids=[c[0] for c in FUNCTIONS])
def test_traced_graph_gives_the_eager_value_and_gradients(name: str, f: Any, args: list[Any]) -> None:
    want_value, want_grads = value_and_gradients_function(f)(*args)
    graph = load_function(json.loads(json.dumps(trace(f, len(args)).graph)))
    value, grads = value_and_gradients(graph, args)
    np.testing.assert_allclose(value, want_value, rtol=1e-12)
    for got, want in zip(grads, want_grads, strict=True):
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_split_returns_one_node_per_piece() -> None:
    nodes = trace(lambda x: np.split(x, 3)[2] - np.split(x, 3)[0], 1).graph["nodes"]
    splits = [n for n in nodes if n["op"] == "split"]
    assert sorted(n["attrs"]["output"] for n in splits) == [0, 2]  # unused pieces are dead code
    assert all(n["attrs"]["indices_or_sections"] == 3 for n in splits)


def test_astype_gradient_comes_back_in_the_input_dtype() -> None:
    value, (dx,) = value_and_gradients_function(lambda x: np.astype(x, np.float32) * 3)(V)
    assert value.dtype == np.float32 and dx.dtype == np.float64
    np.testing.assert_allclose(dx, 3.0)


@pytest.mark.parametrize("dtype", [np.int32, "int64", bool, np.complex128])
def test_astype_to_a_non_float_dtype_names_the_rounding_functions(dtype: Any) -> None:
    with pytest.raises(AttrError, match=r"np\.floor.*np\.round"):
        value_and_gradients_function(lambda x: np.astype(x, dtype))(V)


def test_ndarray_methods_route_to_the_ops() -> None:
    def f(x: Any) -> Any:
        flat = x.astype(np.float32).ravel()[:4].astype(float)
        return flat @ x.repeat(2, axis=0).swapaxes(0, 1).diagonal(1)

    check_grads(f, [X], eps=1e-2, rtol=1e-4, atol=1e-5)  # bilinear: central differences exact at any step
    assert {"astype", "ravel", "repeat", "swapaxes", "diagonal"} <= {n["op"] for n in trace(f, 1).graph["nodes"]}


def test_json_graph_with_several_results_and_variadic_nodes() -> None:
    graph = {
        "version": 1, "opset": 2, "inputs": ["x", "y"],
        "nodes": [
            {"id": "top", "op": "vsplit", "args": ["x"], "attrs": {"indices_or_sections": [2], "output": 0}},
            {"id": "rest", "op": "vsplit", "args": ["x"], "attrs": {"indices_or_sections": [2], "output": 1}},
            {"id": "h", "op": "hstack", "args": ["top", "y", "top"]},
            {"id": "p", "op": "tensordot", "args": ["h", "rest"], "attrs": {"axes": [[0], [0]]}},
            {"id": "s", "op": "sum", "args": ["p"]},
        ],
        "outputs": "s",
    }
    x, y = X.T[:, :4].copy(), RNG.standard_normal((2, 1))
    value = value_and_gradients(graph, [x, y])[0]
    top, rest = np.vsplit(x, [2])
    np.testing.assert_allclose(value, np.sum(np.tensordot(np.hstack([top, y, top]), rest, axes=([0], [0]))))
    check_grads(graph, [x, y])


@pytest.mark.parametrize("expression", [
    "sum(tensordot(x, y, axes=1) ** 2)",
    "sum(pad(x, pad_width=1, mode='wrap') * 2) + sum(kron(x, y))",
    "sum(roll(cross(x, y), shift=1))",
])
def test_text_expressions_call_ops_by_name(expression: str) -> None:
    check_grads({"inputs": ["x", "y"], "expression": expression}, [V, W])


def test_text_expression_indexes_a_split() -> None:
    f = {"inputs": ["x"], "expression": "sum(split(x, 3)[1] * array_split(x, 3, axis=0)[2])"}
    value = value_and_gradients(f, [X[:, 0]])[0]
    np.testing.assert_allclose(value, np.sum(np.split(X[:, 0], 3)[1] * X[4:, 0]))
    check_grads(f, [X[:, 0]])


def test_text_expression_joins_a_list_of_arrays() -> None:
    check_grads({"inputs": ["x", "y"], "expression": "sum(hstack([x, y, x]) ** 2) + sum(dstack([x, y]))"}, [V, W])


def test_cross_of_two_vectors_warns_nothing() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_grads(lambda a, b: np.cross(a, b), [A[:, :2], B[0, :2]])


def test_second_derivatives_through_scatter_vjps() -> None:
    def f(x: Any) -> Any:
        return np.sum(np.pad(x, 2, mode="symmetric") ** 3) + np.sum(np.diagonal(x) ** 3) + np.sum(np.repeat(x, 2) ** 3)

    grad = value_and_gradients_function(f)
    check_grads(lambda x: grad(x)[1][0], [X[:3, :3]])


def test_source_index_is_memoised_and_read_only() -> None:
    a = source_index(np.diagonal, (3, 4), offset=1)
    assert a is source_index(np.diagonal, (3, 4), offset=1)
    np.testing.assert_array_equal(a, [1, 6, 11])
    assert not a.flags.writeable


def test_row_stack_is_an_alias_of_vstack() -> None:
    node = {"id": "r", "op": "row_stack", "args": ["x", "x"]}
    graph = {"version": 1, "opset": 2, "inputs": ["x"], "nodes": [node], "outputs": "r"}
    assert load_function(graph).nodes[0].op is OPS["vstack"]
