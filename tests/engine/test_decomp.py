"""Decompositions and norms end to end: eager NumPy code, symbolic traces, text expressions and JSON graphs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from engine import (
    ShapeError,
    check_grads,
    gradients_function,
    load_function,
    trace,
    value_and_gradients,
    value_and_gradients_function,
)
from engine.registry import OPS

RNG = np.random.default_rng(11)
A = RNG.standard_normal((4, 4))
SYM = A + A.T
SPD = A @ A.T + 4 * np.eye(4)
RECT = RNG.standard_normal((4, 3))
C = RNG.standard_normal((4, 4))


def _graph(node: dict[str, Any], *more: dict[str, Any], inputs: tuple[str, ...] = ("x",)) -> dict[str, Any]:
    nodes = [node, *more]
    return {"inputs": list(inputs), "nodes": nodes, "outputs": nodes[-1]["id"]}


# -- several results: Python tuples, text indexing, JSON output nodes -----------------


def test_eager_eigh_returns_a_tuple_whose_gradients_match_differences() -> None:
    def f(x: Any) -> Any:
        result = np.linalg.eigh(x)
        assert isinstance(result, tuple) and len(result) == 2
        w, v = result
        return np.sum(w * w) + np.sum(v * C)

    value, (dx,) = value_and_gradients_function(f)(SYM)
    w, v = np.linalg.eigh(SYM)
    assert value == pytest.approx(np.sum(w * w) + np.sum(v * C), rel=1e-12)
    assert dx.shape == SYM.shape
    check_grads(f, [SYM])


def test_sum_of_eigenvalues_is_the_trace_of_the_lower_triangle() -> None:
    value, (dx,) = value_and_gradients_function(lambda x: np.sum(np.linalg.eigh(x)[0]))(A)
    assert value == pytest.approx(np.trace(A), rel=1e-12)
    np.testing.assert_allclose(dx, np.eye(4), atol=1e-12)  # the strict upper triangle is never read


def test_text_expression_indexes_the_results() -> None:
    function = {"inputs": ["x"], "expression": "sum(linalg.eigh(x)[0])"}
    value, (dx,) = value_and_gradients(function, [SYM])
    assert value == pytest.approx(np.trace(SYM), rel=1e-12)
    np.testing.assert_allclose(dx, np.eye(4), atol=1e-12)


def test_json_node_selects_a_result_with_output() -> None:
    graph = _graph({"id": "v", "op": "linalg.eigh", "args": ["x"], "attrs": {"output": 1}},
                   {"id": "p", "op": "multiply", "args": ["v", "c"]},
                   {"id": "s", "op": "sum", "args": ["p"]}, inputs=("x", "c"))
    value, (dx,) = value_and_gradients(graph, [SYM, C], params=["x"])
    assert value == pytest.approx(np.sum(np.linalg.eigh(SYM)[1] * C), rel=1e-12)
    local = gradients_function(lambda x: np.sum(np.linalg.eigh(x)[1] * C))(SYM)[0]
    np.testing.assert_allclose(dx, local, rtol=1e-12)
    check_grads(graph, [SYM, C], params=["x"])
    assert load_function(graph).opset == 2


def test_output_out_of_range_is_refused_before_running() -> None:
    graph = _graph({"id": "q", "op": "linalg.qr", "args": ["x"], "attrs": {"output": 2}})
    with pytest.raises(Exception, match="2 result") as info:
        value_and_gradients(graph, [RECT])
    assert getattr(info.value, "code", None) == "invalid_attrs"


def test_symbolic_trace_writes_one_node_per_result() -> None:
    traced = trace(lambda x: np.linalg.svd(x, full_matrices=False)[1], 1)
    nodes = [n for n in traced.graph["nodes"] if n["op"] == "linalg.svd"]
    assert {n["attrs"]["output"] for n in nodes} >= {1}
    assert all(n["attrs"]["full_matrices"] is False for n in nodes)


def test_svd_without_uv_is_one_array_as_in_numpy() -> None:
    def f(x: Any) -> Any:
        s = np.linalg.svd(x, compute_uv=False)
        assert not isinstance(s, tuple)
        return np.sum(s)

    value, (dx,) = value_and_gradients_function(f)(RECT)
    u, _, vh = np.linalg.svd(RECT, full_matrices=False)
    np.testing.assert_allclose(dx, u @ vh, rtol=1e-10)
    assert value == pytest.approx(np.linalg.norm(RECT, "nuc"), rel=1e-12)


@pytest.mark.parametrize("call", [
    lambda x: np.linalg.eigh(x, "U")[0], lambda x: np.linalg.svd(x, False)[2], lambda x: np.linalg.qr(x)[1],
    lambda x: np.linalg.slogdet(x)[1], lambda x: np.linalg.matrix_power(x, 3), lambda x: np.linalg.pinv(x),
    lambda x: np.linalg.cholesky(x), lambda x: np.linalg.norm(x, 2, (0, 1)),
])
def test_numpy_calls_on_tensors_match_numpy(call: Callable[[Any], Any]) -> None:
    value, _ = value_and_gradients_function(lambda x: call(x))(SPD)
    np.testing.assert_allclose(value, call(SPD), rtol=1e-10)
    check_grads(lambda x: call(x), [SPD])


# -- gradient refusals: stated, never wrong --------------------------------------------


def test_svd_full_matrices_of_a_non_square_matrix_has_no_uv_gradient() -> None:
    f = value_and_gradients_function(lambda x: np.sum(np.linalg.svd(x)[0]))
    with pytest.raises(ShapeError, match="full_matrices=False"):
        f(RECT)
    value, _ = value_and_gradients_function(lambda x: np.sum(np.linalg.svd(x)[1]))(RECT)  # S is fine
    assert value == pytest.approx(np.sum(np.linalg.svd(RECT, compute_uv=False)), rel=1e-12)


def test_qr_of_a_wide_matrix_computes_but_has_no_gradient() -> None:
    f = value_and_gradients_function(lambda x: np.sum(np.linalg.qr(x)[1]))
    with pytest.raises(ShapeError, match="m >= n"):
        f(RECT.T)
    np.testing.assert_allclose(OPS["linalg.qr"].forward(RECT.T, output=1), np.linalg.qr(RECT.T)[1])


# -- linalg.norm: every ord, local and JSON alike ---------------------------------------


@pytest.mark.parametrize("ord", [2, -2, "nuc", 1, -1, np.inf, -np.inf, "fro", None])
def test_matrix_norm_local_and_json_agree(ord: Any) -> None:
    local = value_and_gradients_function(lambda x: np.linalg.norm(x, ord=ord))(RECT)
    json_ord = {np.inf: "inf", -np.inf: "-inf"}.get(ord, ord) if not isinstance(ord, str) else ord
    graph = _graph({"id": "n", "op": "linalg.norm", "args": ["x"], "attrs": {"ord": json_ord, "axis": [0, 1]}})
    remote = value_and_gradients(graph, [RECT])
    assert local[0] == pytest.approx(np.linalg.norm(RECT, ord=ord), rel=1e-12)
    assert remote[0] == pytest.approx(local[0], rel=1e-12)
    np.testing.assert_allclose(remote[1][0], local[1][0], rtol=1e-10)


def test_spectral_norm_gradient_is_the_top_singular_pair() -> None:
    (dx,) = gradients_function(lambda x: np.linalg.norm(x, ord=2))(RECT)
    u, _, vh = np.linalg.svd(RECT)
    np.testing.assert_allclose(dx, np.outer(u[:, 0], vh[0]), rtol=1e-10, atol=1e-12)
    (dx,) = gradients_function(lambda x: np.linalg.norm(x, ord=-2))(RECT)
    np.testing.assert_allclose(dx, np.outer(u[:, 2], vh[2]), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("spelling,canonical", [
    (np.inf, "inf"), ("inf", "inf"), ("Infinity", "inf"), (-np.inf, "-inf"), ("-inf", "-inf"), (2.0, 2), (3, 3),
    (0.5, 0.5), (None, None), ("fro", "fro"), ("nuc", "nuc"), (np.int64(1), 1),
])
def test_ord_has_one_canonical_json_spelling(spelling: Any, canonical: Any) -> None:
    assert OPS["linalg.norm"].bind({"ord": spelling})[0]["ord"] == canonical


@pytest.mark.parametrize("ord", [None, 2, "fro"])
def test_opset_1_norm_graphs_keep_their_canonical_form(ord: Any) -> None:
    x = RNG.standard_normal((3, 2))
    graph = _graph({"id": "n", "op": "linalg.norm", "args": ["x"], "attrs": {"ord": ord} if ord else {}})
    if ord == 2:
        graph["nodes"][0]["attrs"]["axis"] = -1
    g = load_function(graph)
    assert g.opset == 1
    assert (b'"ord":2' if ord == 2 else b'"ord":"fro"' if ord else b'"ord":null') in g.canonical
    value, (dx,) = value_and_gradients(graph, [x])
    want = np.linalg.norm(x, ord=ord, axis=-1 if ord == 2 else None)
    np.testing.assert_allclose(value, want, rtol=1e-12)
    np.testing.assert_allclose(dx, x / (want[:, None] if ord == 2 else want), rtol=1e-12)


@pytest.mark.parametrize("x,ord,axis,want", [
    ([3.0, -3.0, 1.0], np.inf, None, [0.5, -0.5, 0.0]),  # tied max |x|: shared equally (TF reduce_max)
    ([1.0, -1.0, 4.0], -np.inf, None, [0.5, -0.5, 0.0]),
    ([0.0, 2.0, -1.0], 1, None, [0.0, 1.0, -1.0]),  # sign(0) = 0
    ([0.0, 2.0, -1.0], 0, None, [0.0, 0.0, 0.0]),  # a count: zero gradient
    ([[1.0, -2.0], [-1.0, 0.0]], 1, None, [[0.5, -0.5], [-0.5, 0.0]]),  # tied column sums
    ([[1.0, -2.0], [-1.0, 2.0]], -np.inf, None, [[0.5, -0.5], [-0.5, 0.5]]),  # tied row sums
    ([[2.0, 0.0], [0.0, 2.0]], 2, None, [[0.5, 0.0], [0.0, 0.5]]),  # tied singular values share
])
def test_norm_gradient_at_kinks(x: Any, ord: Any, axis: Any, want: Any) -> None:
    (dx,) = gradients_function(lambda x: np.linalg.norm(x, ord=ord, axis=axis))(np.array(x))
    np.testing.assert_allclose(dx, want, atol=1e-12)


def test_two_norm_of_zero_has_a_nan_gradient() -> None:
    (dx,) = gradients_function(lambda x: np.linalg.norm(x))(np.zeros(3))
    assert np.all(np.isnan(dx))


def test_eigenvector_gradient_is_undefined_at_repeated_eigenvalues_but_eigenvalues_are_fine() -> None:
    x = np.diag([1.0, 1.0, 3.0])
    (dw,) = gradients_function(lambda x: np.sum(np.linalg.eigh(x)[0] * [1.0, 2.0, 3.0]))(x)
    assert np.all(np.isfinite(dw))
    (dv,) = gradients_function(lambda x: np.sum(np.linalg.eigh(x)[1] * C[:3, :3]))(x)
    assert not np.all(np.isfinite(dv))


# -- costs -------------------------------------------------------------------------------


@pytest.mark.parametrize("name,attrs", [
    ("linalg.cholesky", {}), ("linalg.slogdet", {"output": 1}), ("linalg.eigh", {"output": 1}),
    ("linalg.svd", {"output": 1}), ("linalg.qr", {}), ("linalg.pinv", {}), ("linalg.matrix_power", {"n": 5}),
    ("linalg.norm", {"ord": "nuc", "axis": [-2, -1]}),
])
def test_cost_is_cubic_in_the_matrix_times_the_batch(name: str, attrs: dict[str, Any]) -> None:
    op = OPS[name]
    kw = op.bind(attrs)[1]

    def cost(shape: tuple[int, ...]) -> int:
        return int(op.cost(op.shape(shape, **kw), shape, **kw))

    assert cost((3, 200, 200)) == pytest.approx(3 * cost((200, 200)), rel=0.05)
    assert cost((400, 400)) == pytest.approx(8 * cost((200, 200)), rel=0.05)


# -- second derivatives: the recorded backward pass differentiates again -------------------

SMOOTH: list[tuple[str, Callable[[Any], Any], np.ndarray]] = [
    ("eigh values", lambda x: np.sum(np.linalg.eigh(x)[0] ** 3), SYM),
    ("eigh vectors", lambda x: np.sum(np.linalg.eigh(x)[1] * C), SYM),
    ("cholesky", lambda x: np.sum(np.linalg.cholesky(x) * C), SPD),
    ("slogdet", lambda x: np.linalg.slogdet(x)[1], SPD),
    ("svd", lambda x: np.sum(np.linalg.svd(x, full_matrices=False)[0] * C[:, :3]), RECT),
    ("svd values", lambda x: np.sum(np.linalg.svd(x, full_matrices=False)[1] ** 2), RECT),
    ("qr", lambda x: np.sum(np.linalg.qr(x)[0] * C[:, :3]) + np.sum(np.linalg.qr(x)[1] ** 2), RECT),
    ("pinv", lambda x: np.sum(np.linalg.pinv(x) * C[:3]), RECT),
    ("matrix_power", lambda x: np.sum(np.linalg.matrix_power(x, -3) * C), SPD / 4),
    ("nuclear norm", lambda x: np.linalg.norm(x, "nuc"), RECT),
    ("spectral norm", lambda x: np.linalg.norm(x, 2), RECT),
    ("3-norm", lambda x: np.sum(np.linalg.norm(x, 3, axis=0)), RECT),
]


@pytest.mark.parametrize("name,f,x", SMOOTH, ids=[s[0] for s in SMOOTH])
def test_gradient_of_gradient_matches_differences(name: str, f: Callable[[Any], Any], x: np.ndarray) -> None:
    w = RNG.standard_normal(x.shape)
    grad = gradients_function(f)
    check_grads(lambda x: np.sum(grad(x)[0] * w), [x], rtol=1e-4, atol=1e-6)
