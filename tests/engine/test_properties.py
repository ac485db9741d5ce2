"""Property: random small programs give one answer through eager tracing, symbolic tracing -> JSON -> parse,
and the cached plan."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import load_function, trace, value_and_gradients, value_and_gradients_function
from engine.ops import sigmoid

SHAPES = [(), (3,), (1, 3), (2, 1), (2, 3)]  # pairwise broadcastable, rank mismatch included
UNARY = {
    "sin": np.sin, "cos": np.cos, "tanh": np.tanh, "arctan": np.arctan, "sigmoid": sigmoid,
    "neg": lambda a: -a, "square": lambda a: a * a, "abs": np.abs, "exp_neg_sq": lambda a: np.exp(-a * a),
    "sum0": lambda a: np.sum(a, axis=0, keepdims=True),  # only drawn for values of rank >= 1
}
BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (1.5 + b * b), "max": np.maximum, "min": np.minimum,
    "where": lambda a, b: np.where(a > b, a * 2.0, b), "logaddexp": np.logaddexp,
    "const": lambda a, b: a * 0.5 + 1.0,
}

Step = tuple[str, int, int]


@st.composite
def programs(draw: Any) -> tuple[list[Step], list[np.ndarray], list[int], bool]:
    """(steps, args, outputs, as_list): step k applies an op to earlier values (inputs come first)."""
    n_inputs = draw(st.integers(1, 3))
    shapes = [draw(st.sampled_from(SHAPES)) for _ in range(n_inputs)]
    # The program's bits drive the values too, so hypothesis shrinks both together.
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    args = [rng.uniform(-2, 2, size=s) for s in shapes]
    steps: list[Step] = []
    ranks = [len(s) for s in shapes]
    for k in range(draw(st.integers(1, 8))):
        available = n_inputs + k
        name = draw(st.sampled_from(sorted(UNARY) + sorted(BINARY)))
        i, j = draw(st.integers(0, available - 1)), draw(st.integers(0, available - 1))
        if name == "sum0" and ranks[i] == 0:
            name = "neg"
        steps.append((name, i, j))
        ranks.append(ranks[i] if name in UNARY or name == "const" else max(ranks[i], ranks[j]))
    total = n_inputs + len(steps)
    outputs = draw(st.lists(st.integers(n_inputs, total - 1), min_size=1, max_size=3))
    return steps, args, outputs, draw(st.booleans()) or len(outputs) > 1


def interpreter(steps: list[Step], outputs: list[int], as_list: bool) -> Any:
    """A plain NumPy function that runs ``steps``."""
    def f(*xs: Any) -> Any:
        values = list(xs)
        for name, i, j in steps:
            values.append(UNARY[name](values[i]) if name in UNARY else BINARY[name](values[i], values[j]))
        outs = [values[o] for o in outputs]
        return outs if as_list else outs[0]
    return f


def close(got: Any, want: Any) -> None:
    got_list = got if isinstance(got, list) else [got]
    want_list = want if isinstance(want, list) else [want]
    assert len(got_list) == len(want_list)
    for g, w in zip(got_list, want_list, strict=True):
        assert (g is None) == (w is None)
        if w is not None:
            assert np.shape(g) == np.shape(w)
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(programs())
def test_eager_symbolic_and_cached_plan_agree(program: tuple[list[Step], list[np.ndarray], list[int], bool]) -> None:
    steps, args, outputs, as_list = program
    f = interpreter(steps, outputs, as_list)
    eager_value, eager_grads = value_and_gradients_function(f)(*args)
    graph = load_function(json.loads(json.dumps(trace(f, len(args)).graph)))
    for _ in range(2):  # the second call runs the cached static check and plan
        value, grads = value_and_gradients(graph, args)
        close(value, eager_value)
        close(grads, eager_grads)


@settings(max_examples=30, deadline=None)
@given(programs(), st.data())
def test_params_subsets_and_dy_agree(program: tuple[list[Step], list[np.ndarray], list[int], bool],
                                     data: st.DataObject) -> None:
    steps, args, outputs, as_list = program
    f = interpreter(steps, outputs, as_list)
    params = data.draw(st.lists(st.integers(-len(args), len(args) - 1), max_size=3))
    value, _ = value_and_gradients_function(f)(*args)
    rng = np.random.default_rng(len(steps))
    dy = [rng.standard_normal(np.shape(v)) for v in value] if as_list else rng.standard_normal(np.shape(value))
    _, eager = value_and_gradients_function(f, params, unconnected_gradients="zero")(*args, dy=dy)
    graph = load_function(trace(f, len(args)).graph)
    close(value_and_gradients(graph, args, params, dy, unconnected_gradients="zero")[1], eager)
