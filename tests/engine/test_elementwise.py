"""Op set 2 elementwise math and SciPy special functions end to end: eager, symbolic, text, JSON, kinks, accuracy."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import scipy.special as sp

from engine.check import check_grads
from engine.eager import gradients_function, value_and_gradients_function
from engine.evaluation import value_and_gradients
from engine.ops import elementwise, special
from engine.registry import OPS, lookup
from engine.tracing import trace

X = np.array([-2.7, -0.4, 0.3, 1.9, 3.2])


def _grad(f: Any, *args: Any) -> list[Any]:
    return value_and_gradients_function(f)(*args)[1]


def _text(expression: str, *args: Any) -> tuple[Any, list[Any]]:
    names = ["x", "y", "z"][: len(args)]
    return value_and_gradients({"inputs": names, "expression": expression}, list(args))


# --- Python operators, eager and symbolic, and text ---


def test_mod_and_floordiv_operators_record_remainder_and_floor_divide_eagerly() -> None:
    value, (dx,) = value_and_gradients_function(lambda x: np.sum(x % 2.0 + x // 2.0))(X)
    np.testing.assert_allclose(value, np.sum(X % 2.0 + X // 2.0))
    np.testing.assert_array_equal(dx, np.ones_like(X))  # d(x % 2)/dx = 1, floor_divide adds nothing


def test_reflected_mod_sends_minus_floor_to_the_divisor() -> None:
    y = np.array([0.7, 1.3, 2.5])
    value, (dy,) = value_and_gradients_function(lambda y: np.sum(5.0 % y))(y)
    np.testing.assert_allclose(value, np.sum(5.0 % y))
    np.testing.assert_allclose(dy, -np.floor(5.0 / y))


def test_floor_divide_alone_has_no_gradient() -> None:
    assert _grad(lambda x: np.sum(x // 2), X) == [None]
    zero = value_and_gradients_function(lambda x: np.sum(x // 2), unconnected_gradients="zero")(X)[1][0]
    np.testing.assert_array_equal(zero, np.zeros_like(X))


def test_symbolic_trace_records_operators_and_ufuncs_by_name() -> None:
    traced = trace(lambda x, y: np.sum(np.hypot(x % y, np.floor_divide(x, y)) + np.log2(y)), 2)
    ops = [n["op"] for n in traced.graph["nodes"]]
    assert {"remainder", "floor_divide", "hypot", "log2"} <= set(ops)
    y = np.array([1.5, 2.5, 0.5, 3.0, 1.1])
    value, grads = value_and_gradients(traced.graph, [X, y])
    np.testing.assert_allclose(value, np.sum(np.hypot(X % y, X // y) + np.log2(y)))
    f = lambda x, y: np.sum(np.hypot(x % y, np.floor_divide(x, y)) + np.log2(y))
    check_grads(f, [X, y])
    for got, want in zip(grads, value_and_gradients_function(f)(X, y)[1], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-14)


@pytest.mark.parametrize("expression,want,dx", [
    ("x % 2.0", X % 2.0, np.ones_like(X)),
    ("remainder(x, 2.0)", X % 2.0, np.ones_like(X)),
    ("mod(x, 2.0)", X % 2.0, np.ones_like(X)),
    ("floor(x) + exp2(x)", np.floor(X) + np.exp2(X), np.exp2(X) * np.log(2)),
    ("round(x, decimals=1) + x", np.round(X, 1) + X, np.ones_like(X)),
])
def test_text_expressions_use_the_new_ops(expression: str, want: Any, dx: Any) -> None:
    value, (g,) = _text(expression, X)
    np.testing.assert_allclose(value, want)
    np.testing.assert_allclose(g, dx)


def test_text_floordiv_operator_has_no_gradient() -> None:
    value, grads = _text("x // 2 + x", X)
    np.testing.assert_allclose(value, X // 2 + X)
    np.testing.assert_array_equal(grads[0], np.ones_like(X))


def test_json_graph_of_opset_2_ops() -> None:
    graph = {"version": 1, "opset": 2, "inputs": ["x", "y"], "nodes": [
        {"id": "a", "op": "arctan2", "args": ["x", "y"]},
        {"id": "b", "op": "erf", "args": ["a"]},
        {"id": "c", "op": "xlogy", "args": ["y", "y"]},
        {"id": "d", "op": "add", "args": ["b", "c"]}], "outputs": "d"}
    y = np.array([0.5, 1.5, 2.0, 0.7, 1.2])
    value, grads = value_and_gradients(graph, [X, y])
    np.testing.assert_allclose(value, sp.erf(np.arctan2(X, y)) + sp.xlogy(y, y), rtol=1e-13)
    r2 = X * X + y * y
    dx = 2 / np.sqrt(np.pi) * np.exp(-np.arctan2(X, y) ** 2) * y / r2
    dy = -2 / np.sqrt(np.pi) * np.exp(-np.arctan2(X, y) ** 2) * X / r2 + np.log(y) + 1
    np.testing.assert_allclose(grads[0], dx, rtol=1e-12)
    np.testing.assert_allclose(grads[1], dy, rtol=1e-12)


# --- NumPy spellings, methods and aliases ---


def test_numpy_functions_route_to_the_new_ops() -> None:
    f = lambda x: np.sum(np.radians(x) + np.degrees(x) + np.fabs(x) + np.around(x, 1) + np.conj(x) + np.real(x)
                         + np.imag(x) + np.trunc(x) + np.rint(x) + np.ceil(x) + np.sinc(x))
    value, (dx,) = value_and_gradients_function(f)(X)
    np.testing.assert_allclose(value, f(X))
    want = np.pi / 180 + 180 / np.pi + np.sign(X) + 2 + (np.cos(np.pi * X) - np.sinc(X)) / X
    np.testing.assert_allclose(dx, want)


def test_aliases_resolve_to_one_op() -> None:
    assert lookup("mod") is OPS["remainder"] and lookup("conj") is OPS["conjugate"]
    assert lookup("radians") is OPS["deg2rad"] and lookup("degrees") is OPS["rad2deg"]
    assert lookup("around") is OPS["round"]
    assert all(OPS[n].opset == 2 for n in ("remainder", "erf", "clip_by_value", "nan_to_num", "gammaln"))


def test_round_and_conj_methods() -> None:
    value, (dx,) = value_and_gradients_function(lambda x: np.sum(x.round(1) + x.conj() + x.conjugate()))(X)
    np.testing.assert_allclose(value, np.sum(np.round(X, 1) + 2 * X))
    np.testing.assert_array_equal(dx, np.full_like(X, 2.0))


# --- gradient conventions at kinks and ties ---


def test_rounding_family_has_zero_gradient_not_none() -> None:
    for fn in (np.floor, np.ceil, np.trunc, np.rint, np.round):
        np.testing.assert_array_equal(_grad(lambda x, fn=fn: np.sum(fn(x)), X)[0], np.zeros_like(X))


def test_fabs_and_copysign_have_zero_gradient_at_zero() -> None:
    x = np.array([-1.5, 0.0, 2.0])
    np.testing.assert_array_equal(_grad(lambda x: np.sum(np.fabs(x)), x)[0], [-1.0, 0.0, 1.0])
    y = np.array([1.0, -1.0, -3.0])
    dx, dy = _grad(lambda x, y: np.sum(np.copysign(x, y)), x, y)
    np.testing.assert_array_equal(dx, [-1.0, 0.0, -1.0])
    np.testing.assert_array_equal(dy, [0.0, 0.0, 0.0])


def test_fmax_fmin_send_the_gradient_past_nan_and_ties_to_x1() -> None:
    x1 = np.array([1.0, np.nan, 2.0, 0.5])
    x2 = np.array([np.nan, 3.0, 2.0, 1.0])
    d1, d2 = _grad(lambda a, b: np.sum(np.fmax(a, b)), x1, x2)
    np.testing.assert_array_equal(d1, [1.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(d2, [0.0, 1.0, 0.0, 1.0])
    d1, d2 = _grad(lambda a, b: np.sum(np.fmin(a, b)), x1, x2)
    np.testing.assert_array_equal(d1, [1.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(d2, [0.0, 1.0, 0.0, 0.0])


def test_origin_conventions_of_hypot_and_arctan2() -> None:
    zero = np.array([0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _grad(lambda a, b: np.sum(np.hypot(a, b)), zero, zero) == [0.0, 0.0]
    with np.errstate(all="ignore"):
        da, db = _grad(lambda a, b: np.sum(np.arctan2(a, b)), zero, zero)
    assert np.isnan(da).all() and np.isnan(db).all()  # TensorFlow's and JAX's rule


def test_sinc_gradient_is_zero_at_zero_and_smooth_across_the_series_switch() -> None:
    x = np.array([0.0, 0.0999999, 0.1, 0.1000001])
    (dx,) = _grad(lambda x: np.sum(np.sinc(x)), x)
    assert dx[0] == 0.0
    np.testing.assert_allclose(dx[1:], (np.cos(np.pi * x[1:]) - np.sinc(x[1:])) / x[1:], rtol=1e-13)


def test_nan_to_num_passes_gradient_only_where_finite() -> None:
    x = np.array([np.nan, np.inf, -np.inf, 1.5])
    value, (dx,) = value_and_gradients_function(lambda x: np.nan_to_num(x) * 0.5)(x)
    np.testing.assert_array_equal(value, np.nan_to_num(x) * 0.5)
    np.testing.assert_array_equal(dx, [0.0, 0.0, 0.0, 0.5])
    value, _ = value_and_gradients_function(lambda x: np.nan_to_num(x, nan=-1.0, posinf=9.0))(x)
    np.testing.assert_array_equal(value, [-1.0, 9.0, np.finfo(float).min, 1.5])


def test_xlogy_at_x_zero_follows_tensorflow() -> None:
    x, y = np.array([0.0, 0.0, 2.0]), np.array([0.0, 3.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, (dx, dy) = value_and_gradients_function(lambda x, y: special.xlogy(x, y))(x, y)
    np.testing.assert_array_equal(value, [0.0, 0.0, 2 * np.log(3.0)])
    np.testing.assert_allclose(dx, [0.0, 0.0, np.log(3.0)])
    np.testing.assert_allclose(dy, [0.0, 0.0, 2 / 3])


def test_clip_by_value_routes_gradient_to_bounds_like_tensorflow() -> None:
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    lo, hi = np.array(-1.0), np.full(5, 1.0)
    value, (dx, dlo, dhi) = value_and_gradients_function(lambda x, lo, hi: elementwise.clip_by_value(x, lo, hi))(
        x, lo, hi)
    np.testing.assert_array_equal(value, np.clip(x, lo, hi))
    np.testing.assert_array_equal(dx, [0, 1, 1, 1, 0])  # bounds included, as clip
    assert dlo == 1.0
    np.testing.assert_array_equal(dhi, [0, 0, 0, 0, 1])


def test_complex_input_is_refused_by_real_imag_conj() -> None:
    for name in ("real", "imag", "conjugate"):
        with pytest.raises(TypeError, match="complex input is not supported"):
            OPS[name].forward(np.array([1 + 2j]))


# --- higher order: the recorded VJPs differentiate again ---


@pytest.mark.parametrize("f,second", [
    (special.erf, lambda x: -4 * x / np.sqrt(np.pi) * np.exp(-x * x)),
    (special.erfc, lambda x: 4 * x / np.sqrt(np.pi) * np.exp(-x * x)),
    (special.gammaln, lambda x: sp.polygamma(1, x)),
    (special.digamma, lambda x: sp.polygamma(2, x)),
    (special.log_expit, lambda x: -sp.expit(x) * sp.expit(-x)),
    (special.logit, lambda x: (2 * x - 1) / (x * (1 - x)) ** 2),
    (np.arcsinh, lambda x: -x / (x * x + 1) ** 1.5),
    (np.exp2, lambda x: np.exp2(x) * np.log(2) ** 2),
    (np.log10, lambda x: -1 / (x * x * np.log(10))),
])
def test_second_derivatives_of_smooth_ops(f: Any, second: Any) -> None:
    x = np.array([0.15, 0.4, 0.8]) if f is special.logit else np.array([0.3, 1.7, 4.2])
    d2 = gradients_function(lambda x: gradients_function(lambda x: np.sum(f(x)))(x)[0])(x)[0]
    np.testing.assert_allclose(d2, second(x), rtol=1e-10)


def test_third_derivative_of_gammaln_is_polygamma_2() -> None:
    d = lambda g: lambda x: gradients_function(lambda x: np.sum(g(x)))(x)[0]
    x = np.array([0.6, 2.5, -1.5])
    np.testing.assert_allclose(d(d(d(special.gammaln)))(x), sp.polygamma(2, x), rtol=1e-10)


# --- pure-NumPy forwards against SciPy ---

R = np.random.default_rng(7)
WIDE = np.concatenate([np.linspace(-30, 30, 6001), 10 ** R.uniform(-300, 300, 500), -(10 ** R.uniform(-300, 2, 500)),
                       R.standard_normal(200) * 1e-3, [0.0, 0.46875, 4.0, 1.0, 2.0, 0.5, 1.5, 2.5, 26.5]])


@pytest.mark.parametrize("name", ["erf", "erfc", "logit", "log_expit", "gammaln", "digamma"])
def test_forward_matches_scipy_to_1e_12(name: str) -> None:
    x = WIDE[(WIDE > 0) & (WIDE < 1)] if name == "logit" else WIDE
    with np.errstate(all="ignore"):
        want = getattr(sp, name)(x)
    got = getattr(special, name)(x)
    # gammaln and digamma vanish at irrational points below 0, where any method has only absolute accuracy.
    atol = 1e-14 if name in ("gammaln", "digamma") else 1e-300
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=atol)
    assert got.dtype == np.float64 and getattr(special, name)(np.float32([0.3, 0.6])).dtype == np.float32


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_polygamma_matches_scipy(n: int) -> None:
    x = np.concatenate([np.linspace(0.01, 40, 400), -np.linspace(0.03, 9.7, 97), 10 ** R.uniform(-3, 6, 100)])
    np.testing.assert_allclose(special.polygamma(x, n=n), sp.polygamma(n, x), rtol=1e-11)


def test_special_values_match_scipy() -> None:
    x = np.array([0.0, -0.0, -1.0, -2.0, np.inf, np.nan])
    with np.errstate(all="ignore"):
        for name in ("erf", "erfc", "gammaln", "digamma", "log_expit"):
            np.testing.assert_array_equal(getattr(special, name)(x), getattr(sp, name)(x), err_msg=name)
        np.testing.assert_array_equal(special.logit(np.array([0.0, 1.0, 2.0])), sp.logit([0.0, 1.0, 2.0]))
        np.testing.assert_array_equal(special.xlogy(np.array([0.0, 0.0, 1.0]), np.array([0.0, np.nan, 0.0])),
                                      sp.xlogy([0.0, 0.0, 1.0], [0.0, np.nan, 0.0]))


# --- SciPy's ufuncs on traced values: needs engine.dispatch to match "scipy.special.<name>" (lead) ---



@pytest.mark.parametrize("name", ["erf", "erfc", "gammaln", "digamma", "psi", "logit", "log_expit", "expit"])
def test_scipy_ufuncs_record_their_ops(name: str) -> None:
    x = np.array([0.2, 0.5, 0.7])
    f = getattr(sp, name)
    value, _ = value_and_gradients_function(lambda x: np.sum(f(x)))(x)
    np.testing.assert_allclose(value, np.sum(f(x)), rtol=1e-12)
    check_grads(lambda x: np.sum(f(x)), [x])


def test_scipy_xlogy_records_xlogy() -> None:
    traced = trace(lambda x, y: sp.xlogy(x, y), 2)
    assert [n["op"] for n in traced.graph["nodes"]] == ["xlogy"]


def test_np_clip_with_array_bounds_records_clip_by_value() -> None:
    lo, hi = np.array([-1.0, 0.0, 0.5]), np.array([1.0, 0.5, 2.0])
    x = np.array([-3.0, 0.25, 3.0])
    value, grads = value_and_gradients_function(lambda x, lo, hi: np.clip(x, lo, hi))(x, lo, hi)
    np.testing.assert_array_equal(value, np.clip(x, lo, hi))
    np.testing.assert_array_equal(grads[0], [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(grads[1], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(grads[2], [0.0, 0.0, 1.0])
