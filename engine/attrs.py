"""Attribute kinds shared by ops: each validates JSON and names what it wants.

Parsers take the JSON value a client sent and return its canonical JSON
form or raise ``AttrError``; booleans are never accepted as integers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from engine.errors import AttrError
from engine.registry import REQUIRED, Attr

__all__ = [
    "MAX_RANK",
    "axes_attr",
    "axis_attr",
    "bool_attr",
    "float_attr",
    "int_attr",
    "ints_attr",
    "parse_int",
    "shape_attr",
    "str_attr",
]

MAX_RANK = 32  # NumPy's own limit on dimensions (NPY_MAXDIMS is 32 before 2.0, 64 after)


def parse_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise AttrError(f"expected an integer, got {v!r:.60}")
    if abs(v) > 2**62:
        raise AttrError(f"integer {v} is out of range")
    return v


def _parse_float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise AttrError(f"expected a number, got {v!r:.60}")
    f = float(v)
    if math.isnan(f):
        raise AttrError("expected a number, got NaN")
    return f


def _parse_optional_float(v: Any) -> float | None:
    return None if v is None else _parse_float(v)


def _parse_bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise AttrError(f"expected true or false, got {v!r:.60}")
    return v


def _int_list(v: Any, what: str) -> list[int]:
    if not isinstance(v, list | tuple):
        raise AttrError(f"expected {what}, got {v!r:.60}")
    if len(v) > MAX_RANK:
        raise AttrError(f"at most {MAX_RANK} entries allowed, got {len(v)}")
    return [parse_int(x) for x in v]


def _tuple_or_none(v: list[int] | int | None) -> tuple[int, ...] | int | None:
    return tuple(v) if isinstance(v, list) else v


def int_attr(name: str, default: Any = REQUIRED, doc: str = "") -> Attr:
    return Attr(name, parse_int, default, doc=doc)


def float_attr(name: str, default: Any = REQUIRED, doc: str = "", optional: bool = False) -> Attr:
    return Attr(name, _parse_optional_float if optional else _parse_float, default, doc=doc)


def bool_attr(name: str, default: Any = REQUIRED, doc: str = "") -> Attr:
    return Attr(name, _parse_bool, default, doc=doc)


def str_attr(name: str, check: Callable[[str], str], default: Any = REQUIRED, doc: str = "") -> Attr:
    def parse(v: Any) -> str:
        if not isinstance(v, str):
            raise AttrError(f"expected a string, got {v!r:.60}")
        return check(v)

    return Attr(name, parse, default, doc=doc)


def axis_attr(name: str = "axis", default: Any = REQUIRED, doc: str = "") -> Attr:
    """A single integer axis (negative counts from the end)."""
    return Attr(name, parse_int, default, doc=doc or "an integer axis; negative counts from the end")


def axes_attr(name: str = "axis", default: Any = None, doc: str = "") -> Attr:
    """An axis, a list of axes, or null for all; the kwarg is an int, a tuple or None."""

    def parse(v: Any) -> int | list[int] | None:
        if v is None:
            return None
        if isinstance(v, list | tuple):
            return _int_list(v, "a list of axes")
        return parse_int(v)

    return Attr(name, parse, default, to_kwarg=_tuple_or_none, doc=doc or "int, list of ints, or null for all axes")


def ints_attr(name: str, default: Any = REQUIRED, optional: bool = False, doc: str = "") -> Attr:
    """A list of integers (permutations, axes); the kwarg is a tuple (or None when optional)."""

    def parse(v: Any) -> list[int] | None:
        if v is None and optional:
            return None
        return _int_list(v, "a list of integers")

    return Attr(name, parse, default, to_kwarg=_tuple_or_none, doc=doc)


def shape_attr(name: str = "shape", allow_minus_one: bool = False, doc: str = "") -> Attr:
    """A shape: a list of non-negative sizes (``-1`` once, when allowed); a bare int means ``[n]``."""

    def parse(v: Any) -> list[int]:
        dims = [parse_int(v)] if isinstance(v, int) and not isinstance(v, bool) else _int_list(v, "a shape (list of sizes)")
        for d in dims:
            if d < 0 and not (allow_minus_one and d == -1):
                raise AttrError(f"sizes must be non-negative, got {d}")
        if dims.count(-1) > 1:
            raise AttrError("only one size may be -1")
        return dims

    return Attr(name, parse, REQUIRED, to_kwarg=tuple, doc=doc or "a list of sizes")
