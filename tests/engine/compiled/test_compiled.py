"""The compiled tier against the interpreter: random fusible graphs, kinks, non-finite values, the tier's logic.

The interpreter is the reference. float64 answers agree to ``RTOL`` relative to the largest magnitude of
the compared array (arithmetic rounds identically; libm's transcendentals differ from NumPy's SIMD loops in
the last bits, and a gradient can amplify that), NaN and ±inf exactly, element by element. float32:
``RTOL32`` (float32 transcendentals are libm's ``expf``... against NumPy's own, 1-4 ulps each).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

pytest.importorskip("numba")

import engine
import engine.compiled as compiled
from engine.compiled.build import Options, agree, build, unit_seeds
from engine.compiled.tier import Settings, Tier
from engine.evaluation import plan_for
from engine.ops.ml import sigmoid
from engine.tracing import trace

pytestmark = pytest.mark.slow  # numba compiles a kernel in almost every test (~15 s in all): `make test`

RTOL = 1e-12
RTOL32 = 1e-5

UNARY: list[Callable[[Any], Any]] = [
    np.sin, np.cos, np.tanh, sigmoid, np.negative, np.square, np.absolute, np.sign, np.arctan,
    lambda a: np.exp(np.tanh(a)), lambda a: np.sqrt(np.abs(a)), lambda a: np.log1p(np.abs(a)),
    lambda a: np.log(np.abs(a)), lambda a: np.clip(a, -0.5, 0.75), lambda a: a ** 2, lambda a: np.expm1(np.tanh(a)),
    lambda a: 1.0 / a, lambda a: np.sinh(np.tanh(a)), lambda a: np.cosh(np.tanh(a)), np.reciprocal,
]
BINARY: list[Callable[[Any, Any], Any]] = [
    np.add, np.subtract, np.multiply, np.divide, np.maximum, np.minimum, np.logaddexp,
    lambda a, b: np.where(a > b, a, b), lambda a, b: np.where(a <= b, a * b, a - b),
    lambda a, b: a * (a == b), lambda a, b: np.power(np.abs(a) + 0.5, np.tanh(b)),
]


def _random_function(rng: np.random.Generator, n_ops: int, reduce: str | None) -> Callable[..., Any]:
    """A random DAG over three inputs (two full-shaped, one scalar) of unary and binary fusible ops."""
    steps = []  # (unary?, op, first operand, second operand), operands counted back from the newest value
    for _ in range(n_ops):
        unary = bool(rng.random() < 0.45)
        op = int(rng.integers(len(UNARY) if unary else len(BINARY)))
        steps.append((unary, op, 1 + int(rng.integers(4)), 1 + int(rng.integers(4))))

    def f(x: Any, y: Any, s: Any) -> Any:
        vals = [x, y, s, x * 0.5]
        for unary, op, i, j in steps:
            vals.append(UNARY[op](vals[-i]) if unary else BINARY[op](vals[-i], vals[-j]))
        out = vals[-1] + vals[-2] * 0.25
        return np.sum(out) if reduce == "sum" else np.mean(out) if reduce == "mean" else out

    return f


def _inputs(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any) -> list[Any]:
    """Normal values sprinkled with the interesting ones: 0, ties, ±1, NaN and ±inf."""
    special = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 0.75, np.nan, np.inf, -np.inf])
    x = rng.standard_normal(shape)
    y = rng.standard_normal(shape)
    mask = rng.random(shape) < 0.2
    x[mask] = rng.choice(special, mask.sum())
    y[rng.random(shape) < 0.15] = 0.0
    tie = rng.random(shape) < 0.15
    y[tie] = x[tie]  # maximum/minimum/where ties
    return [x.astype(dtype), y.astype(dtype), dtype(rng.standard_normal())]


def _compare(f: Callable[..., Any], xs: list[Any], rtol: float, **options: Any) -> None:
    graph = engine.load_function(trace(f, len(xs)).graph)
    positions, plan = plan_for(graph, None)
    runner = build(graph, positions, plan, xs, Options(**options))
    assert runner is not None and runner.regions, "expected something to fuse"
    want_value, want_grads = engine.value_and_gradients(graph, xs)
    with np.errstate(all="ignore"):
        values, grads = runner.run(xs, lambda vs: unit_seeds(vs, graph.outputs))
    assert agree(want_value, values[0], rtol=rtol), (want_value, values[0])
    for w, g in zip(want_grads, grads, strict=True):
        assert agree(w, g, rtol=rtol), np.c_[np.ravel(w), np.ravel(g)] if np.size(w) < 50 else (w, g)


@pytest.mark.parametrize("seed", range(8))
def test_random_graphs_match_the_interpreter_float64(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reduce = (None, "sum", "mean")[seed % 3]
    _compare(_random_function(rng, 6 + seed, reduce), _inputs(rng, (4, 5), np.float64), RTOL)


def test_random_graph_float32() -> None:
    rng = np.random.default_rng(11)
    _compare(_random_function(rng, 8, "sum"), _inputs(rng, (7,), np.float32), RTOL32)


def test_parallel_kernel_and_pairwise_sum_bitwise() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(5000)

    def f(x: Any) -> Any:
        return np.sum(x * x * 0.5 - x * 3.0 + np.maximum(x, 0.1))  # no transcendental: bitwise equal

    graph = engine.load_function(trace(f, 1).graph)
    positions, plan = plan_for(graph, None)
    runner = build(graph, positions, plan, [x], Options(threads=2, parallel_min=64))
    assert runner is not None and runner.regions[0].parallel
    values, grads = runner.run([x], lambda vs: unit_seeds(vs, graph.outputs))
    want_value, want_grads = engine.value_and_gradients(graph, [x])
    assert values[0] == want_value and np.array_equal(grads[0], want_grads[0])


@pytest.mark.parametrize(("f", "x"), [
    (lambda x: np.sum(np.maximum(x, x * 1.0) * 2.0), [1.0, -2.0]),  # a tie sends all of g to x
    (lambda x: np.sum(np.abs(x) * 3.0), [0.0, -0.0, 2.0]),  # abs'(0) = 0
    (lambda x: np.sum(np.sqrt(x) + x), [0.0, 4.0]),  # sqrt'(0) = inf
    (lambda x: np.sum(np.clip(x, 0.0, 1.0) * 2.0), [0.0, 1.0, 1.5, -1.0]),  # clip's bounds pass the gradient
    (lambda x: np.sum(np.log(x) * 2.0), [0.0, -1.0, np.nan, np.inf]),  # log: -inf, NaN, NaN, inf
    (lambda x: np.sum(np.power(x, 0.5) * 2.0), [0.0, -1.0, 4.0]),  # d/dy of power: 0 where x <= 0
    (lambda x: np.sum(np.logaddexp(x, x * 1.0) * 1.0), [-np.inf, np.inf, 0.0]),  # equal args, infinities
])
def test_kinks_and_non_finite(f: Callable[..., Any], x: list[float]) -> None:
    _compare(f, [np.array(x)], RTOL)


def test_scalar_chain_is_one_kernel_and_exact() -> None:
    def chain(x: Any) -> Any:
        for _ in range(50):
            x = np.sin(x) * 0.5 + x * 0.25
        return x

    _compare(chain, [np.float64(0.3)], RTOL)


def test_mixed_graph_keeps_unfusible_ops_on_the_interpreter() -> None:
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))

    def f(x: Any, w: Any) -> Any:
        h = np.tanh(x * 2.0 + 1.0) @ w  # matmul is not fusible: two regions around it
        return np.sum(np.exp(-h * h) * h)

    _compare(f, [x, w], RTOL)


def _wait(condition: Callable[[], bool], seconds: float = 120.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_tier_compiles_in_the_background_and_swaps_in() -> None:
    tier = Tier(Settings(enabled=True, threshold=3, threads=1))
    graph = engine.load_function(trace(lambda x: np.sum(np.tanh(x) * x), 1).graph)
    positions, plan = plan_for(graph, None)
    xs = [np.linspace(-2, 2, 11)]
    assert [tier.lookup(graph, positions, plan, xs) for _ in range(3)] == [None] * 3  # cold calls never wait
    assert _wait(lambda: tier.lookup(graph, positions, plan, xs) is not None)
    runner = tier.lookup(graph, positions, plan, xs)
    assert runner is not None and tier.counters()["compiles"] == 1
    assert tier.lookup(graph, positions, plan, [np.zeros(3)]) is None  # another signature: counted afresh


def test_compile_failure_falls_back_logs_once_and_counts(monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    import engine.compiled.tier as tier_module

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("compiler exploded")

    monkeypatch.setattr(tier_module, "build", broken)
    tier = Tier(Settings(enabled=True, threshold=1))
    positions_xs = [np.ones(3)]
    for k in range(2):
        graph = engine.load_function(trace(lambda x, k=k: np.sum(np.sin(x) * (k + 1.0)), 1).graph)
        positions, plan = plan_for(graph, None)
        assert tier.lookup(graph, positions, plan, positions_xs) is None
        assert _wait(lambda k=k: tier.counters()["compile_failures"] == k + 1)
        assert tier.lookup(graph, positions, plan, positions_xs) is None
    assert len([r for r in caplog.records if "compiler exploded" in r.getMessage()]) == 1


def test_without_numba_nothing_is_compiled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "_AVAILABLE", False)
    graph = engine.load_function(trace(lambda x: np.sum(np.sin(x) * x), 1).graph)
    positions, plan = plan_for(graph, None)
    assert compiled.tiered(graph, positions, plan, [np.ones(3)]) is None
    assert compiled.counters()["available"] == 0.0


def test_the_engine_never_imports_numba() -> None:
    code = ("import sys, engine, engine.compiled, engine.evaluation; "
            "assert 'numba' not in sys.modules, 'numba imported eagerly'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_library_process_compiles_nothing_unless_asked() -> None:
    assert Settings().enabled is False  # the service enables the tier; an embedded caller opts in


def test_generated_source_holds_no_client_text(monkeypatch: pytest.MonkeyPatch) -> None:
    # Kernels are Python source compiled in-process: only registry rule templates, slot numbers and
    # repr(float) constants may reach it, never a client's ids or names.
    import engine.compiled.build as build_module

    sources: list[str] = []
    real = build_module.load_source

    def recording(source: str, cache_dir: str | None) -> dict[str, Any]:
        sources.append(source)
        return real(source, cache_dir)

    monkeypatch.setattr(build_module, "load_source", recording)
    marker = "ZZ_client_id_9f3"
    graph = engine.load_function({"inputs": [marker], "nodes": [
        {"id": marker + "_a", "op": "tanh", "args": [marker]},
        {"id": marker + "_b", "op": "multiply", "args": [marker + "_a", 1e300]},
        {"id": marker + "_c", "op": "exp", "args": [marker + "_b"]},
        {"id": marker + "_d", "op": "sum", "args": [marker + "_c"]}], "outputs": marker + "_d"})
    positions, plan = plan_for(graph, None)
    compiled.compile_now(graph, positions, plan, [np.linspace(-1, 1, 5)])
    assert sources and all(marker not in src for src in sources)
