"""valgrad.nn: values against NumPy/SciPy definitions, gradients against central differences, traced and not."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import scipy.special as sp

import valgrad
from valgrad import nn

X = np.array([[-3.0, -0.5, 0.0, 0.7], [2.5, -1.2, 0.3, 40.0]])


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


CASES: list[tuple[Any, Any]] = [
    (nn.relu, lambda x: np.maximum(x, 0)),
    (nn.softplus, lambda x: np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)),
    (nn.gelu, _gelu_tanh),
    (lambda x: nn.gelu(x, approximate=False), lambda x: x * sp.ndtr(x)),
    (nn.sigmoid, sp.expit),
    (nn.softmax, lambda x: sp.softmax(x, axis=-1)),
    (lambda x: nn.softmax(x, axis=0), lambda x: sp.softmax(x, axis=0)),
    (nn.log_softmax, lambda x: sp.log_softmax(x, axis=-1)),
    (nn.logsumexp, sp.logsumexp),
    (lambda x: nn.logsumexp(x, axis=1, keepdims=True), lambda x: sp.logsumexp(x, axis=1, keepdims=True)),
]


@pytest.mark.parametrize("f,ref", CASES)
def test_values_on_arrays_and_traced_values(f: Any, ref: Any) -> None:
    np.testing.assert_allclose(f(X), ref(X), rtol=1e-12, atol=1e-300)
    value, _ = valgrad.value_and_gradients_function(lambda x: f(x))(X)
    np.testing.assert_allclose(value, ref(X), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("f,ref", CASES)
def test_gradients_match_central_differences(f: Any, ref: Any) -> None:
    x = X[:, [0, 1, 3]]  # away from relu's kink at 0
    w = np.random.default_rng(3).standard_normal(np.shape(ref(x)))
    valgrad.check_grads(lambda x: np.sum(f(x) * w), [x])


def test_relu_gradient_at_zero_is_zero() -> None:
    (dx,) = valgrad.gradients_function(lambda x: np.sum(nn.relu(x)))(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(dx, [0.0, 0.0, 1.0])


def test_exact_gelu_keeps_digits_for_very_negative_inputs() -> None:
    x = np.array([-30.0, -10.0])
    np.testing.assert_allclose(nn.gelu(x, approximate=False), x * sp.ndtr(x), rtol=1e-12)
    (dx,) = valgrad.gradients_function(lambda x: np.sum(nn.gelu(x, approximate=False)))(np.array([-2.0, 0.5]))
    x = np.array([-2.0, 0.5])
    np.testing.assert_allclose(dx, sp.ndtr(x) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi), rtol=1e-12)


def test_softplus_and_sigmoid_do_not_overflow() -> None:
    x = np.array([-1000.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is the right answer
        np.testing.assert_allclose(nn.softplus(x), [0.0, 1000.0])
        (dx,) = valgrad.gradients_function(lambda x: np.sum(nn.softplus(x)))(x)
    np.testing.assert_allclose(dx, [0.0, 1.0])


def test_second_derivative_of_gelu() -> None:
    x = np.array([-1.3, 0.2, 2.0])
    d2 = valgrad.gradients_function(
        lambda x: valgrad.gradients_function(lambda x: np.sum(nn.gelu(x, approximate=False)))(x)[0])(x)[0]
    pdf = np.exp(-x * x / 2) / np.sqrt(2 * np.pi)
    np.testing.assert_allclose(d2, 2 * pdf - x * x * pdf, rtol=1e-10)
