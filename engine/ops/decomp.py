"""Matrix decompositions of op set 2: linalg.cholesky slogdet eigh svd qr pinv matrix_power.

A NumPy function with several results is one op whose ``output`` attribute
selects the result a node is; each result's VJP recomputes the factorisation
it needs with the same NumPy call (deterministic, so it matches the forward),
which keeps the backward pass inside the op set and differentiable again.
Rules follow autograd's ``numpy/linalg.py`` and JAX's ``lax/linalg.py``.
Functions that read one triangle of a symmetric matrix (cholesky, eigh) get
the gradient of that triangle: the other one does not change the result.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from engine.attrs import bool_attr, float_attr, int_attr, output_attr, str_attr
from engine.costs import CostRule
from engine.errors import AttrError, ShapeError
from engine.ops.linalg import _square, _zero_like, swap_last
from engine.registry import defop, shape_of, size_of
from engine.shapes import Shape

__all__: list[str] = []


def _matrix(x: Shape, name: str) -> tuple[int, int]:
    if len(x) < 2:
        raise ShapeError(f"{name} needs an array of rank >= 2 (a matrix or a stack of them), got shape {list(x)}")
    return x[-2], x[-1]


def _result(name: str, output: int, n: int) -> int:
    if output >= n:
        raise AttrError(f"{name} has {n} result(s) here, so output is 0..{n - 1}, got {output}", "/attrs/output")
    return output


def _cubic(out: Shape, x: Shape, **_: Any) -> int:
    """Cubic in the matrix size, times the batch: m * n * min(m, n) per matrix."""
    m, n = x[-2:] if len(x) >= 2 else (1, 1)
    return size_of(x[:-2]) * m * n * min(m, n)


# Cost in units of ``_cubic`` (forward, all VJPs), measured by bench.calibrate at 512x512: LAPACK's
# factorisations run far below matmul's FLOP rate (svd ~10x, pinv = svd plus products ~25x), and each VJP
# redoes its factorisation and adds a few matrix products. svd's S alone has the cheaper VJP U diag(g) Vh.
_CUBIC = {"linalg.cholesky": (1, 5), "linalg.slogdet": (1, 3), "linalg.eigh": (5, 10), "linalg.svd": (10, 25),
          "linalg.qr": (3, 14), "linalg.pinv": (25, 15)}
_SVD_S_VJP = 18
# Full-size (largest operand) arrays a VJP holds at its peak: the factors, their gaps matrix, two products.
_TEMPORARIES = 6


def _times_cubic(k: float) -> CostRule:
    def cost(out: Shape, x: Shape, **_: Any) -> int:
        return math.ceil(k * _cubic(out, x))

    return cost


def _svd_vjp_cost(out: Shape, x: Shape, *, compute_uv: bool = True, output: int = 0, **_: Any) -> int:
    return math.ceil((_SVD_S_VJP if not compute_uv or output == 1 else _CUBIC["linalg.svd"][1]) * _cubic(out, x))


def _costs(name: str) -> dict[str, Any]:
    forward, backward = _CUBIC[name]
    vjp = _svd_vjp_cost if name == "linalg.svd" else _times_cubic(backward)
    return {"cost": _times_cubic(forward), "vjp_cost": vjp, "temporaries": _TEMPORARIES}


def _eye(n: int) -> Any:
    return np.eye(n, dtype=bool)


def _one_triangle(gs: Any, upper: bool) -> Any:
    """From G, the gradient w.r.t. the symmetric matrix, the gradient of the triangle read: diag G + strict (G + Gᵀ)."""
    n = shape_of(gs)[-1]
    strict = np.tri(n, k=-1, dtype=bool)
    return np.where(_eye(n), gs, np.where(strict.T if upper else strict, gs + swap_last(gs), 0))


def _inverse_gaps(d: Any) -> Any:
    """F[i, j] = 1 / (d_j - d_i) off the diagonal, 0 on it: inf where two values coincide."""
    n = shape_of(d)[-1]
    gaps = np.expand_dims(d, axis=-2) - np.expand_dims(d, axis=-1)
    return np.where(_eye(n), 0, 1 / np.where(_eye(n), 1, gaps))


# -- cholesky, slogdet -------------------------------------------------------------


def _cholesky_vjp(g: Any, ans: Any, x: Any) -> Any:
    # Murray (arXiv:1602.07527): S = L^-T Phi(L^T g) L^-1, Phi = lower triangle with the diagonal halved.
    n = shape_of(x)[-1]
    p = swap_last(ans) @ g
    phi = np.where(_eye(n), 0.5 * p, np.where(np.tri(n, dtype=bool), p, 0))
    linv = np.linalg.inv(ans)
    s = swap_last(linv) @ phi @ linv
    return _one_triangle(0.5 * (s + swap_last(s)), upper=False)


def _slogdet(x: Any, *, output: int = 0) -> Any:
    return np.linalg.slogdet(x)[output]


def _slogdet_shape(x: Shape, *, output: int = 0, **_: Any) -> Shape:
    _square(x, "linalg.slogdet")
    _result("linalg.slogdet", output, 2)
    return x[:-2]


def _slogdet_vjp(g: Any, ans: Any, x: Any, output: int = 0) -> Any:
    if output == 0:  # the sign is piecewise constant
        return _zero_like(x)
    return np.expand_dims(g, axis=(-2, -1)) * swap_last(np.linalg.inv(x))


# -- eigh --------------------------------------------------------------------------


def _check_uplo(v: str) -> str:
    if v.upper() not in ("L", "U"):  # NumPy takes either case; the canonical attribute is upper case
        raise AttrError(f"UPLO is 'L' (read the lower triangle) or 'U' (the upper one), got {v!r:.20}")
    return v.upper()


def _eigh(x: Any, *, UPLO: Literal["L", "U"] = "L", output: int = 0) -> Any:  # noqa: N803 - NumPy's keyword
    return np.linalg.eigh(x, UPLO=UPLO)[output]


def _eigh_shape(x: Shape, *, output: int = 0, **_: Any) -> Shape:
    _square(x, "linalg.eigh")
    return x[:-1] if _result("linalg.eigh", output, 2) == 0 else tuple(x)


def _eigh_vjp(g: Any, ans: Any, x: Any, UPLO: Literal["L", "U"] = "L", output: int = 0) -> Any:  # noqa: N803
    w, v = np.linalg.eigh(x, UPLO=UPLO)
    # V diag(g) Vᵀ for w; V (F ∘ Vᵀ g) Vᵀ for V, F_ij = 1 / (w_j - w_i): inf/NaN for repeated eigenvalues
    inner = v * np.expand_dims(g, axis=-2) if output == 0 else v @ (_inverse_gaps(w) * (swap_last(v) @ g))
    return _one_triangle(inner @ swap_last(v), upper=UPLO == "U")


# -- svd ---------------------------------------------------------------------------


def _svd(x: Any, *, full_matrices: bool = True, compute_uv: bool = True, output: int = 0) -> Any:
    if not compute_uv:
        return np.linalg.svd(x, full_matrices=full_matrices, compute_uv=False)
    return np.linalg.svd(x, full_matrices=full_matrices)[output]


def _svd_shape(x: Shape, *, full_matrices: bool = True, compute_uv: bool = True, output: int = 0,
               **_: Any) -> Shape:
    m, n = _matrix(x, "linalg.svd")
    k = min(m, n)
    output = _result("linalg.svd", output, 3 if compute_uv else 1)
    if not compute_uv or output == 1:
        return (*x[:-2], k)
    if full_matrices:
        return x[:-2] + ((m, m) if output == 0 else (n, n))
    return x[:-2] + ((m, k) if output == 0 else (k, n))


def _svd_vjp(g: Any, ans: Any, x: Any, full_matrices: bool = True, compute_uv: bool = True,
             output: int = 0) -> Any:
    m, n = shape_of(x)[-2:]
    if not compute_uv or output == 1:  # U diag(g) Vh: the same for any choice of singular vectors
        u, _, vh = np.linalg.svd(x, full_matrices=False)
        return (u * np.expand_dims(g, axis=-2)) @ vh
    if full_matrices and m != n:
        raise ShapeError(f"linalg.svd: U and Vh with full_matrices=True of a non-square matrix ({m}x{n}) are not "
                         "unique, so they have no gradient; pass full_matrices=False")
    u, s, vh = np.linalg.svd(x, full_matrices=full_matrices)  # square when full: the forward's own call
    f = _inverse_gaps(s * s)
    if output == 0:  # U [(F ∘ (Uᵀg - gᵀU)) S] Vh + (I - U Uᵀ) g S⁻¹ Vh
        ug = swap_last(u) @ g
        out = u @ ((f * (ug - swap_last(ug))) * np.expand_dims(s, axis=-2)) @ vh
        return out + ((g - u @ ug) / np.expand_dims(s, axis=-2)) @ vh if m > n else out
    vg = vh @ swap_last(g)  # Vh, with V = Vhᵀ and gV = gᵀ: U [S (F ∘ (VᵀgV - gVᵀV))] Vh + U S⁻¹ g (I - V Vᵀ)
    out = u @ (np.expand_dims(s, axis=-1) * (f * (vg - swap_last(vg)))) @ vh
    return out + (u / np.expand_dims(s, axis=-2)) @ (g - (g @ swap_last(vh)) @ vh) if n > m else out


# -- qr ----------------------------------------------------------------------------


def _check_mode(v: str) -> str:
    if v != "reduced":
        raise AttrError(f"mode is 'reduced' (Q of shape (m, k), R of (k, n)), got {v!r:.20}; "
                        "'complete', 'r' and 'raw' are not supported")
    return v


def _qr(x: Any, *, mode: Literal["reduced"] = "reduced", output: int = 0) -> Any:
    return np.linalg.qr(x, mode=mode)[output]


def _qr_shape(x: Shape, *, output: int = 0, **_: Any) -> Shape:
    m, n = _matrix(x, "linalg.qr")
    k = min(m, n)
    return x[:-2] + ((m, k) if _result("linalg.qr", output, 2) == 0 else (k, n))


def _qr_vjp(g: Any, ans: Any, x: Any, mode: str = "reduced", output: int = 0) -> Any:
    # JAX's qr_jvp / Seeger et al.: dA = (gQ + Q copyltu(M)) R^-T, M = R gRᵀ - gQᵀ Q, copyltu mirrors tril(M).
    m, n = shape_of(x)[-2:]
    if m < n:
        raise ShapeError(f"linalg.qr: the gradient needs m >= n (as in JAX), got a {m}x{n} matrix; "
                         "differentiate qr of the transpose instead")
    q, r = np.linalg.qr(x)
    if output == 0:
        mm, left = -(swap_last(g) @ q), g
    else:
        mm, left = r @ swap_last(np.where(np.tri(n, dtype=bool).T, g, 0)), None
    c = q @ np.where(np.tri(n, dtype=bool), mm, swap_last(mm))
    b = c if left is None else left + c
    return swap_last(np.linalg.solve(r, swap_last(b)))


# -- pinv, matrix_power ------------------------------------------------------------


def _pinv_vjp(g: Any, ans: Any, x: Any, rcond: float | None = None) -> Any:
    # Golub and Pereyra's derivative for a constant rank (autograd): P = pinv(x), written without identities.
    p = ans
    a = p @ swap_last(p) @ g
    b = g @ swap_last(p) @ p
    return swap_last(-(p @ swap_last(g) @ p) + (a - (a @ x) @ p) + (b - p @ (x @ b)))


def _power_vjp(g: Any, ans: Any, x: Any, n: int) -> Any:
    if n >= 0:
        return _positive_power_vjp(g, x, n)
    xi = np.linalg.inv(x)  # x^n = inv(x)^|n|
    return -(swap_last(xi) @ _positive_power_vjp(g, xi, -n) @ swap_last(xi))


def _positive_power_vjp(g: Any, x: Any, n: int) -> Any:
    """Adjoint of x^n along NumPy's own halving (x^n = x x^(n-1), x^2k = x^k x^k): O(log² n) products."""
    if n == 0:
        return _zero_like(x)
    terms = []
    while n > 1:
        if n % 2:
            terms.append(g @ swap_last(np.linalg.matrix_power(x, n - 1)))
            g, n = swap_last(x) @ g, n - 1
        else:
            y = swap_last(np.linalg.matrix_power(x, n // 2))
            g, n = g @ y + y @ g, n // 2
    for t in terms:
        g = g + t
    return g


def _power_cost(out: Shape, x: Shape, *, n: int = 1, **_: Any) -> int:
    return _cubic(out, x) * (2 * abs(n).bit_length() + (n < 0))


_OUTPUT = output_attr()

defop("linalg.cholesky", np.linalg.cholesky, (_cholesky_vjp,),
      shape=lambda x, **_: (_square(x, "linalg.cholesky"), tuple(x))[1], **_costs("linalg.cholesky"),
      numpy=(np.linalg.cholesky,), opset=2,
      doc="lower Cholesky factor (reads the lower triangle; gradient on it); not positive definite is an error")
defop("linalg.slogdet", _slogdet, (_slogdet_vjp,), shape=_slogdet_shape, attrs=(_OUTPUT,), **_costs("linalg.slogdet"),
      numpy=(np.linalg.slogdet,), opset=2, results=2,
      doc="(sign, log|det|); sign has zero gradient, log|det| has inv(x).T (singular: an error)")
defop("linalg.eigh", _eigh, (_eigh_vjp,), shape=_eigh_shape, **_costs("linalg.eigh"), numpy=(np.linalg.eigh,), opset=2,
      attrs=(str_attr("UPLO", _check_uplo, "L", doc="'L' or 'U': the triangle read, as NumPy"), _OUTPUT),
      results=2, doc="(w, V) of a symmetric matrix; gradient on the triangle read; eigenvector gradients "
                     "are inf/NaN at repeated eigenvalues (JAX), eigenvalue gradients stay exact")
defop("linalg.svd", _svd, (_svd_vjp,), shape=_svd_shape, **_costs("linalg.svd"), numpy=(np.linalg.svd,), opset=2,
      attrs=(bool_attr("full_matrices", True, doc="NumPy's default; U/Vh gradients need it false or a square x"),
             bool_attr("compute_uv", True, doc="false: the only result is S"), _OUTPUT),
      results=lambda *, compute_uv=True, **_: 3 if compute_uv else 1,
      doc="(U, S, Vh); S's gradient U diag(g) Vh; U/Vh gradients inf/NaN at repeated or (non-square) zero S")
defop("linalg.qr", _qr, (_qr_vjp,), shape=_qr_shape, **_costs("linalg.qr"), numpy=(np.linalg.qr,), opset=2,
      attrs=(str_attr("mode", _check_mode, "reduced", doc="'reduced' only"), _OUTPUT), results=2,
      doc="(Q, R) reduced; gradient for m >= n (JAX's qr_jvp), singular R is an error")
defop("linalg.pinv", np.linalg.pinv, (_pinv_vjp,), shape=lambda x, **_: x[:-2] + _matrix(x, "linalg.pinv")[::-1],
      attrs=(float_attr("rcond", None, optional=True, doc="cutoff for small singular values; null: NumPy's"),),
      **_costs("linalg.pinv"), numpy=(np.linalg.pinv,), opset=2,
      doc="Moore-Penrose pseudo-inverse; gradient for a locally constant rank (jumps where the rank changes)")
defop("linalg.matrix_power", np.linalg.matrix_power, (_power_vjp,),
      shape=lambda x, **_: (_square(x, "linalg.matrix_power"), tuple(x))[1],
      attrs=(int_attr("n", doc="the integer exponent; negative powers invert first (singular: an error)"),),
      cost=_power_cost, numpy=(np.linalg.matrix_power,), opset=2,
      doc="x to an integer power n (n < 0 via inv); smooth, n = 0 has zero gradient")
