"""Op-contract rows for engine/ops/products.py; tests/engine/test_ops.py runs every contract check over them."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from op_support import Case, N, case

CASES: list[Case] = [
    *(case("tensordot", N(*a), N(*b), axes=ax) for a, b, ax in [
        ((2, 3, 4), (3, 4, 5), 2), ((2, 3), (3, 4), 1), ((2, 3), (4,), 0), ((3, 4), (3, 4), 2), ((2, 3), (3,), 1),
        ((2, 3, 4), (4, 2, 5), [[0, 2], [1, 0]]), ((2, 3, 4), (5, 4, 3), [[1, 2], [2, 1]]), ((3, 2), (2, 3), [0, 1]),
        ((2, 3, 4), (4, 3), [[-1, 1], [0, -1]]), ((), (), 0)]),
    case("tensordot", N(2, 3, 4), N(3, 4, 2)),
    *(case("outer", N(*a), N(*b)) for a, b in [((3,), (4,)), ((2, 3), (2,)), ((), (3,)), ((1,), ())]),
    *(case("inner", N(*a), N(*b)) for a, b in [
        ((3,), (3,)), ((2, 3), (3,)), ((3,), (4, 3)), ((2, 3), (4, 5, 3)), ((), (2, 3)), ((2,), ()), ((), ())]),
    *(case("kron", N(*a), N(*b)) for a, b in [
        ((2,), (3,)), ((2, 3), (2, 2)), ((2,), (3, 2)), ((2, 2, 1), (3,)), ((), (2, 3)), ((2, 3), ()), ((), ())]),
    *(case("cross", N(*a), N(*b), **kw) for a, b, kw in [
        ((3,), (3,), {}), ((4, 3), (3,), {}), ((2, 1, 3), (4, 3), {}), ((3, 4), (3, 4), {"axis": 0}),
        ((3, 2), (2, 3), {"axisa": 0, "axisb": -1, "axisc": 0}), ((2,), (2,), {}), ((5, 2), (2,), {}),
        ((2,), (4, 3), {}), ((3, 4), (2,), {"axisa": 0, "axisc": -1}), ((2, 3), (2, 1, 3), {"axisc": 1})]),
]


def _cross(a: Any, b: Any, **kw: Any) -> Any:
    with warnings.catch_warnings():  # NumPy 2 deprecates 2-vectors; the op keeps NumPy 1's meaning
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.cross(a, b, **kw)


REF: dict[str, Callable[..., Any]] = {"cross": _cross}  # reference forwards where numpy= is not one
BAD_SHAPES: list[tuple[str, list[tuple[int, ...]], dict[str, Any]]] = [
    ("tensordot", [(2, 3), (3, 2)], {}), ("tensordot", [(2, 3), (3,)], {"axes": 2}),
    ("tensordot", [(2, 3), (4, 3)], {"axes": [[1], [0]]}), ("tensordot", [(2, 3), (3, 3)], {"axes": [[1], [2]]}),
    ("tensordot", [(3, 3), (3, 3)], {"axes": [[0, 0], [0, 1]]}), ("inner", [(2, 3), (2,)], {}),
    ("cross", [(4,), (3,)], {}), ("cross", [(3,), ()], {}), ("cross", [(2, 3), (4, 3)], {}),
    ("cross", [(3, 2), (3,)], {"axisa": 2}), ("cross", [(3,), (3,)], {"axisc": 1}),
]
BAD_ATTRS: list[tuple[str, dict[str, Any]]] = [
    ("tensordot", {"axes": -1}), ("tensordot", {"axes": [[0], [0, 1]]}), ("tensordot", {"axes": [0, 1, 2]}),
    ("tensordot", {"axes": "ij"}), ("tensordot", {"axes": True}), ("cross", {"axis": 0.5}), ("cross", {"axisa": None}),
]
