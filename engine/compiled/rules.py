"""Scalar rules: each fusible op's forward and VJPs as per-element source text, mirroring its registry entry.

A rule sees variable names, never values. The arithmetic is written in the
same order as the op's NumPy forward and VJPs (``g * ans * (1 - ans)`` is
``(g * ans) * (1 - ans)`` here too), so a fused kernel rounds as the
interpreter does; only transcendental functions may differ, by the last
bits of libm against NumPy's SIMD loops. Kinks follow the registry exactly:
a maximum tie sends g to x, abs'(0) = 0, sqrt'(0) = inf, where routes by a
nonzero condition, clip's bounds let the gradient through. Literals are the
kernel's typed constants ``_c0``, ``_c1``, ``_c2`` so float32 stays float32.
An op without a rule here is not fusible and stays on the interpreter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["RULES", "Rule", "fusible_attrs"]

Forward = Callable[[str, Sequence[str], Mapping[str, Any]], list[str]]
Vjp = Callable[[int, str, str, Sequence[str], Mapping[str, Any]], str]
Const = Callable[[float], str]  # a literal as the kernel's typed constant


@dataclass(frozen=True)
class Rule:
    """``forward(out, args, consts)`` gives statements; ``vjp(i, g, ans, args, consts)`` an expression."""

    forward: Callable[..., list[str]]
    vjp: Callable[..., str | None]


def _expr(template: str) -> Callable[..., list[str]]:
    return lambda out, a, k: [f"{out} = {template.format(*a)}"]


def _vjps(*templates: str | None) -> Callable[..., str | None]:
    def vjp(i: int, g: str, ans: str, a: Sequence[str], k: Mapping[str, Any]) -> str | None:
        t = templates[i]
        return None if t is None else t.format(*a, g=g, ans=ans)
    return vjp


def _unary(fn: str, vjp: str) -> Rule:
    return Rule(_expr(fn + "({0})"), _vjps(vjp))


def _power_dx(i: int, g: str, ans: str, a: Sequence[str], k: Mapping[str, Any]) -> str:
    if i == 0:
        if k.get("y_is_two"):  # a Python-float 2: the interpreter's x**2 shortcut
            return f"{g} * (_c2 * {a[0]})"
        return f"{g} * {a[1]} * ({a[0]} ** ({a[1]} - _c1))"
    return f"{g} * {ans} * (math.log({a[0]}) if {a[0]} > _c0 else _c0)"  # TensorFlow: log(x) where x > 0


def _sign(x: str) -> str:
    return f"(_c1 if {x} > _c0 else (-_c1 if {x} < _c0 else (_c0 if {x} == _c0 else {x})))"


def _sigmoid(out: str, a: Sequence[str], k: Mapping[str, Any]) -> list[str]:
    e = out + "_e"
    return [f"{e} = math.exp(-abs({a[0]}))",
            f"{out} = _c1 / (_c1 + {e}) if {a[0]} >= _c0 else {e} / (_c1 + {e})"]


def _logaddexp(out: str, a: Sequence[str], k: Mapping[str, Any]) -> list[str]:
    # npy_logaddexp: equal arguments (infinities of one sign included) give x + log 2; NaN gives x - y
    x, y, d = a[0], a[1], out + "_d"
    return [f"{d} = {x} - {y}",
            f"{out} = {x} + _cln2 if {x} == {y} else ({x} + math.log1p(math.exp(-{d})) if {d} > _c0 else "
            f"({y} + math.log1p(math.exp({d})) if {d} <= _c0 else {d}))"]


def _logaddexp_vjp(i: int, g: str, ans: str, a: Sequence[str], k: Mapping[str, Any]) -> str:
    return f"{g} * math.exp({a[i]} - (_c0 if {ans} == -math.inf else {ans}))"


def _compare(symbol: str) -> Rule:
    return Rule(_expr(f"_c1 if {{0}} {symbol} {{1}} else _c0"), _vjps(None, None))


def _clip(out: str, a: Sequence[str], k: Mapping[str, Any]) -> list[str]:
    lines = [f"{out} = {a[0]}"]
    if k["a_min"] is not None:
        lines.append(f"{out} = {k['a_min']} if {out} < {k['a_min']} else {out}")
    if k["a_max"] is not None:
        lines.append(f"{out} = {k['a_max']} if {out} > {k['a_max']} else {out}")
    return lines


def _clip_vjp(i: int, g: str, ans: str, a: Sequence[str], k: Mapping[str, Any]) -> str:
    tests = [f"{a[0]} >= {k['a_min']}"] if k["a_min"] is not None else []
    tests += [f"{a[0]} <= {k['a_max']}"] if k["a_max"] is not None else []
    return f"({g} if {' and '.join(tests)} else _c0)" if tests else g


RULES: dict[str, Rule] = {
    "add": Rule(_expr("{0} + {1}"), _vjps("{g}", "{g}")),
    "subtract": Rule(_expr("{0} - {1}"), _vjps("{g}", "-{g}")),
    "multiply": Rule(_expr("{0} * {1}"), _vjps("{g} * {1}", "{g} * {0}")),
    "divide": Rule(_expr("{0} / {1}"), _vjps("{g} / {1}", "-{g} * {ans} / {1}")),
    "power": Rule(lambda out, a, k: [f"{out} = {a[0]} * {a[0]}" if k.get("y_is_two") else f"{out} = {a[0]} ** {a[1]}"],
                  _power_dx),  # NumPy squares for an exponent of 2 (bitwise x * x)
    "negative": Rule(_expr("-{0}"), _vjps("-{g}")),
    "maximum": Rule(_expr("{0} if ({0} >= {1} or {0} != {0}) else {1}"),
                    _vjps("({g} if {0} >= {1} else _c0)", "(_c0 if {0} >= {1} else {g})")),
    "minimum": Rule(_expr("{0} if ({0} <= {1} or {0} != {0}) else {1}"),
                    _vjps("({g} if {0} <= {1} else _c0)", "(_c0 if {0} <= {1} else {g})")),
    "exp": _unary("math.exp", "{g} * {ans}"),
    "expm1": _unary("math.expm1", "{g} * ({ans} + _c1)"),
    "log": _unary("math.log", "{g} / {0}"),
    "log1p": _unary("math.log1p", "{g} / (_c1 + {0})"),
    "sqrt": _unary("math.sqrt", "{g} / (_c2 * {ans})"),
    "square": Rule(_expr("{0} * {0}"), _vjps("{g} * (_c2 * {0})")),
    "reciprocal": Rule(_expr("_c1 / {0}"), _vjps("-{g} * {ans} * {ans}")),
    "absolute": _unary("abs", "{g} * " + _sign("{0}")),
    "sign": Rule(lambda out, a, k: [f"{out} = {_sign(a[0])}"], _vjps("_c0")),
    "sin": _unary("math.sin", "{g} * math.cos({0})"),
    "cos": _unary("math.cos", "-{g} * math.sin({0})"),
    "tan": _unary("math.tan", "{g} * (_c1 + {ans} * {ans})"),
    "arcsin": _unary("math.asin", "{g} / math.sqrt(_c1 - {0} * {0})"),
    "arccos": _unary("math.acos", "-{g} / math.sqrt(_c1 - {0} * {0})"),
    "arctan": _unary("math.atan", "{g} / (_c1 + {0} * {0})"),
    "sinh": _unary("math.sinh", "{g} * math.cosh({0})"),
    "cosh": _unary("math.cosh", "{g} * math.sinh({0})"),
    "tanh": _unary("math.tanh", "{g} * (_c1 - {ans} * {ans})"),
    "sigmoid": Rule(_sigmoid, _vjps("{g} * {ans} * (_c1 - {ans})")),
    "logaddexp": Rule(_logaddexp, _logaddexp_vjp),
    "greater": _compare(">"), "greater_equal": _compare(">="), "less": _compare("<"),
    "less_equal": _compare("<="), "equal": _compare("=="), "not_equal": _compare("!="),
    "where": Rule(_expr("{1} if {0} != _c0 else {2}"),
                  _vjps(None, "({g} if {0} != _c0 else _c0)", "(_c0 if {0} != _c0 else {g})")),
    "clip": Rule(_clip, _clip_vjp),
}

REDUCTIONS = ("sum", "mean")  # folded at a region's end when they reduce every axis


def fusible_attrs(name: str, kwargs: Mapping[str, Any], ndim: int) -> bool:
    """Whether a node's attributes are ones the rules handle (reductions: over all axes only)."""
    if name in REDUCTIONS:
        axis = kwargs.get("axis")
        if axis is None:
            return True
        axes = {a % ndim for a in ((axis,) if isinstance(axis, int) else axis)} if ndim else set()
        return axes == set(range(ndim))
    if name == "clip":
        return True
    return name in RULES and not kwargs
