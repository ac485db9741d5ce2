"""Unary math: exp expm1 log log1p sqrt square reciprocal absolute sign and the (inverse/hyperbolic) trigonometry.

Every VJP is an expression in registered ops, so a recorded backward pass
can be differentiated again. Outside its domain an op's value and gradient
are NaN/inf exactly as NumPy computes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.costs import elementwise
from engine.registry import defop
from engine.shapes import same


def zeros_like_g(g: Any) -> Any:
    """Zeros of ``g``'s shape and dtype, even where ``g`` is inf or NaN (``0 * g`` would not be)."""
    return np.where(True, 0, g)


# Add-equivalent passes (forward, VJP), measured by bench.calibrate at 2**19 float64 elements: sin and cos
# have no SIMD loop here (~9 adds); a VJP is its derivative's ufuncs plus the multiply by g.
_PASSES = {"exp": (1, 1), "expm1": (1.5, 2), "log": (1, 1), "log1p": (1.5, 2), "sqrt": (1, 2), "square": (1, 2),
           "reciprocal": (1, 3), "absolute": (1, 2), "sign": (1, 1), "sin": (9, 10), "cos": (8, 11), "tan": (2, 3),
           "arcsin": (1.5, 4), "arccos": (6, 5), "arctan": (1.5, 3), "sinh": (1.5, 2.5), "cosh": (1.5, 2.5),
           "tanh": (2, 3)}


def _unary(name: str, ufunc: Any, vjp: Any, doc: str, aliases: tuple[str, ...] = (),
           operators: tuple[str, ...] = ()) -> None:
    forward, backward = _PASSES.get(name, (1, 2))
    defop(name, ufunc, (vjp,), shape=same, numpy=(ufunc,), doc=doc, aliases=aliases, operators=operators,
          cost=elementwise(forward), vjp_cost=elementwise(backward), temporaries=1)


_unary("exp", np.exp, lambda g, ans, x: g * ans, "e**x; smooth everywhere")
_unary("expm1", np.expm1, lambda g, ans, x: g * (ans + 1), "e**x - 1, accurate near 0; smooth everywhere")
_unary("log", np.log, lambda g, ans, x: g / x, "natural log; gradient 1/x (inf at 0, NaN-valued below)")
_unary("log1p", np.log1p, lambda g, ans, x: g / (1 + x), "log(1 + x), accurate near 0; gradient 1/(1+x)")
_unary("sqrt", np.sqrt, lambda g, ans, x: g / (2 * ans), "square root; gradient at 0 is inf (TensorFlow)")
_unary("square", np.square, lambda g, ans, x: g * (2 * x), "x**2; smooth everywhere")
_unary("reciprocal", np.reciprocal, lambda g, ans, x: -g * ans * ans, "1/x; gradient -1/x**2 (inf at 0)")
_unary("absolute", np.absolute, lambda g, ans, x: g * np.sign(x),
       "|x|; gradient sign(x), so 0 at x == 0 (TensorFlow)", aliases=("abs",), operators=("abs",))
_unary("sign", np.sign, lambda g, ans, x: zeros_like_g(g), "-1, 0 or 1; gradient 0 everywhere, 0 included (TensorFlow)")
_unary("sin", np.sin, lambda g, ans, x: g * np.cos(x), "sine; smooth everywhere")
_unary("cos", np.cos, lambda g, ans, x: -g * np.sin(x), "cosine; smooth everywhere")
_unary("tan", np.tan, lambda g, ans, x: g * (1 + ans * ans), "tangent; gradient 1 + tan(x)**2")
_unary("arcsin", np.arcsin, lambda g, ans, x: g / np.sqrt(1 - x * x), "inverse sine; gradient inf at +-1")
_unary("arccos", np.arccos, lambda g, ans, x: -g / np.sqrt(1 - x * x), "inverse cosine; gradient -inf at +-1")
_unary("arctan", np.arctan, lambda g, ans, x: g / (1 + x * x), "inverse tangent; smooth everywhere")
_unary("sinh", np.sinh, lambda g, ans, x: g * np.cosh(x), "hyperbolic sine; smooth everywhere")
_unary("cosh", np.cosh, lambda g, ans, x: g * np.sinh(x), "hyperbolic cosine; smooth everywhere")
_unary("tanh", np.tanh, lambda g, ans, x: g * (1 - ans * ans), "hyperbolic tangent; smooth everywhere")
