"""Costs that price what really runs (issue 10): backward pass, einsum paths, temporaries, every dimension."""

from __future__ import annotations

import re
import string
import tracemalloc
from typing import Any

import numpy as np
import pytest

from engine.codec import decode_tensor
from engine.costs import ELEMENT_FLOPS, PYTHON_STEP_FLOPS
from engine.errors import EngineError, ShapeError, TooExpensiveError, TooLargeError
from engine.evaluation import prepare, value_and_gradients
from engine.graph import load_function
from engine.ops.einsum import EINSUM_FLOP, path_cost, plan
from engine.registry import OPS
from engine.static import infer
from tests.support import time_budget

BIG = 2**24
HUGE = 4611686018427387904  # 2**62: [HUGE, HUGE, 0] has no elements, and NumPy cannot describe it


def expr(inputs: list[str], expression: str) -> dict[str, Any]:
    return {"inputs": inputs, "expression": expression}


def chain(n: int) -> tuple[dict[str, Any], list[np.ndarray]]:
    """einsum('ab,bc,cd,...->') over n 2x2 operands: NumPy's unoptimised loop is 2**(n+1) steps."""
    letters = string.ascii_letters
    subscripts = ",".join(letters[i] + letters[i + 1] for i in range(n)) + "->"
    names = [f"x{i}" for i in range(n)]
    rng = np.random.default_rng(0)
    return expr(names, f"einsum('{subscripts}', {', '.join(names)})"), [rng.uniform(0.4, 0.6, (2, 2)) for _ in names]


# -- defect 1: einsum's VJP runs (and is priced on) NumPy's greedy path ----------------------------------


@pytest.mark.parametrize("n", [20, 30, 31])
def test_an_einsum_chain_and_its_gradient_run_in_milliseconds(n: int) -> None:
    """N=30 took about an hour: each VJP looped over every index combination (no optimize)."""
    f, args = chain(n)
    with time_budget(5):  # ~0.2 s on a busy two-core machine; 2**31 steps before
        ev = prepare(f, args)
        value, grads = ev.run()
    assert ev.info.flops < 2 * 10**9
    assert np.isfinite(value) and all(g.shape == (2, 2) for g in grads)


def test_an_einsum_chain_gradient_is_the_matrix_chain_rule() -> None:
    """value = 1' X0 X1 ... X5 1, so the gradient of Xi is (1' X0..X(i-1))' (X(i+1)..X5 1)'."""
    f, args = chain(6)
    value, grads = value_and_gradients(f, args)
    one = np.ones(2)
    np.testing.assert_allclose(value, one @ np.linalg.multi_dot(args) @ one)
    for i in range(6):
        left = one @ np.linalg.multi_dot([np.eye(2), np.eye(2), *args[:i]])
        right = np.linalg.multi_dot([*args[i + 1:], np.eye(2), np.eye(2)]) @ one
        np.testing.assert_allclose(grads[i], np.outer(left, right))


@pytest.mark.parametrize("subscripts, shapes", [
    ("ab,bc,cd->ad", [(30, 40), (40, 50), (50, 20)]),
    ("ij,jk,kl,lm,mn->", [(8, 9), (9, 10), (10, 11), (11, 12), (12, 13)]),
    ("abc,cd,de->abe", [(4, 5, 6), (6, 7), (7, 8)]),
])
def test_the_einsum_cost_is_numpys_own_optimised_flop_count(subscripts: str, shapes: list[tuple[int, ...]]) -> None:
    terms, out, sizes = plan(subscripts, shapes)
    flops, _ = path_cost(tuple(terms), out, tuple(sorted(sizes.items())))
    report = np.einsum_path(subscripts, *[np.ones(s) for s in shapes], optimize="greedy")[1]
    numpy_flops = float(re.search(r"Optimized FLOP count:\s*([0-9.e+]+)", report).group(1))  # type: ignore[union-attr]
    search = PYTHON_STEP_FLOPS * len(shapes) ** 3
    assert (flops - search) / EINSUM_FLOP == pytest.approx(numpy_flops, rel=1e-3)


def test_the_static_pass_of_a_31_operand_einsum_is_bounded() -> None:
    f, args = chain(31)
    graph = load_function(f)
    with time_budget(5):  # ~0.2 s: 32 greedy path searches of 31 operands
        infer(graph, [a.shape for a in args], [a.dtype for a in args])


# -- defects 2 and 5: the backward pass and its temporaries are priced -------------------------------------


def test_many_max_reductions_over_a_broadcast_view_are_refused_up_front() -> None:
    """broadcast_to(a, [2**24]) feeding 1,100 max reductions ran 314 s under an estimate of just under 2e10."""
    k = 1100
    nodes = [{"id": "b", "op": "broadcast_to", "args": ["a"], "attrs": {"shape": [BIG]}},
             *({"id": f"m{i}", "op": "max", "args": ["b"]} for i in range(k)),
             {"id": "s", "op": "stack", "args": [f"m{i}" for i in range(k)]},
             {"id": "t", "op": "sum", "args": ["s"]}]
    with time_budget(2), pytest.raises(TooExpensiveError) as info:
        prepare({"inputs": ["a"], "nodes": nodes, "outputs": "t"}, [1.0])
    assert "forward and gradients" in info.value.message


def test_chained_powers_over_2_24_elements_are_refused() -> None:
    """Six chained power nodes over 2**24 elements took 6 s and 1.2 GB."""
    graph = load_function(expr(["x"], "sum(((((((x ** x) ** x) ** x) ** x) ** x) ** x))"))
    with pytest.raises(TooExpensiveError):
        infer(graph, [(BIG,)], ["float64"])


def test_prod_after_six_multiplies_is_refused_for_its_temporaries() -> None:
    """Measured peak 1.59 GB against 8 bytes x max_total_elements (1.07 GB); the forward alone fits."""
    graph = load_function(expr(["x"], "prod(x * x * x * x * x * x * x)"))
    with pytest.raises(TooExpensiveError) as info:
        infer(graph, [(BIG,)], ["float64"])
    assert "(prod) needs temporaries" in info.value.message and info.value.pointer == "/nodes/6"


def test_the_backward_pass_is_priced() -> None:
    graph = load_function(expr(["x"], "sin(x)"))
    info = infer(graph, [(1000,)], ["float64"])
    assert info.forward_flops == 9 * ELEMENT_FLOPS * 1000  # sin is ~9 adds
    assert info.flops > 2 * info.forward_flops
    comparison = infer(load_function(expr(["x"], "x > 0")), [(1000,)], ["float64"])
    assert comparison.flops == comparison.forward_flops  # no gradient, no backward cost


HEAVY = [
    ("prod", "prod(x)", [(1 << 16,)]),
    ("max over a broadcast view", "max(broadcast_to(x, shape=[256, 256]))", [(256,)]),
    ("power", "sum(x ** y)", [(256, 256), (256, 256)]),
    ("einsum", "sum(einsum('ab,bc,cd->ad', x, y, x))", [(256, 256), (256, 256)]),
    ("softmax", "sum(softmax(x) * y)", [(256, 256), (256, 256)]),
    ("stack", "sum(stack([x, y, x, y]))", [(256, 256), (256, 256)]),
    ("logaddexp", "sum(logaddexp(x, y))", [(256, 256), (256, 256)]),
    ("linalg.inv", "sum(linalg.inv(x))", [(64, 64, 64)]),
]


@pytest.mark.parametrize("name, expression, shapes", HEAVY, ids=[h[0] for h in HEAVY])
def test_the_static_memory_peak_bounds_the_measured_one(name: str, expression: str,
                                                        shapes: list[tuple[int, ...]]) -> None:
    """NumPy reports its allocations to tracemalloc; the estimate must not be below what really peaks."""
    inputs = ["x", "y"][: len(shapes)]
    graph = load_function(expr(inputs, expression))
    rng = np.random.default_rng(0)
    tracemalloc.start()
    try:
        args = [rng.uniform(0.999, 1.001, s) + (2 * np.eye(s[-1]) if len(s) == 3 else 0) for s in shapes]
        ev = prepare(graph, args)
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0] - sum(a.nbytes for a in args)
        ev.run()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    estimate = 8 * ev.info.peak_elements
    assert peak <= estimate + 64 * 1024, f"{name}: measured {peak} bytes, estimated {estimate}"


# -- defect 4: every dimension is bounded, not only the product --------------------------------------------


def test_a_zero_size_argument_with_huge_dimensions_is_too_large() -> None:
    graph = load_function(expr(["x"], "sum(x)"))
    with pytest.raises(TooLargeError) as info:
        infer(graph, [(HUGE, HUGE, 0)], ["float64"])
    assert info.value.pointer == "/args/0" and "dimension of size 4611686018427387904" in info.value.message


@pytest.mark.parametrize("expression, shape", [
    (f"sum(broadcast_to(x, shape=[{HUGE}, {HUGE}, 0]))", (1,)),
    (f"sum(reshape(x, shape=[{HUGE}, {HUGE}, 0]))", (0,)),
    (f"sum(reshape(x, shape=[{HUGE}, -1, 0]))", (0,)),  # a ShapeError: -1 is ambiguous next to a 0
])
def test_shape_attributes_with_huge_dimensions_are_refused(expression: str, shape: tuple[int, ...]) -> None:
    with pytest.raises((TooLargeError, ShapeError)) as info:
        value_and_gradients(expr(["x"], expression), [np.zeros(shape)])
    assert info.value.pointer == "/nodes/0"


def test_a_binary_constant_or_argument_with_huge_dimensions_is_an_engine_error() -> None:
    huge = {"dtype": "float64", "shape": [HUGE, HUGE, 0], "data": ""}
    with pytest.raises(EngineError):
        load_function({"inputs": ["x"], "nodes": [{"id": "a", "op": "add", "args": ["x", huge]}], "outputs": "a"})
    with pytest.raises(TooLargeError) as info:
        decode_tensor(huge, "/args/0")
    assert info.value.pointer == "/args/0/shape"


def test_every_op_prices_its_backward_pass_without_raising() -> None:
    for name, op in OPS.items():
        assert op.vjp_cost is None or callable(op.vjp_cost), name
        assert isinstance(op.temporaries, int) or callable(op.temporaries), name
