"""Higher-order gradients: the backward pass records onto an enclosing tape, so gradients nest."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine import gradients_function, value_and_gradients_function
from engine.ops import log_softmax, logsumexp, sigmoid, softmax

RNG = np.random.default_rng(7)
W = RNG.standard_normal((4, 3))
X0 = RNG.standard_normal(3)
V = RNG.standard_normal(3)


def derivative(f: Any) -> Any:
    """d f / d x as a function of x (TF's docs: ``gradients_function(lambda x: grad_fn(x)[0])``)."""
    grad = gradients_function(f)
    return lambda x: grad(x)[0]


@pytest.mark.parametrize("x", [-1.5, 0.0, 2.0, 3.0])
def test_second_derivative_of_cube_is_6x(x: float) -> None:
    d2 = gradients_function(derivative(lambda x: x * x * x))
    assert float(d2(x)[0]) == pytest.approx(6 * x, abs=1e-12)


@pytest.mark.parametrize(("f", "d3"), [
    (lambda x: x ** 3, lambda x: 6.0 + 0 * x),
    (np.sin, lambda x: -np.cos(x)),
    (np.exp, np.exp),
    (lambda x: np.tanh(x), lambda x: -2 * (1 - np.tanh(x) ** 2) * (1 - 3 * np.tanh(x) ** 2)),
    (lambda x: x * np.log(x), lambda x: -1 / x ** 2),
])
def test_third_derivatives(f: Any, d3: Any) -> None:
    third = derivative(derivative(derivative(f)))
    for x in (0.3, 1.1):
        assert float(third(x)) == pytest.approx(d3(x), rel=1e-9, abs=1e-12)


def test_mixed_partial_derivative() -> None:
    # d/dy d/dx (x * y**2 + sin(x) y) = 2 y + cos(x)
    dfdx = gradients_function(lambda x, y: x * y ** 2 + np.sin(x) * y, params=[0])
    dxy = gradients_function(lambda x, y: dfdx(x, y)[0], params=[1])
    assert float(dxy(0.5, 2.0)[0]) == pytest.approx(2 * 2.0 + np.cos(0.5), rel=1e-12)


def hvp_tanh(x: Any, v: Any) -> Any:
    """Hessian-vector product of sum(tanh(W @ x)) w.r.t. x: the gradient of <gradient, v>."""
    grad = gradients_function(lambda x: np.sum(np.tanh(W @ x)))
    return gradients_function(lambda x: np.sum(grad(x)[0] * v))(x)[0]


def test_hessian_vector_product_matches_the_analytic_hessian() -> None:
    t = np.tanh(W @ X0)
    hessian = W.T @ np.diag(-2 * t * (1 - t ** 2)) @ W
    np.testing.assert_allclose(hvp_tanh(X0, V), hessian @ V, rtol=1e-12, atol=1e-14)


def test_hessian_vector_product_matches_finite_differences_of_the_gradient() -> None:
    grad = gradients_function(lambda x: np.sum(np.tanh(W @ x)))
    eps = 1e-6
    numeric = (grad(X0 + eps * V)[0] - grad(X0 - eps * V)[0]) / (2 * eps)
    np.testing.assert_allclose(hvp_tanh(X0, V), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(("f", "hessian"), [
    # broadcasting, reductions and matmul in the first backward pass must themselves be differentiable
    (lambda x: np.sum(x[:, None] * x[None, :] * W[:3, :]), lambda x: W[:3, :] + W[:3, :].T),
    (lambda x: np.mean(x ** 2) * 3.0, lambda x: np.eye(3) * 2.0),
    (lambda x: x @ W.T @ W @ x, lambda x: 2 * W.T @ W),
    (lambda x: np.sum(np.maximum(x, 0.0) ** 2), lambda x: np.diag(2.0 * (x > 0))),
])
def test_full_hessians_by_rows(f: Any, hessian: Any) -> None:
    grad = gradients_function(f)
    rows = [gradients_function(lambda x, e=e: np.sum(grad(x)[0] * e))(X0)[0] for e in np.eye(3)]
    np.testing.assert_allclose(np.stack(rows), hessian(X0), rtol=1e-10, atol=1e-12)


def test_a_constant_first_derivative_has_no_second_derivative() -> None:
    assert gradients_function(derivative(lambda x: x * 2.0))(1.0) == [None]
    (zero,) = gradients_function(derivative(lambda x: x * 2.0), unconnected_gradients="zero")(1.0)
    assert float(zero) == 0.0


def test_inner_value_and_gradients_inside_an_outer_trace() -> None:
    inner = value_and_gradients_function(lambda x: x ** 4)

    def f(x: Any) -> Any:
        value, (dx,) = inner(x)
        return value + dx  # x**4 + 4 x**3

    value, (d,) = value_and_gradients_function(f)(2.0)
    assert float(value) == 16.0 + 32.0 and float(d) == pytest.approx(4 * 8.0 + 12 * 4.0)


def test_nested_results_are_plain_arrays_with_numpy() -> None:
    (d2,) = gradients_function(derivative(np.sin))(0.5)
    assert isinstance(d2, np.ndarray) and d2.numpy() == pytest.approx(-np.sin(0.5))


def test_gradients_of_a_graph_nest_inside_an_enclosing_gradient() -> None:
    from engine import load_function, value_and_gradients

    graph = load_function({"inputs": ["x"], "expression": "sum(sin(x) * x) + logsumexp(x)"})
    x = np.array([0.5, -1.0, 2.0])
    row = gradients_function(lambda x: value_and_gradients(graph, [x])[1][0][0])(x)[0]  # d/dx of dg_0/dx
    s = np.exp(x - np.log(np.sum(np.exp(x))))
    expected = -s[0] * s
    expected[0] += 2 * np.cos(x[0]) - x[0] * np.sin(x[0]) + s[0]
    np.testing.assert_allclose(row, expected, rtol=1e-12, atol=1e-14)


A = RNG.standard_normal((3, 3)) + 3 * np.eye(3)
B = RNG.standard_normal((3, 2))
# One function per op family: each op's VJP must itself be differentiable (built from dispatched ops).
SECOND_ORDER: list[tuple[str, Any, list[Any]]] = [
    ("linalg", lambda a: np.linalg.inv(a) * np.linalg.det(a) + np.linalg.solve(a, B).sum() + np.linalg.norm(a), [A]),
    ("trace einsum", lambda a: np.trace(a) * np.einsum("ij,jk->ik", a, B).sum(axis=1), [A]),
    ("matmul dot transpose", lambda a: (a @ B).T @ np.dot(a, V), [A]),
    ("reductions", lambda a: np.prod(a, axis=1) + np.var(a, axis=0, ddof=1) + np.std(a) + np.mean(a, -1), [A]),
    ("max min cumsum", lambda a: np.max(a, axis=0) * np.min(a, axis=1) + np.cumsum(a, axis=0)[-1], [A]),
    ("ml", lambda a: softmax(a) + log_softmax(a, axis=0) + logsumexp(a, axis=1) + sigmoid(a), [A]),
    ("shape", lambda a: np.concatenate([np.flip(a, 0), np.stack([a[0], a[1], a[2]], 1)], 1).reshape(-1, 2), [A]),
    ("indexing", lambda a: a[::-2, 1] * np.take(a, [0, 0, 2], axis=1)[0, :2].sum() + a[None, ..., 1].sum(), [A]),
    ("broadcasting", lambda a: np.squeeze(np.expand_dims(a, 0), 0) * np.broadcast_to(V, (3, 3)), [A]),
    ("selection", lambda a: np.where(a > 0, a, 0.5 * a) * np.clip(a, -0.5, 0.5) + np.maximum(a, a.T), [A]),
    ("unary", lambda a: np.log1p(np.expm1(np.abs(a))) + np.arctan(a) + np.sinh(a) + np.cosh(a) + np.tan(a * 0.1),
     [A]),
    ("inverse trig", lambda a: np.arcsin(np.tanh(a)) + np.arccos(np.tanh(a)) * np.sqrt(np.abs(a)), [A]),
    ("powers", lambda a: np.abs(a) ** a + np.reciprocal(a) + np.square(a) * np.sign(a) + np.logaddexp(a, a.T), [A]),
]


@pytest.mark.parametrize(("name", "f", "args"), SECOND_ORDER, ids=[c[0] for c in SECOND_ORDER])
def test_hessian_vector_products_of_every_op_family(name: str, f: Any, args: list[Any]) -> None:
    (x0,) = args
    grad = gradients_function(lambda x: np.sum(f(x) * f(x)))
    u = np.random.default_rng(len(name)).standard_normal(x0.shape)
    hvp = gradients_function(lambda x: np.sum(grad(x)[0] * u))(x0)[0]
    eps = 1e-6
    numeric = (grad(x0 + eps * u)[0] - grad(x0 - eps * u)[0]) / (2 * eps)
    np.testing.assert_allclose(hvp, numeric, rtol=1e-5, atol=1e-6)
