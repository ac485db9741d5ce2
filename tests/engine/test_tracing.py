"""Symbolic tracing: f -> JSON graph -> load_function -> value_and_gradients equals the eager result."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from engine import ShapeError, TracingError, load_function, trace, value_and_gradients, value_and_gradients_function
from engine.tracing import input_names
from tests.support import SEED_ARGS, seed

RNG = np.random.default_rng(3)
A = RNG.standard_normal((2, 3))
B = RNG.standard_normal((3, 4))
V = RNG.standard_normal(3)
C = np.arange(3.0)

FUNCTIONS: list[tuple[str, Any, list[Any]]] = [
    ("seed", seed, SEED_ARGS),
    ("mlp", lambda w, x: np.sum(np.tanh(x @ w)), [B, A]),
    ("broadcast", lambda x, v: np.exp(-(x - v) ** 2).sum(axis=0), [A, V]),
    ("captured constants", lambda x: x * C + np.array([[1.0], [2.0]]) / 2, [A]),
    ("int and bool constants", lambda x: x * np.array([1, 2, 3]) + np.array([True, False, True]), [V]),
    ("list constants", lambda x: np.sum(x ** [1, 2, 3] * [3.0, 4.0, 5.0]) - (1, 2, 3) @ x, [np.abs(V) + 0.5]),
    ("scalar constants", lambda x: 2 ** x - 1 / x + x ** 2.5, [np.abs(V) + 0.5]),
    ("non-finite constant", lambda x: np.minimum(x, np.inf) + np.maximum(x, -np.inf), [V]),
    ("getitem and transpose", lambda x: x[1, ::-1] * x.T[:, 0], [A]),
    ("reductions", lambda x: x.max(axis=1) + x.mean() - np.linalg.norm(x, axis=0).sum(), [A]),
    ("where", lambda x: np.where(x > 0, np.sqrt(np.abs(x) + 1), x * 0.5), [A]),
    ("softmax", lambda x: np.sum(np.exp(x - np.max(x, axis=-1, keepdims=True)) ** 2), [A]),
    ("list output", lambda x, y: [x * y, x + y], [A, V]),
    ("tuple output", lambda x, y: (np.sin(x), np.cos(y)), [A, V]),
    ("dict output", lambda x, y: {"z": x - y, "a": x * 2.0}, [A, V]),
    ("nested output", lambda x: {"p": [x, x * x], "q": (np.sum(x),)}, [A]),
    ("single-item list", lambda x: [np.sum(x * x)], [A]),
    ("output is an input", lambda x, y: [x, y * 2], [V, 1.5]),
    ("constant output", lambda x: [x * 2, np.ones(2)], [V]),
    ("unused argument", lambda x, y: x * 3.0, [V, A]),
    ("float32 stays float32", lambda x, y: x * 0.5 + y ** 2 - 1, [np.ones(3, np.float32), np.float32(2)]),
    ("stack and concatenate", lambda x: np.concatenate([np.stack([x, -x]), x[None]], axis=0), [V]),
]


def flat(tree: Any) -> list[Any]:
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in flat(tree[k])]
    if isinstance(tree, list | tuple):
        return [leaf for t in tree for leaf in flat(t)]
    return [tree]


def assert_same(got: Any, want: Any) -> None:
    assert len(flat(got)) == len(flat(want))
    for g, w in zip(flat(got), flat(want), strict=True):
        assert (g is None) == (w is None)
        if w is not None:
            assert np.shape(g) == np.shape(w) and np.asarray(g).dtype == np.asarray(w).dtype
            np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(("name", "f", "args"), FUNCTIONS, ids=[c[0] for c in FUNCTIONS])
def test_traced_graph_gives_the_eager_value_and_gradients(name: str, f: Any, args: list[Any]) -> None:
    want_value, want_grads = value_and_gradients_function(f)(*args)
    traced = trace(f, len(args))
    graph = load_function(json.loads(json.dumps(traced.graph)))  # it survives the wire
    assert graph.id == traced.function_id  # the tracer knows the id the service will give it
    value, grads = value_and_gradients(graph, args)
    rebuilt = traced.rebuild(value if traced.structured else [value])
    assert type(rebuilt) is type(want_value)
    assert_same(rebuilt, want_value)
    assert_same(grads, want_grads)
    again_value, again_grads = value_and_gradients(graph, args)  # through the cached plan
    assert_same(again_grads, want_grads)
    assert_same(again_value, value)


@pytest.mark.parametrize(("name", "f", "args"), FUNCTIONS[:6], ids=[c[0] for c in FUNCTIONS[:6]])
def test_traced_graph_agrees_for_other_params_and_dy(name: str, f: Any, args: list[Any]) -> None:
    graph = load_function(trace(f, len(args)).graph)
    value = value_and_gradients_function(f)(*args)[0]
    dy = RNG.standard_normal(np.shape(value))
    for params in ([0], [-1], [1, 0] if len(args) > 1 else [0, 0]):
        want = value_and_gradients_function(f, params)(*args, dy=dy)[1]
        assert_same(value_and_gradients(graph, args, params, dy)[1], want)


def test_trace_records_inputs_by_parameter_name() -> None:
    traced = trace(lambda weights, x: weights @ x, 2)
    assert traced.input_names == ["weights", "x"]
    graph = load_function(traced.graph)
    assert graph.input_names == ["weights", "x"]
    assert value_and_gradients(graph, {"x": V, "weights": A}, ["x"])[1][0].shape == (3,)


def test_trace_names_inputs_of_varargs_functions() -> None:
    traced = trace(lambda *xs: xs[0] * xs[1] + xs[2], 3)
    assert traced.input_names == ["x0", "x1", "x2"]
    assert trace(lambda x2, *rest: x2 * rest[0], 2).input_names == ["x2", "x1"]


@pytest.mark.parametrize(("names", "n", "expected"), [
    (["a", "b"], 2, ["a", "b"]),
    (["a"], 3, ["a", "x1", "x2"]),
    (["x1"], 2, ["x1", "x3"]),
    (["a", "b", "c"], 2, ["a", "b"]),
    (["\N{GREEK SMALL LETTER ALPHA}", "b"], 2, ["x0", "b"]),
    (["_" * 200], 1, ["x0"]),
])
def test_input_names_are_valid_unique_ids(names: list[str], n: int, expected: list[str]) -> None:
    assert input_names(names, n) == expected


def test_node_ids_never_collide_with_input_names() -> None:
    graph = trace(lambda n0, n1, n2: np.sin(n0) * n1 + n2, 3).graph
    ids = [i["name"] for i in graph["inputs"]] + [node["id"] for node in graph["nodes"]]
    assert len(ids) == len(set(ids))
    assert float(value_and_gradients(graph, [0.0, 1.0, 2.0])[0]) == 2.0


def test_dead_code_is_not_serialised() -> None:
    def f(x: Any) -> Any:
        np.exp(x) * 3  # computed and dropped
        return np.sin(x)

    assert [node["op"] for node in trace(f, 1).graph["nodes"]] == ["sin"]


@pytest.mark.parametrize("f", [
    lambda x: x if x > 0 else -x,
    lambda x: x * 2 if np.sum(x) else x,
    lambda x: np.ones(x.shape),
    lambda x: float(x) * x,
    lambda x: [x * i for i in range(len(x))],
    lambda x: x * 2 if x.numpy() > 0 else x,
])
def test_control_flow_on_values_raises_tracing_error(f: Any) -> None:
    with pytest.raises(TracingError, match=r"np\.where"):
        trace(f, 1)


def test_returning_none_is_refused_while_tracing() -> None:
    with pytest.raises(ValueError, match="returns None"):
        trace(lambda x: None, 1)


def test_capturing_a_value_of_an_enclosing_gradient_is_refused() -> None:
    def outer(y: Any) -> Any:
        trace(lambda x: x * y, 1)
        return y

    with pytest.raises(TracingError, match="enclosing gradient"):
        value_and_gradients_function(outer)(1.0)


def test_non_numeric_constants_are_refused() -> None:
    with pytest.raises(TracingError, match="dtype"):
        trace(lambda x: [x, "text"], 1)


def test_a_signature_trace_knows_shapes_and_dtypes_as_jax_jit_does() -> None:
    seen: dict[str, Any] = {}

    def f(x: Any, w: Any) -> Any:
        seen.update(shape=x.shape, ndim=x.ndim, len=len(x), dtype=w.dtype, out=(x @ w).shape)
        return np.sum(np.tanh(x @ w)) / x.shape[0]

    traced = trace(f, 2, [((4, 3), "float64"), ((3, 2), "float32")])
    assert seen == {"shape": (4, 3), "ndim": 2, "len": 4, "dtype": np.float32, "out": (4, 2)}
    assert traced.graph["inputs"] == [{"name": "x", "dtype": "float64", "shape": [4, 3]},
                                      {"name": "w", "dtype": "float32", "shape": [3, 2]}]


def test_a_signature_trace_records_lists_of_scalars_and_refuses_mismatched_shapes_early() -> None:
    traced = trace(lambda a, b: np.sum(np.array([a, b * a]) ** 2), 2, [((), "float64"), ((), "float64")])
    value, _ = value_and_gradients(load_function(traced.graph), [1.5, 2.0])
    assert float(value) == pytest.approx(1.5 ** 2 + 3.0 ** 2)
    with pytest.raises(ShapeError, match="matmul"):
        trace(lambda x: x @ x, 1, [((2, 3), "float64")])
