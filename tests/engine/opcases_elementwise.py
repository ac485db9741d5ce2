"""Op-contract rows for engine/ops/elementwise.py and engine/ops/special.py (run by tests/engine/test_ops.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.special as sp
from op_support import Case, N, P, R, U, case

# Broadcasting pairs: scalars on either side, rank mismatch, size-1 axes stretching on both sides at once.
PAIRS = [((), ()), ((), (2, 3)), ((2, 3), ()), ((3,), (3,)), ((3,), (2, 3)), ((2, 1), (3,)), ((1, 3), (2, 1)),
         ((2, 3), (1, 3)), ((2, 1), (2, 3))]
UNARY_SHAPES = [(), (3,), (2, 3)]


def above_one(*s: int) -> np.ndarray:
    return 1.2 + R.uniform(0.0, 2.0, s)


def unit(*s: int) -> np.ndarray:
    return R.uniform(0.05, 0.95, s)


def negative(*s: int) -> np.ndarray:
    """Negative non-integers at least 0.15 from a pole of gammaln/digamma."""
    return -R.integers(0, 3, s) - R.uniform(0.15, 0.85, s)


def wide(*s: int) -> np.ndarray:
    return R.uniform(-3.0, 3.0, s)


def bounds(lo: bool, *s: int) -> np.ndarray:
    return R.uniform(-1.0, -0.2, s) if lo else R.uniform(0.2, 1.0, s)


BINARY = {"remainder": (N, P), "floor_divide": (N, P), "logaddexp2": (N, N), "arctan2": (N, N), "hypot": (N, N),
          "fmax": (N, N), "fmin": (N, N), "copysign": (N, N), "heaviside": (N, N), "xlogy": (N, P)}
UNARY = {"log2": P, "log10": P, "exp2": N, "arcsinh": N, "arccosh": above_one, "arctanh": U, "floor": wide,
         "ceil": wide, "trunc": wide, "rint": wide, "round": wide, "fabs": N, "sinc": wide, "deg2rad": N,
         "rad2deg": N, "real": N, "imag": N, "conjugate": N, "nan_to_num": N, "logit": unit, "log_expit": wide,
         "erf": wide, "erfc": wide, "gammaln": P, "digamma": P}
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.5, -2.0, 3.0])

CASES: list[Case] = [
    *(case(op, f(*a), g(*b)) for op, (f, g) in BINARY.items() for a, b in PAIRS),
    *(case(op, f(*s)) for op, f in UNARY.items() for s in UNARY_SHAPES),
    case("remainder", N(2, 3), -P(3)), case("floor_divide", N(2, 3), -P(2, 1)),
    *(case("round", wide(2, 3), decimals=d) for d in (1, 2, -1)),
    case("sinc", np.array([0.0, 1e-4, -0.05, 0.0999, 0.1, -0.3, 2.5])),
    # Infinities with the default replacement (the dtype's largest) swamp central differences; they get their own test.
    case("nan_to_num", SPECIALS[[0, 3, 4, 5]]), case("nan_to_num", SPECIALS, nan=1.5, posinf=10.0, neginf=-10.0),
    case("gammaln", negative(2, 3)), case("gammaln", R.uniform(2.5, 60.0, 4)), case("gammaln", R.uniform(0.01, 0.5, 3)),
    case("digamma", negative(2, 3)), case("digamma", R.uniform(2.0, 60.0, 4)), case("digamma", R.uniform(0.05, 1.0, 3)),
    *(case("_polygamma", P(2, 3), n=k) for k in (1, 2, 3)), case("_polygamma", negative(4), n=1),
    case("clip_by_value", N(2, 3), bounds(True, 3), bounds(False, 2, 1)),
    case("clip_by_value", N(4), bounds(True), bounds(False, 4)),
    case("clip_by_value", N(), bounds(True, 2, 1), bounds(False, 1, 3)),
    case("clip_by_value", N(2, 3), bounds(False, 2, 3), bounds(True, 3)),  # a_min > a_max: NumPy returns a_max
]

REF: dict[str, Callable[..., Any]] = {
    "logit": sp.logit, "log_expit": sp.log_expit, "erf": sp.erf, "erfc": sp.erfc, "gammaln": sp.gammaln,
    "digamma": sp.digamma, "xlogy": sp.xlogy, "_polygamma": lambda x, n: sp.polygamma(n, x),
    "clip_by_value": np.clip, "real": np.real, "imag": np.imag, "conjugate": np.conjugate,
}
BAD_SHAPES: list[tuple[str, list[tuple[int, ...]], dict[str, Any]]] = [
    ("remainder", [(2, 3), (3, 2)], {}), ("xlogy", [(2,), (3,)], {}), ("clip_by_value", [(2, 3), (3,), (4,)], {}),
]
BAD_ATTRS: list[tuple[str, dict[str, Any]]] = [
    ("round", {"decimals": 1.5}), ("round", {"decimals": True}), ("nan_to_num", {"nan": "x"}),
    ("nan_to_num", {"posinf": True}), ("nan_to_num", {"copy": False}), ("_polygamma", {"n": 0}),
    ("_polygamma", {}), ("_polygamma", {"n": 101}),
]
