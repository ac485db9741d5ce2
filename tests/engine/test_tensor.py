"""``Tensor``: plain NumPy code on traced values records the right ops, eagerly and symbolically."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine import Tensor, TracingError, trace, value_and_gradients_function
from engine.check import check_vjp
from engine.tape import Tape

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
W = RNG.standard_normal((4, 2))


def vjp_of(f: Any) -> Any:
    """``f``'s VJP through the tape, in check_vjp's form."""
    return lambda g, *xs: value_and_gradients_function(f)(*xs, dy=g)[1]


# Each entry: (plain NumPy code, arguments); traced it must give NumPy's value and a VJP that
# matches central differences.
CASES: list[tuple[str, Any, list[Any]]] = [
    ("np.sin", lambda x: np.sin(x), [X]),
    ("np.sum axis=0", lambda x: np.sum(x, axis=0), [X]),
    ("np.sum axis=(0,1) keepdims", lambda x: np.sum(x, axis=(0, 1), keepdims=True), [X]),
    ("np.mean positional axis", lambda x: np.mean(x, 1), [X]),
    ("matmul operator", lambda x, w: x @ w, [X, W]),
    ("reflected matmul", lambda w: X @ w, [W]),
    ("np.dot", lambda x, w: np.dot(x, w), [X, W]),
    ("getitem int and slice", lambda x: x[0, 1:], [X]),
    ("getitem ellipsis and None", lambda x: x[..., None, ::2], [X]),
    ("getitem negative int", lambda x: x[-1], [X]),
    ("T", lambda x: x.T, [X]),
    ("np.transpose", lambda x: np.transpose(x), [X]),
    ("x.sum()", lambda x: x.sum(), [X]),
    ("x.mean(axis=-1, keepdims)", lambda x: x.mean(axis=-1, keepdims=True), [X]),
    ("x.max(0)", lambda x: x.max(0), [X]),
    ("x.var(ddof=1)", lambda x: x.var(ddof=1), [X]),
    ("x.reshape(tuple)", lambda x: x.reshape((2, 6)), [X]),
    ("x.reshape(*ints)", lambda x: x.reshape(4, -1), [X]),
    ("x.flatten", lambda x: x.flatten(), [X]),
    ("x.transpose(1, 0)", lambda x: x.transpose(1, 0), [X]),
    ("x.clip", lambda x: x.clip(-0.5, 0.5), [X]),
    ("x.dot(w)", lambda x, w: x.dot(w), [X, W]),
    ("x.cumsum(axis=1)", lambda x: x.cumsum(axis=1), [X]),
    ("operators", lambda x, w: -(x * 2.0 - 1.0) / (abs(x) + 1.0) ** 2, [X, W]),
    ("reflected operators", lambda x: 1.0 - 2.0 / (3.0 + x * x) + 2.0 ** x, [X]),
    ("np.tanh(x @ w)", lambda x, w: np.sum(np.tanh(x @ w)), [X, W]),
    ("np.where", lambda x: np.where(x > 0, x, 0.1 * x), [X]),
    ("np.maximum", lambda x: np.maximum(x, 0.0), [X]),
    ("np.exp np.log", lambda x: np.log(np.exp(x) + 1.0), [X]),
    ("np.concatenate", lambda x: np.concatenate([x, x * 2], axis=1), [X]),
    ("np.stack", lambda x: np.stack([x, x * 2]), [X]),
    ("np.take", lambda x: np.take(x, [0, 2, 2], axis=0), [X]),
    ("np.einsum", lambda x, w: np.einsum("ij,jk->ik", x, w), [X, W]),
    ("np.reshape", lambda x: np.reshape(x, (12,)), [X]),
    ("np.expand_dims", lambda x: np.expand_dims(x, 0), [X]),
    ("np.linalg.norm", lambda x: np.linalg.norm(x), [X]),
]


@pytest.mark.parametrize(("name", "f", "args"), CASES, ids=[c[0] for c in CASES])
def test_numpy_code_records_ops_with_numpys_value_and_checked_gradients(name: str, f: Any, args: list[Any]) -> None:
    value, _ = value_and_gradients_function(f)(*args)
    np.testing.assert_allclose(value, f(*args), rtol=1e-12)
    check_vjp(f, vjp_of(f), args)


@pytest.mark.parametrize(("call", "name"), [
    (lambda x: np.fft.fft(x), "np.fft.fft"),
    (lambda x: np.unique(x), "np.unique"),
    (lambda x: np.histogram(x), "np.histogram"),
    (lambda x: np.linalg.eig(x), "np.linalg.eig"),
    (lambda x: np.add.reduce(x), "np.add.reduce"),
    (lambda x: np.bitwise_and(x, x), "np.bitwise_and"),
])
def test_unsupported_numpy_function_raises_type_error_naming_it(call: Any, name: str) -> None:
    f = value_and_gradients_function(call)
    with pytest.raises(TypeError) as info:
        f(np.ones((2, 2)))
    assert str(info.value).startswith(name + " ")
    assert "engine.OPS lists the op set" in str(info.value)


@pytest.mark.parametrize(("call", "fragment"), [
    (lambda x: np.cumsum(x, dtype=np.float32), "'dtype'"),  # np.sum(x, dtype=...) is supported: test_keywords
    (lambda x: np.sin(x, where=True), "where"),
    (lambda x: np.add(x, x, out=np.empty(2)), "out"),
])
def test_unsupported_keywords_raise_type_error(call: Any, fragment: str) -> None:
    with pytest.raises(TypeError, match=fragment):
        value_and_gradients_function(call)(np.ones(2))


def test_converting_a_traced_value_to_an_array_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot be converted to a NumPy array"):
        value_and_gradients_function(lambda x: np.asarray(x) * 2)(np.ones(2))


@pytest.mark.parametrize(("f", "what"), [
    (lambda x: x * 2 if x > 0 else x, "truth value"),
    (lambda x: x * float(x), "float value"),
    (lambda x: x * int(x), "int value"),
    (lambda x: x.numpy(), "the value"),
    (lambda x: x * x.shape[0], "shape"),
    (lambda x: [t for t in x], "shape"),
])
def test_symbolic_values_raise_tracing_error_naming_where(f: Any, what: str) -> None:
    with pytest.raises(TracingError) as info:
        trace(f, 1)
    assert what in str(info.value) and "np.where" in str(info.value)
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize(("x", "expected"), [(3.0, [6.0]), (-3.0, [-1.0]), (0.0, [-1.0])])
def test_eager_python_control_flow_follows_the_value(x: float, expected: list[float]) -> None:
    def f(x: Any) -> Any:
        if x > 0:
            return x * x
        return -x

    assert [float(g) for g in value_and_gradients_function(f)(x)[1]] == expected


def test_eager_loop_with_data_dependent_stop() -> None:
    def f(x: Any) -> Any:
        while np.sum(x) < 100:  # a comparison has no gradient: eagerly it is a plain value
            x = x * 2
        return x

    value, (dx,) = value_and_gradients_function(f)(3.0)
    assert float(value) == 192.0 and float(dx) == 64.0


def test_eager_tensor_exposes_value_shape_dtype_and_iteration() -> None:
    seen: dict[str, Any] = {}

    def f(x: Any) -> Any:
        seen.update(shape=x.shape, ndim=x.ndim, size=x.size, dtype=x.dtype, len=len(x),
                    np_shape=np.shape(x), np_ndim=np.ndim(x))
        return sum(row for row in x)  # iteration yields rows, sum starts from the int 0

    value, (dx,) = value_and_gradients_function(f)(np.ones((2, 3), np.float32))
    assert seen["shape"] == (2, 3) and seen["ndim"] == 2 and seen["size"] == 6 and seen["len"] == 2
    assert seen["dtype"] == np.float32 and seen["np_shape"] == (2, 3) and seen["np_ndim"] == 2
    np.testing.assert_array_equal(value, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(dx, np.ones((2, 3)))


def test_len_of_a_scalar_tensor_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="0-d"):
        value_and_gradients_function(lambda x: len(x))(1.0)


def test_tensors_are_unhashable_because_eq_is_elementwise() -> None:
    tape = Tape()
    t = Tensor(tape, tape.new_slot(np.ones(2)), np.ones(2))
    with pytest.raises(TypeError):
        hash(t)
    np.testing.assert_array_equal(t == t, [1.0, 1.0])  # no gradient: eagerly a plain array


def test_numpy_on_untraced_arrays_is_untouched() -> None:
    def f(x: Any) -> Any:
        return x * np.sort(np.array([3.0, 1.0]))[0]  # constants may use any NumPy function

    assert [float(g) for g in value_and_gradients_function(f)(2.0)[1]] == [1.0]


def test_repr_says_symbolic_or_shows_the_value() -> None:
    tape = Tape(symbolic=True)
    assert "symbolic" in repr(Tensor(tape, tape.new_slot(None), None))
    eager = Tape()
    assert "2.5" in repr(Tensor(eager, eager.new_slot(np.float64(2.5)), np.float64(2.5)))
