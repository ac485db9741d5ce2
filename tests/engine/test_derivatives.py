"""JVP, Jacobian, Hessian and HVP: against HIPS autograd and central differences, eager and on graphs."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import valgrad
from engine.derivatives import (
    hessian_function,
    hvp_function,
    value_and_jacobian_function,
    value_and_jvp_function,
)
from engine.errors import OutputTypeError

autograd = pytest.importorskip("autograd")
anp = pytest.importorskip("autograd.numpy")
RNG = np.random.default_rng(0)


def mlp(xp, w, x, b):
    return xp.tanh(w @ x + b) * xp.exp(-x[:3] * x[:3])


def scalar(xp, w, x, b):
    return xp.sum(xp.sin(w @ x) ** 2 + b * xp.tanh(b) / (1 + x[:3] ** 2))


W, X, B = RNG.standard_normal((3, 4)), RNG.standard_normal(4), RNG.standard_normal(3)


def _fd_jacobian(f, args, i, eps=1e-6):
    x = np.asarray(args[i], dtype=float)
    cols = []
    for k in range(x.size):
        d = np.zeros(x.size)
        d[k] = eps
        plus = [*args[:i], x + d.reshape(x.shape), *args[i + 1:]]
        minus = [*args[:i], x - d.reshape(x.shape), *args[i + 1:]]
        cols.append((np.asarray(f(*plus)) - np.asarray(f(*minus))) / (2 * eps))
    out = np.stack(cols, axis=-1)
    return out.reshape(np.shape(f(*args)) + x.shape)


@pytest.mark.parametrize("i", [0, 1, 2])
def test_jacobian_matches_autograd_and_differences(i):
    value, jac = value_and_jacobian_function(lambda w, x, b: mlp(np, w, x, b))(W, X, B)
    assert np.allclose(value, mlp(np, W, X, B))
    ref = autograd.jacobian(lambda *a: mlp(anp, *a), i)(W, X, B)
    assert jac[i].shape == ref.shape and np.allclose(jac[i], ref)
    assert np.allclose(jac[i], _fd_jacobian(lambda *a: mlp(np, *a), [W, X, B], i), atol=1e-6)


def test_jacobian_reverse_mode_when_outputs_are_fewer():
    f = lambda w: np.sum(np.tanh(w), axis=1)  # 3 outputs, 12 inputs: reverse mode
    _, (jac,) = value_and_jacobian_function(f)(W)
    assert np.allclose(jac, autograd.jacobian(lambda w: anp.sum(anp.tanh(w), axis=1))(W))


def test_jvp_matches_autograd_make_jvp():
    t = [RNG.standard_normal(W.shape), RNG.standard_normal(X.shape), RNG.standard_normal(B.shape)]
    _value, jvp = value_and_jvp_function(lambda w, x, b: mlp(np, w, x, b))(W, X, B, tangents=t)
    _, ref = autograd.make_jvp(lambda args: mlp(anp, *args))((W, X, B))(tuple(t))
    assert np.allclose(jvp, ref)


def test_jvp_single_param_takes_bare_array_and_broadcasts():
    _, jvp = value_and_jvp_function(np.sin, params=[0])(X, tangents=1.0)
    assert np.allclose(jvp, np.cos(X))


def test_jvp_keeps_output_structure():
    f = lambda x: {"a": np.sin(x), "b": [x * 2.0, np.sum(x)]}
    _value, jvp = value_and_jvp_function(f)(X, tangents=np.ones(4))
    assert set(jvp) == {"a", "b"} and np.allclose(jvp["a"], np.cos(X)) and np.allclose(jvp["b"][1], 4.0)


@pytest.mark.parametrize("i,j", [(0, 0), (0, 1), (1, 2), (2, 2)])
def test_hessian_matches_autograd(i, j):
    _value, grads, hess = hessian_function(lambda w, x, b: scalar(np, w, x, b))(W, X, B)
    f = lambda *a: scalar(anp, *a)
    assert np.allclose(grads[i], autograd.grad(f, i)(W, X, B))
    ref = autograd.jacobian(autograd.grad(f, i), j)(W, X, B)
    assert hess[i][j].shape == ref.shape and np.allclose(hess[i][j], ref)


def test_hvp_matches_autograd_hessian_tensor_product():
    v = RNG.standard_normal(W.shape)
    _value, grads, hvps = hvp_function(lambda w, x, b: scalar(np, w, x, b), params=[0])(W, X, B, vectors=v)
    f = lambda *a: scalar(anp, *a)
    assert np.allclose(hvps[0], autograd.hessian_tensor_product(f, 0)(W, X, B, v))
    assert np.allclose(grads[0], autograd.grad(f, 0)(W, X, B))


def test_hessian_of_a_function_that_calls_gradients_function():
    inner = lambda x: np.sum(np.sin(x) * x)
    f = lambda x: np.sum(valgrad.gradients_function(inner)(x)[0] ** 2)
    _, _, hess = hessian_function(f)(X)
    fa = lambda x: anp.sum(autograd.grad(lambda y: anp.sum(anp.sin(y) * y))(x) ** 2)
    assert np.allclose(hess[0][0], autograd.hessian(fa)(X))


def test_kinds_nest_inside_gradients():
    t = np.ones(4)
    f = lambda x: np.sum(value_and_jvp_function(lambda y: np.sin(y) * y)(x, tangents=t)[1])
    (g,) = valgrad.gradients_function(f)(X)
    assert np.allclose(g, 2 * np.cos(X) - X * np.sin(X))
    h = lambda x: np.sum(hvp_function(lambda y: np.sum(y ** 3))(x, vectors=t)[2][0])
    assert np.allclose(valgrad.gradients_function(h)(X)[0], 6.0)


def test_unconnected_params_give_none_or_zeros():
    f = lambda x, y: np.sin(x)
    _, jac = value_and_jacobian_function(f)(X, B)
    assert jac[1] is None
    _, jac = value_and_jacobian_function(f, unconnected_gradients="zero")(X, B)
    assert jac[1].shape == (4, 3) and not jac[1].any()
    _, grads, hess = hessian_function(lambda x, y: np.sum(x * x))(X, B)
    assert grads[1] is None and hess[0][1] is None and hess[1][1] is None and hess[0][0].shape == (4, 4)
    _, _, hess = hessian_function(lambda x, y: np.sum(x + y))(X, X)  # connected, zero second derivative
    assert not hess[0][1].any()


def test_params_resolve_as_value_and_gradients():
    _, jac = value_and_jacobian_function(lambda w, x, b: mlp(np, w, x, b), params=["b", "x"])(W, X, B)
    assert [j.shape for j in jac] == [(3, 3), (3, 4)]
    with pytest.raises(ValueError, match="all strings or all integers"):
        value_and_jacobian_function(np.sin, params=[0, "x"])(X)


def test_integer_outputs_are_a_type_error():
    with pytest.raises(OutputTypeError):
        value_and_jacobian_function(lambda x: np.argmax(x))(X)
    assert issubclass(OutputTypeError, TypeError)


def test_tangents_must_fit():
    with pytest.raises(engine.ArgumentError, match="one array per param"):
        value_and_jvp_function(lambda x, y: x * y)(X, X, tangents=[X])
    with pytest.raises(engine.ArgumentError, match="does not fit"):
        value_and_jvp_function(np.sin)(X, tangents=np.ones(3))


GRAPH = {"inputs": ["w", "x"], "expression": "sum(tanh(w @ x) ** 2)"}


def test_graph_twins_match_local():
    args = [W, X]
    local = lambda w, x: np.sum(np.tanh(w @ x) ** 2)
    v = [np.ones_like(W), np.ones_like(X)]
    assert np.allclose(engine.value_and_jvp(GRAPH, args, tangents=v)[1],
                       value_and_jvp_function(local)(*args, tangents=v)[1])
    h_graph = engine.hessian(GRAPH, args)[2]
    h_local = hessian_function(local)(*args)[2]
    assert all(np.allclose(a, b) for ra, rb in zip(h_graph, h_local, strict=True) for a, b in zip(ra, rb, strict=True))
    assert np.allclose(engine.hvp(GRAPH, args, vectors=v)[2][1], hvp_function(local)(*args, vectors=v)[2][1])


def test_prepared_kinds_price_before_running():
    p = engine.prepare_hessian(GRAPH, [W, X])
    assert p.cost.flops > p.info.flops
    with pytest.raises(engine.TooExpensiveError):
        engine.prepare_jacobian({"inputs": ["x"], "expression": "sin(x)"}, [np.ones(10_000)])
