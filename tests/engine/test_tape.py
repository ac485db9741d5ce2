"""The tape: plans prune to the params-to-outputs slice, backward is iterative and frees cotangents."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from engine import value_and_gradients, value_and_gradients_function
from engine.graph import load_function
from engine.ir import Node
from engine.registry import Op
from engine.shapes import same
from engine.tape import Tape, backward, forward, make_plan
from tests.support import time_budget

CHAIN = 100_000


def counting_op(name: str, calls: list[str], arity: int = 1) -> Op:
    """An unregistered op: forward adds its inputs, each VJP logs its call and passes ``g`` through."""
    def vjp(i: int) -> Callable[..., Any]:
        def rule(g: Any, ans: Any, *xs: Any) -> Any:
            calls.append(f"{name}/{i}")
            return np.array(g, dtype=np.float64)  # a fresh (weak-referenceable) array per cotangent
        return rule
    return Op(name=name, forward=lambda *xs: sum(xs), vjps=tuple(vjp(i) for i in range(arity)), shape=same,
              arity=(arity, arity))


def test_plan_holds_only_nodes_between_params_and_outputs() -> None:
    graph = load_function({
        "inputs": ["x", "y"],
        "nodes": [
            {"id": "a", "op": "sin", "args": ["x"]},
            {"id": "dead", "op": "exp", "args": ["a"]},  # depends on x, reaches no output
            {"id": "b", "op": "cos", "args": ["y"]},  # reaches the output, does not depend on x
            {"id": "c", "op": "multiply", "args": ["a", "b"]},
            {"id": "d", "op": "less", "args": ["c", 1.0]},  # no gradient
            {"id": "e", "op": "where", "args": ["d", "c", "b"]},
        ],
        "outputs": "e",
    })
    plan = make_plan(graph.nodes, graph.outputs, [0])
    assert [(node.id, [i for i, _ in wanted]) for node, wanted in plan.steps] == [("e", [1]), ("c", [0]), ("a", [0])]
    both = make_plan(graph.nodes, graph.outputs, [0, 1])
    assert [(node.id, [i for i, _ in wanted]) for node, wanted in both.steps] == [
        ("e", [1, 2]), ("c", [0, 1]), ("b", [0]), ("a", [0])]
    assert make_plan(graph.nodes, graph.outputs, []).steps == ()


def test_backward_calls_only_the_vjps_the_plan_needs() -> None:
    calls: list[str] = []
    unary, binary = counting_op("u", calls), counting_op("b", calls, arity=2)
    # slots: 0 = x (param), 1 = y (not a param); 2 = u(x); 3 = u(y); 4 = b(2, 3); 5 = u(2) (dead); 6 = u(4)
    nodes = [Node(unary, (0,), {}, 2, {}, "ux"), Node(unary, (1,), {}, 3, {}, "uy"),
             Node(binary, (2, 3), {}, 4, {}, "b"), Node(unary, (2,), {}, 5, {}, "dead"),
             Node(unary, (4,), {}, 6, {}, "out")]
    env: list[Any] = [np.float64(1.0), np.float64(2.0), *([None] * 5)]
    forward(nodes, env)
    assert env[6] == 3.0
    grads = backward(make_plan(nodes, [6], [0]), env, {6: np.float64(1.0)}, [0])
    assert calls == ["u/0", "b/0", "u/0"] and float(grads[0]) == 1.0


def test_backward_frees_each_cotangent_once_consumed() -> None:
    refs: list[weakref.ref[np.ndarray]] = []
    alive: list[int] = []

    def tracked(g: Any, ans: Any, x: Any) -> Any:
        alive.append(sum(r() is not None for r in refs))  # cotangents made so far and still referenced
        out = np.array(g, dtype=np.float64)
        refs.append(weakref.ref(out))
        return out

    op = Op(name="t", forward=lambda x: x, vjps=(tracked,), shape=same)
    n = 300
    nodes = [Node(op, (i,), {}, i + 1, {}, f"n{i}") for i in range(n)]
    env: list[Any] = [np.ones(3), *([None] * n)]
    forward(nodes, env)
    grads = backward(make_plan(nodes, [n], [0]), env, {n: np.ones(3)}, [0])
    np.testing.assert_array_equal(grads[0], np.ones(3))
    # Without freeing, the count would grow to n - 1; with it, only the one being consumed is alive.
    assert len(alive) == n and max(alive) <= 1, max(alive)


def test_backward_releases_forward_values_no_vjp_still_needs() -> None:
    values_alive: list[int] = []
    refs: list[weakref.ref[np.ndarray]] = []

    def copy(x: Any) -> Any:
        out = np.array(x)
        refs.append(weakref.ref(out))
        return out

    def rule(g: Any, ans: Any, x: Any) -> Any:
        values_alive.append(sum(r() is not None for r in refs))
        return g

    op = Op(name="c", forward=copy, vjps=(rule,), shape=same)
    n = 50
    nodes = [Node(op, (i,), {}, i + 1, {}, f"n{i}") for i in range(n)]
    env: list[Any] = [np.ones(3), *([None] * n)]
    forward(nodes, env)
    out = env[n]  # the caller keeps the output it returns
    backward(make_plan(nodes, [n], [0]), env, {n: np.ones(3)}, [0])
    # While node k's VJP runs, the values of nodes after it are gone (except the caller's output).
    assert values_alive == [min(n, k + 2) for k in reversed(range(n))], values_alive
    assert out is not None


def test_fan_out_accumulates_cotangents() -> None:
    _, (dx,) = value_and_gradients_function(lambda x: x * x + x * 3.0 + np.sin(x))(2.0)
    assert float(dx) == pytest.approx(2 * 2.0 + 3.0 + np.cos(2.0), rel=1e-15)


def test_eager_tape_records_one_node_per_op_and_plain_values() -> None:
    tape = Tape()
    assert tape.new_slot(np.float64(2.0)) == 0
    from engine.tensor import Tensor
    x = Tensor(tape, 0, np.float64(2.0))
    y = np.sin(x) * 3.0
    assert [n.op.name for n in tape.nodes] == ["sin", "multiply"]
    assert float(y._value) == pytest.approx(3.0 * np.sin(2.0))
    assert tape.values[tape.nodes[1].args[1]] == 3.0  # the constant has its own slot


def test_nested_tapes_get_increasing_levels() -> None:
    outer, inner = Tape(), Tape()
    assert inner.level > outer.level


@pytest.mark.slow  # seconds per chain: `make test`
@pytest.mark.parametrize("mode", ["local", "graph"])
def test_a_100000_node_chain_needs_no_recursion(mode: str) -> None:
    with time_budget(30):  # generous: a sanity bound, not a benchmark
        if mode == "local":
            def f(x: Any) -> Any:
                for _ in range(CHAIN):
                    x = x * 0.99999
                return x
            value, (dx,) = value_and_gradients_function(f)(1.0)
        else:
            nodes = [{"id": f"n{i}", "op": "multiply", "args": [f"n{i - 1}" if i else "x", 0.99999]}
                     for i in range(CHAIN)]
            value, (dx,) = value_and_gradients({"inputs": ["x"], "nodes": nodes, "outputs": f"n{CHAIN - 1}"}, [1.0])
    assert float(value) == pytest.approx(0.99999 ** CHAIN, rel=1e-9)
    assert float(dx) == pytest.approx(0.99999 ** CHAIN, rel=1e-9)


def test_the_cached_plan_is_reused_across_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.evaluation

    made: list[Any] = []
    real = engine.evaluation.make_plan
    monkeypatch.setattr(engine.evaluation, "make_plan", lambda *a: made.append(a) or real(*a))
    graph = load_function({"inputs": ["x"], "expression": "sin(x) * x"})
    results = [value_and_gradients(graph, [float(v)])[1][0] for v in range(5)]
    assert len(made) == 1
    assert [float(r) for r in results] == pytest.approx([np.cos(v) * v + np.sin(v) for v in range(5)])


def test_per_graph_memos_stay_bounded_across_many_argument_shapes() -> None:
    graph = load_function({"inputs": ["x"], "expression": "sum(x * x)"})
    for n in range(1, 120):
        _, (dx,) = value_and_gradients(graph, [np.ones(n)])
        assert dx.shape == (n,) and float(dx[0]) == 2.0
    assert len(graph.checks) <= 64 and len(graph.plans) <= 64
