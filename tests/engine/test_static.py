"""Static checks: argument fit, shape propagation and cost limits, all before any NumPy forward."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from engine.costs import ELEMENT_FLOPS
from engine.errors import ArgumentError, ShapeError, TooExpensiveError, TooLargeError
from engine.graph import load_function, parse_graph
from engine.limits import Limits
from engine.registry import OPS
from engine.static import StaticInfo, infer
from tests.support import allocation_budget

SEED = load_function({"inputs": ["x", "y"], "expression": "x**3*y - x*y**2"})


def graph(inputs: list[Any], expression: str) -> Any:
    return load_function({"inputs": inputs, "expression": expression})


def test_seed_shapes_and_costs() -> None:
    info = infer(SEED, [(3,), ()], ["float64", "float64"])
    assert info.output_shapes == ((3,),)
    n_slots = len(SEED.inputs) + len(SEED.constants) + len(SEED.nodes)
    assert len(info.shapes) == n_slots and info.shapes[:2] == ((3,), ())
    assert info.total_elements == 3 + 3 + 1 + 3 + 3 and info.max_elements == 3
    # Issue 10 changed these numbers: elementwise ops cost ELEMENT_FLOPS per output element and pass (add is one
    # pass, power three), and the backward pass is priced too (power's VJPs 15 passes, multiply's and subtract's
    # VJP_FACTOR times their forward). Nodes: x**3 [3], t*y [3], y**2 [], x*t [3], subtract [3].
    assert info.forward_flops == ELEMENT_FLOPS * (3 * 3 + 3 + 3 * 1 + 3 + 3)
    assert info.flops == info.forward_flops + ELEMENT_FLOPS * (15 * 3 + 2 * 3 + 15 * 1 + 2 * 3 + 2 * 3)


def test_constants_have_their_own_shapes() -> None:
    g = graph(["x"], "x * [[1, 2, 3]]")
    info = infer(g, [(2, 1)], [np.dtype("float32")])
    assert info.shapes == ((2, 1), (1, 3), (2, 3))


def test_infer_is_pure_and_its_result_frozen() -> None:
    a = infer(SEED, [(2, 2), (2,)], ["float64", "float32"])
    assert a == infer(SEED, [(2, 2), (2,)], ["float64", "float32"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.flops = 0  # type: ignore[misc]
    assert isinstance(a, StaticInfo)


DECLARED = parse_graph({"inputs": [{"name": "w", "dtype": "float32", "shape": [None, 3]}, "b"],
                        "nodes": [{"id": "o", "op": "add", "args": ["w", "b"]}], "outputs": "o"})


@pytest.mark.parametrize("shapes, dtypes, pointer, words", [
    ([(2, 3)], ["float32"], "/args", "takes 2 argument(s) (w, b), got 1"),
    ([(2, 3), (), ()], ["float32"] * 3, "/args", "got 3"),
    ([(2, 3), ()], ["float64", "float64"], "/args/0", "argument 'w' is float64, but the function declares float32"),
    ([(2, 4), ()], ["float32", "float64"], "/args/0", "has shape [2, 4], but the function declares [null, 3]"),
    ([(3,), ()], ["float32", "float64"], "/args/0", "declares [null, 3]"),
])
def test_arguments_that_do_not_fit_the_inputs_are_argument_errors(shapes: Any, dtypes: Any, pointer: str,
                                                                  words: str) -> None:
    with pytest.raises(ArgumentError) as info:
        infer(DECLARED, shapes, dtypes)
    assert info.value.pointer == pointer
    assert words in info.value.message


def test_none_dims_accept_any_size() -> None:
    for rows in (0, 1, 7):
        assert infer(DECLARED, [(rows, 3), (3,)], [np.float32, np.float64]).output_shapes == ((rows, 3),)


def test_shape_mismatch_points_at_the_node_and_names_it() -> None:
    g = graph(["x", "y"], "x + x * y")
    with pytest.raises(ShapeError) as info:
        infer(g, [(2,), (3,)], ["float64", "float64"])
    assert info.value.pointer == "/nodes/0"
    assert "node 't0' (multiply)" in info.value.message and "[2] and [3] do not broadcast" in info.value.message


def test_a_huge_broadcast_is_refused_before_allocating() -> None:
    g = graph(["x", "y"], "x + y")
    with allocation_budget(1 << 20), pytest.raises(TooLargeError) as info:
        infer(g, [(100_000, 1), (1, 100_000)], ["float64", "float64"])
    assert info.value.pointer == "/nodes/0" and "[100000, 100000]" in info.value.message


def test_broadcast_to_a_huge_shape_is_refused() -> None:
    if "broadcast_to" not in OPS:
        pytest.skip("shape ops not registered yet")
    g = graph(["x"], "broadcast_to(x, shape=[100000, 100000])")
    with pytest.raises(TooLargeError) as info:
        infer(g, [()], ["float64"])
    assert info.value.pointer == "/nodes/0"


def test_an_oversized_argument_is_too_large() -> None:
    with pytest.raises(TooLargeError) as info:
        infer(SEED, [(10,), ()], ["float64", "float64"], limits=Limits(max_tensor_elements=5))
    assert info.value.pointer == "/args/0"


def test_total_elements_over_the_limit_is_too_expensive() -> None:
    with pytest.raises(TooExpensiveError) as info:
        infer(SEED, [(10,), ()], ["float64", "float64"], limits=Limits(max_total_elements=25))
    assert info.value.pointer == "/nodes/3" and "more than 25 elements" in info.value.message


def test_flops_over_the_limit_is_too_expensive() -> None:
    if "matmul" not in OPS:
        pytest.skip("linear algebra not registered yet")
    g = graph(["a", "b"], "a @ b")
    assert infer(g, [(10, 20), (20, 30)], ["float64"] * 2).flops >= 10 * 20 * 30
    with pytest.raises(TooExpensiveError) as info:
        infer(g, [(1000, 1000), (1000, 1000)], ["float64"] * 2, limits=Limits(max_flops=10**8))
    assert info.value.pointer == "/nodes/0" and "FLOPs" in info.value.message


def test_matmul_shape_errors_are_shape_errors() -> None:
    if "matmul" not in OPS:
        pytest.skip("linear algebra not registered yet")
    with pytest.raises(ShapeError) as info:
        infer(graph(["a", "b"], "a @ b"), [(2, 3), (4, 5)], ["float64"] * 2)
    assert info.value.pointer == "/nodes/0"


@pytest.mark.slow  # a 50,000-node graph: `make test`
def test_long_chains_are_checked_iteratively() -> None:
    n = 50_000
    nodes = [{"id": f"n{i}", "op": "neg", "args": [f"n{i - 1}" if i else "x"]} for i in range(n)]
    g = parse_graph({"inputs": ["x"], "nodes": nodes, "outputs": f"n{n - 1}"})
    info = infer(g, [(4,)], ["float64"])
    assert info.output_shapes == ((4,),) and info.total_elements == 4 * n
