"""Advanced indexing, runtime positions (argmax -> gather) and sorting, end to end: eager, symbolic, JSON."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from engine import (
    ShapeError,
    check_grads,
    load_function,
    trace,
    value_and_gradients,
    value_and_gradients_function,
)
from engine.registry import OPS
from tests.support import allocation_budget

R = np.random.default_rng(7)
X2 = R.permutation(16).reshape(4, 4) - 7.5  # distinct values: no ties
X3 = R.permutation(80).reshape(4, 5, 4) / 10 - 4.0

FUNCTIONS: list[tuple[str, Any, Any]] = [
    ("list index", lambda x: x[[0, 2]] * 2.0, X2),
    ("mixed index", lambda x: x[3, 2:, [1, 3]] ** 2, X3),
    ("repeated index", lambda x: x[[0, 2, 2, -2]] * np.arange(1.0, 5.0)[:, None], X2),
    ("array index", lambda x: x[np.array([[1, 0], [3, 3]]), None, 1:], X2),
    ("argmax", lambda x: x.reshape(-1)[np.argmax(x)] * 3.0, X2),
    ("argmax per column", lambda x: x[np.argmax(x, axis=0), [0, 1, 2, 3]], X2),
    ("argmin in a slice", lambda x: x[1:, np.argmin(x[0])], X2),
    ("sort", lambda x: np.sort(x, axis=0) * np.arange(4.0)[:, None], X2),
    ("sort flattened", lambda x: np.sort(x, axis=None) ** 2, X2),
    ("partition", lambda x: np.partition(x, 1, axis=1)[:, :2] * np.array([1.0, 5.0]), X2),
    ("take_along_axis", lambda x: np.take_along_axis(x, np.argsort(x, axis=1), axis=1)[:, -1], X2),
    ("cumprod", lambda x: np.cumprod(x, axis=1), X2 / 8),
    ("nan reductions", lambda x: np.nansum(x, axis=0) + np.nanmax(x, axis=1).sum() - np.nanmean(x),
     np.where(np.eye(4) > 0, np.nan, X2)),
]


def _eager(f: Any, x: Any) -> tuple[Any, Any]:
    value, (grad,) = value_and_gradients_function(f)(x)
    return np.asarray(value), np.asarray(grad)


@pytest.mark.parametrize(("name", "f", "x"), FUNCTIONS, ids=[c[0] for c in FUNCTIONS])
def test_eager_symbolic_and_json_agree(name: str, f: Any, x: Any) -> None:
    value, grad = _eager(f, x)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(value, f(x))  # the value is NumPy's
    graph = load_function(json.loads(json.dumps(trace(f, 1).graph)))
    value2, (grad2,) = value_and_gradients(graph, [x])
    np.testing.assert_allclose(value2, value)
    np.testing.assert_allclose(grad2, grad)


@pytest.mark.parametrize(("name", "f", "x"), [c for c in FUNCTIONS if "nan" not in c[0]],
                         ids=[c[0] for c in FUNCTIONS if "nan" not in c[0]])
def test_gradients_match_central_differences(name: str, f: Any, x: Any) -> None:
    check_grads(f, [x])
    check_grads(load_function(trace(f, 1).graph), [x])


def test_repeated_indices_add_their_gradients() -> None:
    x = np.arange(4.0)
    _, grad = _eager(lambda x: x[[1, 1, 3, 1]], x)
    np.testing.assert_array_equal(grad, [0.0, 3.0, 0.0, 1.0])
    _, grad = _eager(lambda x: x[[[0, 0]], [1, 1]] * 2.0, x.reshape(2, 2))
    np.testing.assert_array_equal(grad, [[0.0, 4.0], [0.0, 0.0]])


def test_getitem_vjp_is_differentiable_again() -> None:
    def f(x: Any) -> Any:
        inner = value_and_gradients_function(lambda y: np.sum(y[[0, 0, 2]] ** 3))
        return inner(x)[1][0]  # 3 y^2 scattered (twice at 0): its own derivative goes through getitem

    value, (grad,) = value_and_gradients_function(f)(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(value, [6.0, 0.0, 27.0])
    np.testing.assert_allclose(grad, [12.0, 0.0, 18.0])


def test_boolean_mask_works_eagerly_as_its_positions() -> None:
    x = X2
    value, grad = _eager(lambda x: x[x > 0] * 2.0, x)
    np.testing.assert_array_equal(value, x[x > 0] * 2.0)
    np.testing.assert_array_equal(grad, np.where(x > 0, 2.0, 0.0))
    mask = np.array([True, False, True, False])
    value, grad = _eager(lambda x: x[mask, 1:], x)  # a constant mask works in any mode
    np.testing.assert_array_equal(value, x[mask, 1:])
    node = load_function(trace(lambda x: x[mask, 1:], 1).graph).nodes[0]
    assert node.attrs["index"] == [[0, 2], {"start": 1, "stop": None, "step": None}]


def test_traced_boolean_mask_is_refused_naming_where() -> None:
    with pytest.raises(TypeError, match=r"np\.where"):
        trace(lambda x: x[x > 0], 1)


def test_traced_index_from_arithmetic_is_refused_naming_take() -> None:
    with pytest.raises(TypeError, match=r"np\.take"):
        trace(lambda x: x[np.argmax(x) * 1.0], 1)


def test_eager_position_results_are_numpy_integers_and_float_indices_are_refused() -> None:
    x = np.array([3.0, -1.0, 2.0])
    value, grad = _eager(lambda x: x[np.argsort(x)][::-1] * np.array([1.0, 2.0, 3.0]), x)
    np.testing.assert_array_equal(value, [3.0, 4.0, -3.0])
    np.testing.assert_array_equal(grad, [1.0, 3.0, 2.0])
    with pytest.raises(TypeError, match="as NumPy does"):  # NumPy refuses float indices too
        value_and_gradients_function(lambda x: x[np.array([2.0, 0.0])])(x)


def test_argmax_is_a_plain_position_eagerly() -> None:
    seen = []

    def f(x: Any) -> Any:
        i = np.argmax(x)
        seen.append(i)
        return x[i] * 2.0

    value, (grad,) = value_and_gradients_function(f)(np.array([1.0, 5.0, 2.0]))
    assert value == 10.0 and float(seen[0]) == 1.0
    np.testing.assert_array_equal(grad, [0.0, 2.0, 0.0])


def test_json_graphs_with_array_items_and_gather() -> None:
    doc = {"inputs": ["x"], "nodes": [
        {"id": "a", "op": "getitem", "args": ["x"], "attrs": {"index": [[0, 2, 2], {"start": 1}]}},
        {"id": "i", "op": "argmax", "args": ["x"], "attrs": {"axis": 1}},
        {"id": "b", "op": "gather", "args": ["x", "i"], "attrs": {"index": [{}, {"arg": 1}]}},
        {"id": "s", "op": "sum", "args": ["a"]}, {"id": "t", "op": "sum", "args": ["b"]},
        {"id": "out", "op": "add", "args": ["s", "t"]}],
        "outputs": "out"}
    graph = load_function(doc)
    assert graph.opset == 2
    value = value_and_gradients(graph, [X2])[0]
    want = X2[[0, 2, 2], 1:].sum() + X2[:, np.argmax(X2, axis=1)].sum()
    np.testing.assert_allclose(value, want)
    check_grads(graph, [X2])


def test_gather_out_of_bounds_positions_are_an_argument_error() -> None:
    doc = {"inputs": ["x", "i"], "nodes": [{"id": "b", "op": "gather", "args": ["x", "i"],
                                            "attrs": {"index": [{"arg": 1}]}}], "outputs": "b"}
    from engine import ArgumentError

    with pytest.raises(ArgumentError, match="out of bounds"):
        value_and_gradients(doc, [np.arange(3.0), np.array([3.0])], params=[0])
    with pytest.raises(ArgumentError, match="whole numbers"):
        value_and_gradients(doc, [np.arange(3.0), np.array([0.5])], params=[0])


def test_index_shape_rule_does_not_allocate() -> None:
    op = OPS["getitem"]
    kw = op.bind({"index": [[0, -1, 5], None, "...", [[1], [2]]]})[1]
    with allocation_budget(1 << 20):
        assert op.shape((10**9, 10**9, 10**9), **kw) == (2, 3, 1, 10**9)
    with pytest.raises(ShapeError, match="out of bounds"):
        op.shape((3, 4), **op.bind({"index": [[0, 3]]})[1])


def test_cumprod_gradient_is_exact_at_zeros() -> None:
    x = np.array([2.0, 0.0, 3.0, 0.0, 5.0])
    _, grad = _eager(lambda x: np.cumprod(x), x)
    # d/dx_i of sum_j prod_{k<=j} x_k, by brute force
    want = [sum(np.prod(np.delete(x[:j + 1], i)) for j in range(i, 5)) for i in range(5)]
    np.testing.assert_allclose(grad, want)


def test_sort_gradient_follows_each_element() -> None:
    x = np.array([3.0, 1.0, 2.0])
    _, grad = _eager(lambda x: np.sort(x) * np.array([10.0, 20.0, 30.0]), x)
    np.testing.assert_array_equal(grad, [30.0, 10.0, 20.0])
    _, grad = _eager(lambda x: np.partition(x, 0)[0] * 1.0, x)
    np.testing.assert_array_equal(grad, [0.0, 1.0, 0.0])


def test_positions_are_floats_of_the_input_dtype() -> None:
    assert OPS["argmax"].forward(np.ones(3, np.float32)).dtype == np.float32
    assert OPS["argsort"].forward(np.ones(3)).dtype == np.float64
