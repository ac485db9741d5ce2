"""NumPy's reduction keywords (dtype=, initial=, where=) on traced values: NumPy's values, checked gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from engine import check_grads, load_function, trace, value_and_gradients, value_and_gradients_function

X = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
MASK = np.array([[True, False, True], [True, True, False]])

CASES: dict[str, Callable[[Any], Any]] = {
    "sum where": lambda x: np.sum(x, where=MASK),
    "sum axis where initial": lambda x: np.sum(x * x, axis=1, where=MASK, initial=2.0),
    "sum keepdims where": lambda x: np.sum(x, axis=0, keepdims=True, where=MASK[0]),
    "prod initial": lambda x: np.prod(x, initial=3.0),
    "prod where": lambda x: np.prod(x, axis=1, where=MASK),
    "max where initial": lambda x: np.max(x, axis=0, where=MASK, initial=-10.0),
    "min initial": lambda x: np.min(x, initial=0.0),
    "mean where": lambda x: np.mean(x, axis=1, where=MASK),
    "nansum where": lambda x: np.nansum(x, where=MASK),
    "method sum where": lambda x: x.sum(axis=0, where=MASK),
    "method max initial": lambda x: x.max(initial=5.0),
}


@pytest.mark.parametrize("name", list(CASES))
def test_keywords_give_numpy_values_and_checked_gradients(name: str) -> None:
    f = CASES[name]
    value, _ = value_and_gradients_function(f)(X)
    np.testing.assert_allclose(value, f(X), rtol=1e-12)
    check_grads(f, (X,))


@pytest.mark.parametrize("name", list(CASES))
def test_keywords_trace_to_a_graph_with_the_same_answer(name: str) -> None:
    f = CASES[name]
    graph = load_function(trace(f, 1).graph)
    value, (g,) = value_and_gradients(graph, [X])
    want_value, (want_g,) = value_and_gradients_function(f)(X)
    np.testing.assert_allclose(value, want_value, rtol=1e-12)
    np.testing.assert_allclose(g, want_g, rtol=1e-12)


def test_dtype_casts_and_the_gradient_comes_back_in_the_argument_dtype() -> None:
    value, (g,) = value_and_gradients_function(lambda x: np.sum(x, dtype=np.float32))(X)
    assert value.dtype == np.float32 and g.dtype == np.float64
    np.testing.assert_array_equal(g, np.ones_like(X))


@pytest.mark.parametrize(("f", "error", "words"), [
    (lambda x: np.sum(x, dtype=np.int64), TypeError, "float32 and float64"),
    (lambda x: np.max(x, where=MASK), ValueError, "needs initial"),
    (lambda x: np.sum(x, where=np.ones(3)), TypeError, "boolean mask"),
    (lambda x: np.mean(x, initial=1.0), TypeError, "initial"),  # NumPy's own signature refuses it
    (lambda x: x.mean(initial=1.0), TypeError, "no initial"),
    (lambda x: np.var(x, where=MASK), TypeError, "'where' is not supported"),
])
def test_unsupported_keyword_uses_are_refused_clearly(f: Callable[[Any], Any], error: type[Exception],
                                                       words: str) -> None:
    with pytest.raises(error, match=words):
        value_and_gradients_function(f)(X)
