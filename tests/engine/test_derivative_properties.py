"""Property: on random small programs, jvp = J v, vjp = u J and hvp = H v, with J and H from valgrad itself,
and J against central differences; also the graph-level services (abstract eval, gradient checks, batches)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from test_properties import interpreter, programs

import engine
from engine.derivatives import hessian_function, hvp_function, value_and_jacobian_function, value_and_jvp_function


def _flat(blocks: list[Any], arrays: list[np.ndarray], out_size: int) -> np.ndarray:
    """Blocks over params (each out.shape + param.shape, None = zero) as one (out_size, n_in) matrix."""
    cols = [np.zeros((out_size, a.size)) if b is None else np.reshape(b, (out_size, a.size))
            for b, a in zip(blocks, arrays, strict=True)]
    return np.concatenate(cols, axis=1)


def _as_list(x: Any) -> list[Any]:
    return list(x) if isinstance(x, list | tuple) else [x]


@settings(max_examples=40, deadline=None)
@given(programs())
def test_jvp_vjp_and_jacobian_agree(program: Any) -> None:
    steps, args, outputs, as_list = program
    f = interpreter(steps, outputs, as_list)
    rng = np.random.default_rng(1)
    value, jac = value_and_jacobian_function(f, unconnected_gradients="zero")(*args)
    values, jacs = _as_list(value), (jac if as_list else [jac])
    n_out = sum(np.size(v) for v in values)
    J = np.concatenate([_flat(j, args, np.size(v)) for j, v in zip(jacs, values, strict=True)], axis=0)
    tangents = [rng.standard_normal(np.shape(a)) for a in args]
    _, jvp = value_and_jvp_function(f, unconnected_gradients="zero")(*args, tangents=tangents)
    flat_t = np.concatenate([t.ravel() for t in tangents])
    assert np.allclose(np.concatenate([np.ravel(j) for j in _as_list(jvp)]), J @ flat_t, atol=1e-8)
    u = [rng.standard_normal(np.shape(v)) for v in values]
    _, grads = engine.value_and_gradients_function(f, unconnected_gradients="zero")(
        *args, dy=u if as_list else u[0])
    flat_u = np.concatenate([np.ravel(x) for x in u])
    assert np.allclose(np.concatenate([np.ravel(g) for g in grads]), flat_u @ J, atol=1e-8)
    eps = 1e-6
    numeric = [(np.concatenate([np.ravel(v) for v in _as_list(f(*[a + eps * t for a, t in zip(args, tangents,
                                                                                            strict=True)]))])
                - np.concatenate([np.ravel(v) for v in _as_list(f(*[a - eps * t for a, t in zip(args, tangents,
                                                                                               strict=True)]))]))
               / (2 * eps)]
    where = np.isfinite(numeric[0])
    assert np.allclose(numeric[0][where], (J @ flat_t)[where], atol=1e-4, rtol=1e-4) or n_out == 0


@settings(max_examples=30, deadline=None)
@given(programs())
def test_hvp_is_hessian_times_vector(program: Any) -> None:
    steps, args, outputs, as_list = program
    f = interpreter(steps, outputs, as_list)
    _, grads, hess = hessian_function(f, unconnected_gradients="zero")(*args)
    n = [np.size(a) for a in args]
    H = np.block([[np.reshape(hess[i][j], (n[i], n[j])) for j in range(len(args))] for i in range(len(args))])
    v = [np.random.default_rng(2).standard_normal(np.shape(a)) for a in args]
    _, grads2, hvps = hvp_function(f, unconnected_gradients="zero")(*args, vectors=v)
    flat_v = np.concatenate([x.ravel() for x in v])
    assert np.allclose(np.concatenate([np.ravel(h) for h in hvps]), H @ flat_v, atol=1e-8)
    assert all(np.allclose(a, b) for a, b in zip(grads, grads2, strict=True))


G = {"inputs": ["x", "y"], "expression": "sum(tanh(x) * y)"}


def test_abstract_eval_gives_shapes_dtypes_and_cost_without_data():
    out = engine.abstract_eval(G, {"x": {"dtype": "float32", "shape": [3]}, "y": {"dtype": "float32", "shape": [3]}},
                               params=["y"])
    assert out["outputs"] == [{"dtype": "float32", "shape": []}]
    assert out["gradients"] == [{"dtype": "float32", "shape": [3]}] and out["params"] == ["y"]
    assert out["cost"]["flops"] > 0 and out["cost"]["bytes"] == 4 * out["cost"]["elements"]


@pytest.mark.parametrize(("spec", "words"), [
    ({"dtype": "int64", "shape": [3]}, 'dtype must be "float64" or "float32"'),
    ({"dtype": "float32", "shape": [3.0]}, "shape must be a list of integer sizes"),
    ({"dtype": "float32"}, "an abstract argument is"),
])
def test_abstract_eval_refuses_specs_that_are_not_shapes_and_float_dtypes(spec: dict, words: str) -> None:
    with pytest.raises(engine.ArgumentError, match=words) as info:
        engine.abstract_eval(G, [spec, {"shape": [3]}])
    assert info.value.pointer is not None and info.value.pointer.startswith("/args/0")


def test_check_gradients_reports_per_param():
    report = engine.check_gradients(G, [np.ones(3), np.arange(3.0)], directions=3)
    assert report["ok"] and report["params"] == ["x", "y"] and report["directions"] == 3
    assert max(report["max_abs_error"]) < 1e-6


def test_batch_items_fail_independently_and_admission_is_whole():
    batch = engine.prepare_batch(G, [{"args": [np.ones(3), np.ones(3)]}, {"args": [np.ones(2), np.ones(3)]},
                                     {"args": [np.ones(3), np.ones(3)], "params": ["y"]}])
    first, second, third = batch.run()
    assert np.isclose(first[0], 3 * np.tanh(1.0)) and first[2] == ["x", "y"]
    assert isinstance(second, engine.ShapeError) and third[2] == ["y"]
    limits = engine.Limits(max_flops=2_000)
    try:
        engine.prepare_batch(G, [{"args": [np.ones(3), np.ones(3)]}] * 10, limits=limits)
    except engine.TooExpensiveError:
        pass
    else:
        raise AssertionError("a batch over the FLOP limit was admitted")
