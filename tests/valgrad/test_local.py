"""The local API through ``import valgrad``: the seed's TF example runs unchanged but for the ``tfe`` name."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import valgrad


def test_seed_example_verbatim() -> None:
    def f(x, y):  # type: ignore[no-untyped-def]  # the seed's code, character for character
        return x * x * x * y - x * y * y
    f_val, (x_grad, y_grad) = valgrad.value_and_gradients_function(f)(2.0, 3.0)
    assert f_val.numpy() == 6.0 and x_grad.numpy() == 27.0 and y_grad.numpy() == -4.0


def test_tf_style_second_derivative() -> None:
    # TF r1.15's docs: tfe.gradients_function(lambda x: grad_fn(x)[0])
    grad_fn = valgrad.gradients_function(lambda x: x * x * x)
    (d2,) = valgrad.gradients_function(lambda x: grad_fn(x)[0])(2.0)
    assert d2.numpy() == 12.0


def test_except_value_error_catches_bad_params_as_with_tf() -> None:
    with pytest.raises(ValueError, match=r"^params must be all strings or all integers; got \[0, 'y'\]\.$"):
        valgrad.value_and_gradients_function(lambda x, y: x * y, params=[0, "y"])(1.0, 2.0)


def test_tracing_error_is_exported() -> None:
    def f(x: Any) -> Any:
        return x if x > 0 else -x

    import engine

    with pytest.raises(valgrad.TracingError):
        engine.trace(f, 1)


def test_value_and_gradients_of_a_graph_is_exported() -> None:
    value, (dx,) = valgrad.value_and_gradients({"inputs": ["x"], "expression": "sin(x) * x"}, [np.pi])
    assert isinstance(value, valgrad.Array) and dx.numpy() == pytest.approx(-np.pi)
