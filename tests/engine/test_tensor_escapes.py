"""Every way a value can leave the tape is either recorded correctly or refused, never a silent wrong gradient.

Each case runs eagerly (``value_and_gradients_function``) and symbolically
(``trace``, as the SDK does before sending a graph); the HTTP form of the
graph-level cases lives in tests/app/test_http_trust.py.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from engine import TracingError, gradients_function, trace, value_and_gradients_function
from engine.check import check_grads
from engine.errors import CotangentError
from engine.ops import stop_gradient

X3 = np.array([1.0, 2.0, 3.0])


def _buffer_write(x: Any) -> Any:
    y = np.zeros(3)
    y[0] = x[0]
    return np.sum(y) * x


def _float32_buffer(x: Any) -> Any:
    y = np.zeros(3, np.float32)
    y[:] = x
    return x


REFUSED: dict[str, Callable[[Any], Any]] = {
    "np.exp(float(x)) * x": lambda x: np.exp(float(x)) * x,
    "math.exp(x)": lambda x: math.exp(x) * x,
    "np.float64(x) * x": lambda x: np.float64(x) * x,
    "np.float32(x)": lambda x: np.float32(x) * x,
    "int(x)": lambda x: int(x) * x,
    "complex(x)": lambda x: complex(x) * x,
    "operator.index(x)": lambda x: operator.index(x) * x,
    "[1, 2][x]": lambda x: [1.0, 2.0][x] * x,
    "range(x)": lambda x: len(range(x)) * x,
    "round(x)": lambda x: round(x) * x,
    "math.floor(x)": lambda x: math.floor(x) * x,
    "math.ceil(x)": lambda x: math.ceil(x) * x,
    "math.trunc(x)": lambda x: math.trunc(x) * x,
    "x.item()": lambda x: x.item() * x,
    "x.tolist()": lambda x: np.asarray(x.tolist()) * x,
    "x.numpy()": lambda x: np.exp(x.numpy()) * x,
    "x.value": lambda x: np.exp(x.value) * x,
    "'%f' % x": lambda x: len("%f" % x) * x,  # noqa: UP031 - the old formatting calls float(x)
    "np.asarray(x, dtype=float)": lambda x: np.asarray(x, dtype=float) * x,
    "np.array(x, np.float32)": lambda x: np.array(x, np.float32) * x,
    "y[:] = x (float32 buffer)": _float32_buffer,
}


@pytest.mark.parametrize("mode", ["eager", "symbolic"])
@pytest.mark.parametrize("name", list(REFUSED))
def test_leaving_the_tape_through_a_python_value_is_refused(name: str, mode: str) -> None:
    f = REFUSED[name]
    with pytest.raises(TypeError) as info:
        if mode == "eager":
            value_and_gradients_function(f)(1.5)
        else:
            trace(f, 1)
    message = str(info.value)
    assert "np." in message, message  # names the NumPy spelling to use instead


@pytest.mark.parametrize("mode", ["eager", "symbolic"])
def test_writing_a_traced_value_into_a_numpy_buffer_is_refused_naming_stack(mode: str) -> None:
    # NumPy wraps the refusal in its own ValueError; the cause says what to write instead.
    with pytest.raises((TypeError, ValueError)) as info:
        if mode == "eager":
            value_and_gradients_function(_buffer_write)(X3)
        else:
            trace(_buffer_write, 1)
    chain = f"{info.value} {info.value.__cause__}"
    assert "np.stack" in chain and "np.where" in chain


@pytest.mark.parametrize("f", [
    lambda x: np.array([x, x]),
    lambda x: np.sum([x, 2 * x]),
    lambda x: np.asarray([x]) * x,
])
def test_traced_arrays_as_list_elements_are_refused_naming_stack(f: Callable[[Any], Any]) -> None:
    # NumPy would hold each array as one number and change what np.sum computes.
    with pytest.raises(TypeError, match=r"np\.stack"):
        value_and_gradients_function(f)(X3)
    with pytest.raises(TypeError, match=r"np\.stack"):
        trace(f, 1)


LISTS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    # name: (f, the same function written with np.stack)
    "np.array([a, b])": (lambda a, b: np.sum(np.array([a, b]) ** 2),
                         lambda a, b: np.sum(np.stack([a, b]) ** 2)),
    "np.asarray([a, b]) * a": (lambda a, b: np.asarray([a, b]) * a, lambda a, b: np.stack([a, b]) * a),
    "np.sum([a, 3 * b])": (lambda a, b: np.sum([a, 3 * b]), lambda a, b: np.sum(np.stack([a, 3 * b]))),
    "np.linalg.norm([a, b])": (lambda a, b: np.linalg.norm([a, b]), lambda a, b: np.linalg.norm(np.stack([a, b]))),
    "np.r_[a, b]": (lambda a, b: np.sum(np.r_[a, b] * [1.0, 2.0]), lambda a, b: a + 2 * b),
    "np.c_[a, b]": (lambda a, b: np.sum(np.c_[a, b] ** 2), lambda a, b: a * a + b * b),
    "np.exp(np.array([a, b]))": (lambda a, b: np.sum(np.exp(np.array([a, b]))), lambda a, b: np.exp(a) + np.exp(b)),
    "np.array([a, 2.0]) @ w": (lambda a, b: np.array([a, 2.0]) @ np.array([b, 1.0]), lambda a, b: a * b + 2.0),
    "returned np.array([a, b])": (lambda a, b: np.array([a, b * a]), lambda a, b: np.stack([a, b * a])),
}


@pytest.mark.parametrize("name", list(LISTS))
def test_lists_of_scalar_traced_values_record_as_a_stack(name: str) -> None:
    f, reference = LISTS[name]
    value, grads = value_and_gradients_function(f)(1.5, -0.5)
    want_value, want_grads = value_and_gradients_function(reference)(1.5, -0.5)
    np.testing.assert_allclose(value, want_value, rtol=1e-12)
    for g, w in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12)
    check_grads(f, (1.5, -0.5))


def test_np_mean_of_a_list_of_traced_values_is_refused_naming_stack() -> None:
    # NumPy's mean converts its sum with np.float64(...), which would drop the gradient.
    with pytest.raises(TypeError, match=r"np.mean\(np.stack"):
        value_and_gradients_function(lambda a, b: np.mean([a, b]))(1.0, 2.0)
    value, grads = value_and_gradients_function(lambda a, b: np.mean(np.stack([a, b])))(1.0, 2.0)
    assert float(value) == 1.5 and [float(g) for g in grads] == [0.5, 0.5]


def test_lists_of_traced_values_are_refused_while_tracing_symbolically() -> None:
    # Shapes are unknown symbolically, so NumPy's element-as-number reading cannot be checked.
    with pytest.raises(TypeError, match=r"np\.stack"):
        trace(lambda a, b: np.sum(np.array([a, b])), 2)


def test_eager_control_flow_through_bool_follows_the_branch() -> None:
    f = value_and_gradients_function(lambda x: x * x if x > 0 else -x)
    assert [float(g) for g in f(1.5)[1]] == [3.0]
    assert [float(g) for g in f(-1.5)[1]] == [-1.0]


def test_bool_while_tracing_symbolically_names_where() -> None:
    with pytest.raises(TracingError, match=r"np\.where"):
        trace(lambda x: x if x > 0 else -x, 1)


def test_comparisons_and_other_gradient_free_results_are_plain_values_eagerly() -> None:
    seen: list[Any] = []

    def f(x: Any) -> Any:
        mask = x > 1.5
        seen.append(mask)
        return np.sum(np.where(mask, x * x, x))

    _, (dx,) = value_and_gradients_function(f)(X3)
    assert type(seen[0]) is np.ndarray
    np.testing.assert_array_equal(dx, [1.0, 4.0, 6.0])


def test_stop_gradient_drops_a_gradient_on_purpose() -> None:
    value, (dx,) = value_and_gradients_function(lambda x: np.exp(stop_gradient(x)) * x)(1.5)
    assert float(value) == pytest.approx(1.5 * math.exp(1.5))
    assert float(dx) == pytest.approx(math.exp(1.5))
    graph = trace(lambda x: np.exp(stop_gradient(x)) * x, 1).graph
    assert [n["op"] for n in graph["nodes"]] == ["stop_gradient", "exp", "multiply"]


def test_a_traced_dy_is_broadcast_like_a_concrete_one() -> None:
    g = gradients_function(lambda x: x)
    outer = value_and_gradients_function(lambda t: np.sum(g(X3, dy=t)[0]))
    value, (dt,) = outer(2.0)
    assert float(value) == 6.0 and float(dt) == 3.0


def test_a_traced_dy_of_the_wrong_shape_is_refused() -> None:
    g = gradients_function(lambda x: x)
    with pytest.raises(CotangentError, match="does not fit"):
        value_and_gradients_function(lambda t: np.sum(g(X3, dy=t)[0]))(np.ones(2))


def test_a_traced_dy_weights_each_output_element() -> None:
    g = gradients_function(lambda x: x * x)
    outer = value_and_gradients_function(lambda t: np.sum(g(X3, dy=t)[0]))
    _, (dt,) = outer(np.array([1.0, 0.0, 2.0]))
    np.testing.assert_allclose(dt, 2 * X3)


@pytest.mark.parametrize("f", [
    lambda x: x * (1 + 0.2j),
    lambda x: x + np.array([1j, 2.0]),
    lambda x: np.exp(x) * np.complex128(1),
])
def test_complex_values_are_refused(f: Callable[[Any], Any]) -> None:
    with pytest.raises(TypeError, match="complex"):
        value_and_gradients_function(f)(np.ones(2))


def test_a_complex_dy_is_refused() -> None:
    with pytest.raises(CotangentError, match="real"):
        value_and_gradients_function(lambda x: x * 2)(np.ones(2), dy=np.ones(2) * (1 + 1j))
