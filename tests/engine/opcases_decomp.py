"""Op-contract rows for engine/ops/decomp.py and linalg.norm; tests/engine/test_ops.py runs every contract check."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from op_support import Case, M, N, case

INF = float("inf")


def SPD(*s: int) -> np.ndarray:
    """Symmetric positive definite (batches of) matrices, well conditioned."""
    b = N(*s)
    return b @ np.swapaxes(b, -1, -2) + s[-1] * np.eye(s[-1])


def _lower_only(a: np.ndarray) -> np.ndarray:
    """``a`` with noise in its strict upper triangle, which cholesky and eigh (UPLO='L') never read."""
    return a + np.triu(N(*a.shape), k=1)


NEG_DET = np.array([[0.3, 2.0, 0.1], [1.8, 0.2, 0.4], [0.1, 0.5, 2.1]])  # det < 0

CASES: list[Case] = [
    case("linalg.cholesky", SPD(3, 3)), case("linalg.cholesky", _lower_only(SPD(2, 3, 3))),
    case("linalg.cholesky", SPD(1, 1)),
    *(case("linalg.slogdet", x, output=k) for x in (M(3, 3), M(2, 3, 3), NEG_DET) for k in (0, 1)),
    *(case("linalg.eigh", x, output=k) for x in (SPD(3, 3), N(3, 3), N(2, 4, 4)) for k in (0, 1)),
    *(case("linalg.eigh", N(3, 3), UPLO="U", output=k) for k in (0, 1)), case("linalg.eigh", N(3, 3), UPLO="u"),
    *(case("linalg.svd", N(*s), full_matrices=False, output=k) for s in ((3, 2), (2, 3), (3, 3), (2, 4, 3))
      for k in (0, 1, 2)),
    *(case("linalg.svd", N(3, 3), output=k) for k in (0, 1, 2)),  # square: full and reduced agree
    case("linalg.svd", N(4, 2), output=1), case("linalg.svd", N(2, 4, 3), compute_uv=False),
    *(case("linalg.qr", N(*s), output=k) for s in ((4, 3), (3, 3), (2, 4, 2)) for k in (0, 1)),
    case("linalg.pinv", N(3, 2)), case("linalg.pinv", N(2, 3)), case("linalg.pinv", N(2, 3, 3)),
    case("linalg.pinv", N(3, 3), rcond=1e-10),
    *(case("linalg.matrix_power", M(3, 3) / 2, n=n) for n in (0, 1, 2, 3, 5, 6, -1, -3)),
    case("linalg.matrix_power", M(2, 3, 3) / 2, n=4),
    # linalg.norm: every ord NumPy takes on real input, vectors and matrices, batched
    *(case("linalg.norm", N(2, 3, 4), ord=o, axis=-1) for o in (None, 2, 1, -1, INF, -INF, 3, 0.5, -2)),
    *(case("linalg.norm", N(5), ord=o) for o in ("inf", "-inf", 1, 4)),
    case("linalg.norm", N(2, 3), ord=0, axis=1), case("linalg.norm", np.array([0.0, 1.5, -2.0]), ord=0),
    case("linalg.norm", N(4), ord=2, keepdims=True),
    *(case("linalg.norm", N(3, 4), ord=o) for o in ("fro", "nuc", 2, -2, 1, -1, INF, -INF)),
    *(case("linalg.norm", N(2, 4, 3), ord=o, axis=[2, 0]) for o in ("fro", "nuc", 2, -2, 1, -1, "inf", "-inf")),
    *(case("linalg.norm", N(3, 2, 4), ord=o, axis=[0, 2], keepdims=True) for o in ("nuc", 2, -1, -INF)),
]
def _pick(f: Callable[..., Any]) -> Callable[..., Any]:
    def ref(x: Any, output: int = 0, **kw: Any) -> Any:
        return f(x, **kw)[output]

    return ref


def _svd(x: Any, full_matrices: bool, compute_uv: bool, output: int) -> Any:
    result = np.linalg.svd(x, full_matrices=full_matrices, compute_uv=compute_uv)
    return result[output] if compute_uv else result


REF: dict[str, Callable[..., Any]] = {  # reference forwards where the op's first numpy= entry is not one
    "linalg.slogdet": _pick(np.linalg.slogdet), "linalg.eigh": _pick(np.linalg.eigh),
    "linalg.qr": _pick(np.linalg.qr), "linalg.svd": _svd,
}
BAD_SHAPES: list[tuple[str, list[tuple[int, ...]], dict[str, Any]]] = [
    ("linalg.cholesky", [(2, 3)], {}), ("linalg.slogdet", [(3,)], {}), ("linalg.eigh", [(2, 3, 4)], {}),
    ("linalg.svd", [(3,)], {}), ("linalg.qr", [()], {}), ("linalg.pinv", [(4,)], {}),
    ("linalg.matrix_power", [(3, 2)], {"n": 2}),
    ("linalg.norm", [(3,)], {"ord": "nuc"}), ("linalg.norm", [(2, 3)], {"ord": 3}),
    ("linalg.norm", [(2, 3)], {"ord": 0}), ("linalg.norm", [(2, 3, 4)], {"ord": 2}),
    ("linalg.norm", [(2, 3)], {"ord": 1, "axis": [1, -1]}), ("linalg.norm", [(0, 3)], {"ord": "inf", "axis": 0}),
    ("linalg.norm", [(3, 4)], {"ord": "fro", "axis": 0}),
]
BAD_ATTRS: list[tuple[str, dict[str, Any]]] = [
    ("linalg.norm", {"ord": True}), ("linalg.norm", {"ord": "Inf"}), ("linalg.norm", {"ord": float("nan")}),
    ("linalg.norm", {"ord": [2]}), ("linalg.norm", {"ord": 10**400}), ("linalg.eigh", {"UPLO": "X"}),
    ("linalg.eigh", {"output": -1}), ("linalg.qr", {"mode": "complete"}), ("linalg.svd", {"compute_uv": 0}),
    ("linalg.matrix_power", {"n": 2.0}), ("linalg.matrix_power", {}), ("linalg.pinv", {"rcond": "small"}),
]
