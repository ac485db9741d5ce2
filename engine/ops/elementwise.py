"""Elementwise math of op set 2: NumPy's remaining real ufuncs and clip with array bounds.

Gradients follow TensorFlow where it has the op (floor_divide has none,
remainder's y-gradient is -floor(x / y), the rounding family has zero
gradient, clip_by_value routes by mask) and JAX otherwise (hypot at the
origin is 0). Every VJP is an expression in registered ops, so a recorded
backward pass is differentiable again. Constants are Python floats so that
float32 stays float32 (NEP 50: a NumPy float64 scalar would upcast).
The SciPy special functions live in ``engine.ops.special``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.attrs import float_attr, int_attr
from engine.costs import elementwise
from engine.ops import special  # noqa: F401 - registers the SciPy ops of op set 2
from engine.ops.dispatched import dispatched
from engine.ops.unary import zeros_like_g
from engine.registry import defop, unbroadcast
from engine.shapes import broadcast, same

__all__ = ["clip_by_value"]

LN2 = math.log(2.0)
LN10 = math.log(10.0)
DEG = math.pi / 180.0


# Add-equivalent passes (forward, all VJPs) at 2**19 float64 elements, measured as bench.calibrate does; an op
# not listed costs (1, 2). Pure-NumPy compositions (remainder's exact floor, sinc, hypot) cost ~20 adds.
_PASSES = {"remainder": (23, 54), "floor_divide": (27, 0), "logaddexp2": (37, 8), "arctan2": (3, 24),
           "hypot": (23, 6), "fmax": (1, 25), "fmin": (1, 25), "copysign": (1, 8), "heaviside": (2, 0),
           "log2": (1, 4), "arcsinh": (2.5, 10), "arccosh": (2, 2.5), "arctanh": (1.5, 2.5), "sinc": (19, 63),
           "nan_to_num": (3, 2), "clip_by_value": (2, 50)}


def _costs(name: str) -> dict[str, Any]:
    forward, backward = _PASSES.get(name, (1, 2))
    return {"cost": elementwise(forward), "vjp_cost": elementwise(backward)}


def _unary(name: str, ufunc: Any, vjp: Any, doc: str, **kw: Any) -> None:
    defop(name, ufunc, (vjp,), shape=same, numpy=kw.pop("numpy", (ufunc,)), doc=doc, opset=2, **_costs(name), **kw)


def _binary(name: str, ufunc: Any, vjps: tuple[Any, Any], doc: str, **kw: Any) -> None:
    defop(name, ufunc, vjps, shape=broadcast, numpy=(ufunc,), doc=doc, opset=2, **_costs(name), **kw)


def _zero(g: Any, ans: Any, x: Any, **_: Any) -> Any:
    return zeros_like_g(g)


def _exp2_minus(x: Any, ans: Any) -> Any:
    """2**(x - ans), with ans == -inf read as 0 so that both inputs -inf give gradient 0, not NaN."""
    return np.exp2(x - np.where(ans == -np.inf, 0, ans))


# --- integer division -------------------------------------------------------------------------------------------

_binary("remainder", np.remainder,
        (lambda g, ans, x, y: unbroadcast(g, x),
         lambda g, ans, x, y: unbroadcast(-g * np.floor_divide(x, y), y)),
        "x - y * floor(x / y), the sign of y (Python's %); d/dx = 1, d/dy = -floor(x / y) (TensorFlow's FloorMod)",
        aliases=("mod",), operators=("mod",))
_binary("floor_divide", np.floor_divide, (None, None),
        "floor(x / y) (Python's //); no gradient (TensorFlow's FloorDiv)", operators=("floordiv",))

# --- logarithms and exponentials ----------------------------------------------------------------------------------

_unary("log2", np.log2, lambda g, ans, x: g / (x * LN2), "base-2 log; gradient 1/(x ln 2) (inf at 0)")
_unary("log10", np.log10, lambda g, ans, x: g / (x * LN10), "base-10 log; gradient 1/(x ln 10) (inf at 0)")
_unary("exp2", np.exp2, lambda g, ans, x: g * ans * LN2, "2**x; smooth everywhere")
_binary("logaddexp2", np.logaddexp2,
        (lambda g, ans, x, y: unbroadcast(g * _exp2_minus(x, ans), x),
         lambda g, ans, x, y: unbroadcast(g * _exp2_minus(y, ans), y)),
        "log2(2**x + 2**y) without overflow; both -inf gives gradient 0")

# --- inverse hyperbolic -------------------------------------------------------------------------------------------

_unary("arcsinh", np.arcsinh, lambda g, ans, x: g / np.sqrt(x * x + 1), "inverse sinh; smooth everywhere")
_unary("arccosh", np.arccosh, lambda g, ans, x: g / np.sqrt(x * x - 1), "inverse cosh (x >= 1); gradient inf at 1")
_unary("arctanh", np.arctanh, lambda g, ans, x: g / (1 - x * x), "inverse tanh (|x| < 1); gradient inf at +-1")

# --- rounding: piecewise constant, so zero gradient (zeros, not None, so a sum through them stays connected) -----

_unary("floor", np.floor, _zero, "largest integer <= x; gradient 0 everywhere, jumps included")
_unary("ceil", np.ceil, _zero, "smallest integer >= x; gradient 0 everywhere, jumps included")
_unary("trunc", np.trunc, _zero, "x rounded toward 0; gradient 0 everywhere, jumps included")
_unary("rint", np.rint, _zero, "x rounded to the nearest integer, ties to even; gradient 0 everywhere")
defop("round", np.round, (_zero,), shape=same, attrs=(int_attr("decimals", 0, doc="decimal places (may be < 0)"),),
      numpy=(np.round, np.around), methods=("round",), opset=2, aliases=("around",), **_costs("round"),
      doc="x rounded to `decimals` places, ties to even (np.round); gradient 0 everywhere")
_unary("fabs", np.fabs, lambda g, ans, x: g * np.sign(x), "|x| (real); gradient sign(x), so 0 at x == 0 (as absolute)")

# --- trigonometry and angles --------------------------------------------------------------------------------------


# sinc'(x) = sum over k >= 1 of (-1)^k 2k pi^2k x^(2k-1) / (2k+1)!; below 0.1 six terms are exact to 1e-16,
# where (cos(pi x) - sinc(x)) / x would lose digits to cancellation.
_SINC_SERIES = [(-1) ** k * 2 * k * math.pi ** (2 * k) / math.factorial(2 * k + 1) for k in range(6, 0, -1)]


def _sinc_vjp(g: Any, ans: Any, x: Any) -> Any:
    small = np.abs(x) < 0.1
    safe = np.where(small, 1, x)
    x2 = x * x
    series: Any = _SINC_SERIES[0]
    for c in _SINC_SERIES[1:]:
        series = series * x2 + c
    return g * np.where(small, series * x, (np.cos(safe * math.pi) - ans) / safe)


_unary("sinc", np.sinc, _sinc_vjp, "sin(pi x) / (pi x), 1 at 0 (NumPy's normalised sinc); gradient 0 at 0")
_unary("deg2rad", np.deg2rad, lambda g, ans, x: g * DEG, "degrees to radians (also radians); linear",
       numpy=(np.deg2rad, np.radians), aliases=("radians",))
_unary("rad2deg", np.rad2deg, lambda g, ans, x: g * (1 / DEG), "radians to degrees (also degrees); linear",
       numpy=(np.rad2deg, np.degrees), aliases=("degrees",))


def _arctan2_grads(g: Any, x1: Any, x2: Any) -> Any:
    return g / (x1 * x1 + x2 * x2)


_binary("arctan2", np.arctan2,
        (lambda g, ans, x1, x2: unbroadcast(_arctan2_grads(g, x1, x2) * x2, x1),
         lambda g, ans, x1, x2: unbroadcast(-_arctan2_grads(g, x1, x2) * x1, x2)),
        "angle of the point (x2, x1); d/dx1 = x2/r^2, d/dx2 = -x1/r^2: NaN at the origin (TensorFlow, JAX)")


def _hypot_part(g: Any, ans: Any, x: Any) -> Any:
    return g * x / np.where(ans == 0, 1, ans)


_binary("hypot", np.hypot,
        (lambda g, ans, x1, x2: unbroadcast(_hypot_part(g, ans, x1), x1),
         lambda g, ans, x1, x2: unbroadcast(_hypot_part(g, ans, x2), x2)),
        "sqrt(x1**2 + x2**2) without overflow; gradient x/hypot, 0 at the origin (JAX)")

# --- NaN-aware max/min, sign transfer -----------------------------------------------------------------------------


def _fpick(g: Any, x1: Any, x2: Any, wins: Any, to_x1: bool) -> Any:
    """The part of g for x1 (``to_x1``) or x2: x1 wins where ``wins(x1, x2)`` (ties) or x2 is NaN (x2 != x2)."""
    mine, other = (g, 0) if to_x1 else (0, g)
    return np.where(x2 != x2, mine, np.where(wins(x1, x2), mine, other))


_binary("fmax", np.fmax,
        (lambda g, ans, x1, x2: unbroadcast(_fpick(g, x1, x2, np.greater_equal, True), x1),
         lambda g, ans, x1, x2: unbroadcast(_fpick(g, x1, x2, np.greater_equal, False), x2)),
        "max ignoring NaN; the gradient goes to the chosen input, a tie to x1 (as maximum, TensorFlow)")
_binary("fmin", np.fmin,
        (lambda g, ans, x1, x2: unbroadcast(_fpick(g, x1, x2, np.less_equal, True), x1),
         lambda g, ans, x1, x2: unbroadcast(_fpick(g, x1, x2, np.less_equal, False), x2)),
        "min ignoring NaN; the gradient goes to the chosen input, a tie to x1 (as minimum, TensorFlow)")
_binary("copysign", np.copysign,
        (lambda g, ans, x1, x2: unbroadcast(g * np.sign(x1) * np.sign(ans), x1),
         lambda g, ans, x1, x2: unbroadcast(zeros_like_g(g), x2)),
        "|x1| with the sign of x2; d/dx1 = sign(x1) * sign(result) (0 at x1 == 0), d/dx2 = 0 (JAX)")
_binary("heaviside", np.heaviside, (None, None), "step: 0 below 0, x2 at 0, 1 above; no gradient")


def _nan_to_num(x: Any, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Any:
    return np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)


defop("nan_to_num", _nan_to_num, (lambda g, ans, x, **_: np.where(np.abs(x) < math.inf, g, 0),),
      shape=same, numpy=(np.nan_to_num,), opset=2, **_costs("nan_to_num"),
      attrs=(float_attr("nan", 0.0, doc="value for NaN"),
             float_attr("posinf", None, optional=True, doc="value for +inf; null: the dtype's largest"),
             float_attr("neginf", None, optional=True, doc="value for -inf; null: the dtype's most negative")),
      doc="NaN and infinities replaced by finite numbers; the gradient passes where x is finite, 0 elsewhere")

# --- complex parts of real input ----------------------------------------------------------------------------------


def _real_only(name: str, forward: Any) -> Any:
    def run(x: Any) -> Any:
        if np.iscomplexobj(x):
            raise TypeError(f"{name}: complex input is not supported; valgrad differentiates real arrays only")
        return forward(x)

    run.__name__ = name
    return run


_unary("real", _real_only("real", lambda x: np.real(x)), lambda g, ans, x: g,
       "real part of real input (the input itself); gradient 1; complex input is refused", numpy=(np.real,))
_unary("imag", _real_only("imag", lambda x: np.zeros_like(x)), _zero,
       "imaginary part of real input (zeros); gradient 0; complex input is refused", numpy=(np.imag,))
_unary("conjugate", _real_only("conjugate", np.conjugate), lambda g, ans, x: g,
       "complex conjugate of real input (the input itself); gradient 1; complex input is refused",
       numpy=(np.conjugate,), aliases=("conj",), methods=("conj", "conjugate"))

# --- clip with array bounds ---------------------------------------------------------------------------------------


def _clip_masks(x: Any, lo: Any, hi: Any) -> tuple[Any, Any]:
    """(x >= lo, max(x, lo) <= hi): the composition min(max(x, lo), hi) with ties to the first argument."""
    return x >= lo, np.maximum(x, lo) <= hi


def _clip_dx(g: Any, ans: Any, x: Any, lo: Any, hi: Any) -> Any:
    above, below = _clip_masks(x, lo, hi)
    return unbroadcast(np.where(above, np.where(below, g, 0), 0), x)


def _clip_dlo(g: Any, ans: Any, x: Any, lo: Any, hi: Any) -> Any:
    above, below = _clip_masks(x, lo, hi)
    return unbroadcast(np.where(above, 0, np.where(below, g, 0)), lo)


def _clip_dhi(g: Any, ans: Any, x: Any, lo: Any, hi: Any) -> Any:
    return unbroadcast(np.where(_clip_masks(x, lo, hi)[1], 0, g), hi)


clip_by_value = dispatched(np.clip)
defop("clip_by_value", np.clip, (_clip_dx, _clip_dlo, _clip_dhi), shape=broadcast,
      numpy=(clip_by_value, np.clip), opset=2,
      **_costs("clip_by_value"),
      doc="np.clip(x, a_min, a_max) with array bounds that broadcast; the gradient goes to x where "
          "a_min <= x <= a_max (bounds included), else to the bound that was hit (TensorFlow's clip_by_value)")
