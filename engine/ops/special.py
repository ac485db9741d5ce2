"""SciPy's special functions as ops of op set 2: logit, log_expit, erf, erfc, gammaln, digamma, xlogy.

The engine cannot import SciPy, so every forward is NumPy alone, computed in
float64 and returned in the input's float dtype: erf and erfc are W. J. Cody's
rational Chebyshev approximations (Math. Comp. 23, 1969; SPECFUN's CALERF);
gammaln is Abramowitz & Stegun 6.1.33 near 1 and 2 (where it vanishes) and
Lanczos (g = 607/128, Godfrey's coefficients) elsewhere; digamma and the
polygamma functions its derivatives need shift x up by the recurrence
(DLMF 5.15.5) to where the asymptotic series (DLMF 5.15.8) converges, reflect
x < 0 (DLMF 5.15.6), and expand digamma around its positive root. The tests
hold each to SciPy within 1e-12 relative. Each op names its SciPy ufunc as a
string (``"scipy.special.erf"``) for ``engine.dispatch`` to match, and exports
a NumPy-style function (``erf``) that VJPs and ``valgrad.nn`` call.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.costs import elementwise
from engine.errors import AttrError
from engine.ops.dispatched import dispatched
from engine.ops.ml import sigmoid
from engine.registry import Attr, defop, unbroadcast
from engine.shapes import broadcast, same

__all__ = ["digamma", "erf", "erfc", "gammaln", "log_expit", "logit", "polygamma", "xlogy"]

_EULER = 0.57721566490153286061
_BERNOULLI = [1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798, -174611 / 330]


def _horner(coefs: list[float], z: Any) -> Any:
    """coefs[0] * z**(n-1) + ... + coefs[-1]."""
    out: Any = coefs[0]
    for c in coefs[1:]:
        out = out * z + c
    return out


def _hurwitz(s: int, a: float, n: int = 30) -> float:
    """Hurwitz zeta(s, a) for s >= 2 by Euler-Maclaurin summation (module set-up only, plain floats)."""
    tail = [(a + n) ** (1 - s) / (s - 1), (a + n) ** -s / 2]
    rising = float(s)  # s (s+1) ... (s+2j-2)
    for j, b in enumerate(_BERNOULLI[:6], start=1):
        tail.append(b / math.factorial(2 * j) * rising * (a + n) ** (-s - 2 * j + 1))
        rising *= (s + 2 * j - 1) * (s + 2 * j)
    return math.fsum([(a + k) ** -s for k in range(n)] + tail)


def _float64(fn: Callable[[np.ndarray], Any]) -> Callable[[Any], Any]:
    """Run ``fn`` on float64, silently (branches are computed everywhere and chosen by where), in x's dtype."""

    @functools.wraps(fn)
    def run(x: Any) -> Any:
        x = np.asarray(x)
        with np.errstate(all="ignore"):
            return np.asarray(fn(x.astype(np.float64))).astype(np.result_type(x, np.float32))

    return run


# --- erf and erfc: Cody's coefficients (CALERF), intervals |x| <= 0.46875, <= 4 and beyond ---

_A = [1.85777706184603153e-1, 3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03]
_B = [1.0, 2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03]
_C = [2.15311535474403846e-8, 5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03,
      1.23033935479799725e03]
_D = [1.0, 1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
      3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03]
_P = [1.63153871373020978e-2, 3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4]
_Q = [1.0, 2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1, 6.05183413124413191e-2,
      2.33520497626869185e-3]
_SQRPI = 5.6418958354775628695e-1  # 1 / sqrt(pi)


def _erf_small(x: np.ndarray) -> Any:
    z = x * x
    return x * _horner(_A, z) / _horner(_B, z)


def _erfc_large(y: np.ndarray) -> Any:
    """erfc(y) for y > 0.46875; exp(-y*y) is split as Cody does so that y*y's rounding costs no digits."""
    w = 1 / (y * y)
    r = np.where(y <= 4, _horner(_C, y) / _horner(_D, y), (_SQRPI - w * _horner(_P, w) / _horner(_Q, w)) / y)
    ysq = np.trunc(y * 16) / 16
    value = np.exp(-ysq * ysq) * np.exp(-(y - ysq) * (y + ysq)) * r
    return np.where(y > 26.543, 0.0, value)  # Cody's XBIG: beyond it erfc is subnormal, and y = inf would give NaN


@_float64
def _erf(x: np.ndarray) -> Any:
    return np.where(np.abs(x) <= 0.46875, _erf_small(x), np.copysign(1 - _erfc_large(np.abs(x)), x))


@_float64
def _erfc(x: np.ndarray) -> Any:
    big = _erfc_large(np.abs(x))
    return np.where(np.abs(x) <= 0.46875, 1 - _erf_small(x), np.where(x > 0, big, 2 - big))


# --- gammaln ---

# log Gamma(1 + z) = -log1p(z) + (1 - euler) z + sum over k >= 2 of (-1)^k (zeta(k) - 1) z^k / k  (A&S 6.1.33)
_LG1P = [(-1) ** k * _hurwitz(k, 2.0) / k for k in range(30, 1, -1)]  # |z| <= 1/2: terms fall as 4^-k
_LANCZOS = [0.99999999999999709182, 57.156235665862923517, -59.597960355475491248, 14.136097974741747174,
            -0.49191381609762019978, 0.33994649984811888699e-4, 0.46523628927048575665e-4,
            -0.98374475304879564677e-4, 0.15808870322491248884e-3, -0.21026444172410488319e-3,
            0.21743961811521264320e-3, -0.16431810653676389022e-3, 0.84418223983852743293e-4,
            -0.26190838401581408670e-4, 0.36899182659531622704e-5]


def _lgamma1p(z: np.ndarray) -> Any:
    return -np.log1p(z) + (1 - _EULER) * z + z * z * _horner(_LG1P, z)


def _lanczos(x: np.ndarray) -> Any:
    total = sum(c / (x + i) for i, c in enumerate(_LANCZOS[1:], start=1)) + _LANCZOS[0]
    t = x + (607 / 128 + 0.5)
    return (x + 0.5) * np.log(t) - t + 0.5 * math.log(2 * math.pi) + np.log(total / x)


def _gammaln_positive(x: np.ndarray) -> Any:
    # One series for x < 2.5: log Gamma(x) = log Gamma(1 + z) - log(x) (z = x), + 0 (z = x - 1), + log1p(z) (z = x - 2).
    z = np.where(x < 0.5, x, np.where(x < 1.5, x - 1, x - 2))
    near = _lgamma1p(z) + np.where(x < 0.5, -np.log(x), np.where(x < 1.5, 0, np.log1p(z)))
    return np.where(x <= 2.5, near, np.where(x == np.inf, np.inf, _lanczos(x)))


@_float64
def _gammaln(x: np.ndarray) -> Any:
    # Reflection (DLMF 5.5.3): log|Gamma(x)| = log(pi / |sin(pi x)|) - log Gamma(1 - x); sin(pi x) from x - round(x).
    s = np.abs(np.sin(math.pi * (x - np.round(x))))
    reflected = np.log(math.pi / s) - _gammaln_positive(1 - x)
    return np.where(x < 0, np.where(x == -np.inf, -np.inf, reflected), _gammaln_positive(x))


# --- digamma (n = 0) and polygamma (n >= 1) ---

_ROOT, _ROOTVAL = 1.4616321449683622, -9.2412655217294275e-17  # digamma's positive root, and digamma there
_ROOT_SERIES = [(-1) ** (m + 1) * _hurwitz(m + 1, _ROOT) for m in range(40, 0, -1)]  # DLMF 5.15.1 around the root


def _asymptotic(n: int, y: np.ndarray) -> Any:
    w = 1 / (y * y)
    if n == 0:
        return np.log(y) - 0.5 / y - w * _horner([b / (2 * k) for k, b in reversed(list(enumerate(_BERNOULLI, 1)))], w)
    coefs = [b * math.factorial(2 * k + n - 1) / math.factorial(2 * k) for k, b in enumerate(_BERNOULLI, 1)]
    total = math.factorial(n - 1) + n * math.factorial(n - 1) / (2 * y) + w * _horner(coefs[::-1], w)
    return (-1) ** (n + 1) * total / y ** n


def _polygamma_positive(n: int, x: np.ndarray) -> Any:
    """psi^(n)(x) = psi^(n)(x + 1) + (-1)^(n+1) n! / x^(n+1), up to y >= 20 + 2n where the series converges."""
    shift = np.ceil(20 + 2 * n - x)
    shift = np.where(shift > 0, shift, 0)  # NaN and large x take no step
    total: Any = 0.0
    for k in range(int(np.max(shift, initial=0))):
        total = total + np.where(k < shift, (x + k if k else x) ** -(n + 1), 0)  # x, not x + 0: keeps -0.0
    value = (-1) ** (n + 1) * math.factorial(n) * total + _asymptotic(n, x + shift)
    if n == 0:  # around the root the sum cancels: use the Taylor series there
        value = np.where((x >= 1) & (x <= 2), _ROOTVAL + (x - _ROOT) * _horner(_ROOT_SERIES, x - _ROOT), value)
    return np.where(x == np.inf, 0.0 if n else np.inf, value)


@functools.cache
def _cot_derivative(n: int) -> list[float]:
    """Coefficients (highest first) of Q_n with d^n/dx^n cot(pi x) = pi^n Q_n(cot(pi x))."""
    q = [0, 1]  # ascending; Q_{k+1} = -(1 + c^2) Q_k'
    for _ in range(n):
        d = [*(i * c for i, c in enumerate(q) if i), 0, 0]
        q = [-(d[i] + (d[i - 2] if i >= 2 else 0)) for i in range(len(d))]
    return [float(c) for c in reversed(q)]


def _psi(n: int, x: np.ndarray) -> Any:
    """psi^(n)(x); x < 0 reflects: psi^(n)(x) = (-1)^n psi^(n)(1 - x) - pi^(n+1) Q_n(cot(pi x)), poles at 0, -1, ..."""
    base = _polygamma_positive(n, np.where(x < 0, 1 - x, x))
    r = x - np.round(x)
    cot = 1 / np.tan(math.pi * r)
    reflected = (-1) ** n * base - math.pi ** (n + 1) * _horner(_cot_derivative(n), cot)
    return np.where(x < 0, np.where(r == 0, np.inf if n else np.nan, reflected), base)


# --- the rest: logit, log_expit, xlogy ---


@_float64
def _logit(x: np.ndarray) -> Any:
    # 2 arctanh(2x - 1) is exact-argument (Sterbenz) for x in [1/4, 3/4], where log(x / (1 - x)) cancels.
    return np.where(np.abs(x - 0.5) <= 0.25, 2 * np.arctanh(2 * x - 1), np.log(x / (1 - x)))


@_float64
def _log_expit(x: np.ndarray) -> Any:
    e = np.log1p(np.exp(-np.abs(x)))
    return np.where(x < 0, x - e, -e)


def _xlogy(x: Any, y: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((x == 0) & (y == y), 0, x * np.log(y))  # 0 where x == 0, unless y is NaN (SciPy)


def _parse_order(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 100:
        raise AttrError(f"expected an integer order from 1 to 100, got {v!r:.60}")
    return v


erf, erfc, gammaln, logit, log_expit = (dispatched(f) for f in (_erf, _erfc, _gammaln, _logit, _log_expit))


@_float64
def _digamma(x: np.ndarray) -> Any:
    return _psi(0, x)


def _polygamma(x: Any, n: int) -> Any:
    return _float64(functools.partial(_psi, n))(x)


digamma, polygamma = dispatched(_digamma), dispatched(_polygamma)
xlogy = dispatched(_xlogy)
_TWO_OVER_SQRTPI = 2 / math.sqrt(math.pi)


# Add-equivalent passes (forward, VJP) at 2**19 float64 elements: every branch of a kernel runs on every element
# (chosen by where), so these are ten to twenty times SciPy's compiled loops; ~8 full-size temporaries at peak.
_PASSES = {"logit": (25, 4), "log_expit": (31, 33), "erf": (160, 11), "erfc": (180, 11), "gammaln": (350, 280),
           "digamma": (280, 370), "_polygamma": (370, 370), "xlogy": (8, 21)}


def _costs(name: str) -> dict[str, Any]:
    forward, backward = _PASSES[name]
    return {"cost": elementwise(forward), "vjp_cost": elementwise(backward), "temporaries": 8}


def _special(name: str, fn: Any, vjp: Any, doc: str, *scipy_names: str) -> None:
    names = scipy_names or (name,)
    defop(name, fn, (vjp,), shape=same, numpy=(fn, *(f"scipy.special.{n}" for n in names)), doc=doc, opset=2,
          **_costs(name))


_special("logit", logit, lambda g, ans, x: g / (x * (1 - x)),
         "log(x / (1 - x)), the inverse of sigmoid (scipy.special.logit); gradient 1/(x(1-x)), inf at 0 and 1")
_special("log_expit", log_expit, lambda g, ans, x: g * sigmoid(-x),
         "log(sigmoid(x)) without overflow (scipy.special.log_expit); gradient sigmoid(-x); smooth")
_special("erf", erf, lambda g, ans, x: g * _TWO_OVER_SQRTPI * np.exp(-(x * x)),
         "error function (scipy.special.erf); gradient 2/sqrt(pi) exp(-x^2); smooth")
_special("erfc", erfc, lambda g, ans, x: -g * _TWO_OVER_SQRTPI * np.exp(-(x * x)),
         "1 - erf(x) without cancellation (scipy.special.erfc); gradient -2/sqrt(pi) exp(-x^2); smooth")
_special("gammaln", gammaln, lambda g, ans, x: g * digamma(x),
         "log|Gamma(x)| (scipy.special.gammaln); gradient digamma(x); inf at 0, -1, -2, ...")
_special("digamma", digamma, lambda g, ans, x: g * polygamma(x, n=1),
         "d/dx log Gamma(x) (scipy.special.digamma/psi); gradient polygamma(1, x); poles at 0, -1, -2, ...",
         "digamma", "psi")
defop("_polygamma", polygamma, (lambda g, ans, x, n: g * polygamma(x, n=n + 1),), shape=same, numpy=(polygamma,),
      attrs=(Attr("n", _parse_order, doc="order of the derivative of digamma, 1..100"),), opset=2,
      **_costs("_polygamma"),
      doc="n-th derivative of digamma (scipy.special.polygamma(n, x)), for digamma's higher derivatives")
defop("xlogy", xlogy,
      (lambda g, ans, x, y: unbroadcast(g * xlogy(x != 0, y), x),
       lambda g, ans, x, y: unbroadcast(g * np.where(x == 0, 0, x / np.where(x == 0, 1, y)), y)),
      shape=broadcast, numpy=(xlogy, "scipy.special.xlogy"), opset=2, **_costs("xlogy"),
      doc="x * log(y), 0 where x == 0 (scipy.special.xlogy); d/dx = log(y), d/dy = x/y, both 0 where x == 0 "
          "(TensorFlow)")
