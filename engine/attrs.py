"""Attribute kinds shared by ops: each validates JSON and names what it wants.

Parsers take the JSON value a client sent and return its canonical JSON
form or raise ``AttrError``; booleans are never accepted as integers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from engine.errors import AttrError
from engine.registry import REQUIRED, Attr

__all__ = [
    "MAX_INDEX_ARGS",
    "MAX_RANK",
    "IndexArg",
    "axes_attr",
    "axis_attr",
    "bool_attr",
    "float_attr",
    "index_attr",
    "indices_attr",
    "int_attr",
    "ints_attr",
    "nonempty_axes_attr",
    "optional_axis_attr",
    "ord_attr",
    "output_attr",
    "parse_int",
    "shape_attr",
    "str_attr",
    "subscripts_attr",
]

MAX_RANK = 32  # NumPy's own limit on dimensions (NPY_MAXDIMS is 32 before 2.0, 64 after)


def parse_int(v: Any) -> int:
    if isinstance(v, np.integer):  # x.reshape(n, -1) with n from NumPy
        v = int(v)
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
        scalar = isinstance(v, int) and not isinstance(v, bool)
        dims = [parse_int(v)] if scalar else _int_list(v, "a shape (list of sizes)")
        for d in dims:
            if d < 0 and not (allow_minus_one and d == -1):
                raise AttrError(f"sizes must be non-negative, got {d}")
        if dims.count(-1) > 1:
            raise AttrError("only one size may be -1")
        return dims

    return Attr(name, parse, REQUIRED, to_kwarg=tuple, doc=doc or "a list of sizes")


def optional_axis_attr(name: str = "axis", default: Any = None, doc: str = "") -> Attr:
    """An integer axis or null (NumPy's "flatten first")."""

    def parse(v: Any) -> int | None:
        return None if v is None else parse_int(v)

    return Attr(name, parse, default, doc=doc or "an integer axis, or null to work on the flattened array")


def output_attr(doc: str = "") -> Attr:
    """Which result of a NumPy function with several (``linalg.eigh(x)[1]``): each result is its own node."""

    def parse(v: Any) -> int:
        k = parse_int(v)
        if k < 0:
            raise AttrError(f"output must be a non-negative result index, got {k}")
        return k

    return Attr("output", parse, 0, doc=doc or "which result of the NumPy function this node is (0-based)")


def nonempty_axes_attr(name: str = "axis", doc: str = "") -> Attr:
    """An axis or a list of axes, never null (expand_dims)."""

    def parse(v: Any) -> int | list[int]:
        return _int_list(v, "a list of axes") if isinstance(v, list | tuple) else parse_int(v)

    return Attr(name, parse, REQUIRED, to_kwarg=_tuple_or_none, doc=doc or "an integer axis or a list of them")


MAX_SUBSCRIPTS = 256
_TERM = r"(?:[A-Za-z]|\.\.\.)*"
_SUBSCRIPTS = re.compile(rf"{_TERM}(?:,{_TERM})*(?:->{_TERM})?")


def _check_subscripts(s: str) -> str:
    s = s.replace(" ", "")
    if len(s) > MAX_SUBSCRIPTS:
        raise AttrError(f"subscripts longer than {MAX_SUBSCRIPTS} characters")
    if not _SUBSCRIPTS.fullmatch(s):
        raise AttrError(f"subscripts {s!r:.80} are not of the form 'ij,jk->ik' (letters, '...', ',' and one '->')")
    for term in s.replace("->", ",").split(","):
        if term.count("...") > 1:
            raise AttrError(f"term {term!r} of subscripts has more than one ellipsis")
    return s


def subscripts_attr(name: str = "subscripts") -> Attr:
    """einsum's subscripts, e.g. ``"ij,jk->ik"``; spaces are dropped, syntax is checked here, sizes later."""
    return str_attr(name, _check_subscripts, doc="einsum subscripts such as 'ij,jk->ik' ('...' allowed)")


_INFINITIES = {"inf": "inf", "Infinity": "inf", "-inf": "-inf", "-Infinity": "-inf"}


def _parse_ord(v: Any) -> int | float | str | None:
    # JSON has no Infinity: infinite orders are the strings "inf"/"-inf" (canonical; the protobuf JSON
    # spellings "Infinity"/"-Infinity" and Python's float('inf') are accepted too). Integral numbers are ints.
    if v is None or (isinstance(v, str) and v in ("fro", "nuc")):
        return v
    if isinstance(v, str):
        if v in _INFINITIES:
            return _INFINITIES[v]
        raise AttrError(f"ord is a number, null, 'fro', 'nuc', 'inf' or '-inf', got {v!r:.60}")
    if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.integer | np.floating):
        raise AttrError(f"ord is a number, null, 'fro', 'nuc', 'inf' or '-inf', got {v!r:.60}")
    try:
        f = float(v)
    except OverflowError:
        raise AttrError(f"ord {v} is out of range") from None
    if math.isnan(f):
        raise AttrError("ord cannot be NaN")
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return int(f) if f.is_integer() and abs(f) <= 2**53 else f


def _ord_to_kwarg(v: Any) -> Any:
    return math.inf if v == "inf" else -math.inf if v == "-inf" else v


def ord_attr(name: str = "ord") -> Attr:
    """linalg.norm's order, any NumPy accepts on real input; the kwarg holds float infinities, as NumPy wants."""
    return Attr(name, _parse_ord, None, to_kwarg=_ord_to_kwarg,
                opset_of=lambda v: 1 if v in (None, 2, "fro") else 2,
                doc="null, a number, 'inf', '-inf' (canonical spellings; JSON has no Infinity), 'fro' or 'nuc'")


MAX_INDEX_ITEMS = 2 * MAX_RANK
MAX_INDEX_ARGS = 8  # runtime index items of one gather
_SLICE_KEYS = ("start", "stop", "step")
_INDEX_ITEMS = ('index items are integers, nested lists of integers (an integer array), {"start", "stop", "step"} '
                'slices, null or "..."')


def _parse_slice(v: Any) -> dict[str, int | None]:
    if isinstance(v, slice):
        v = {"start": v.start, "stop": v.stop, "step": v.step}
    unknown = sorted(set(v) - set(_SLICE_KEYS))
    if unknown:
        raise AttrError(f"a slice has keys start, stop, step; got {unknown[0]!r}")
    out = {k: None if v.get(k) is None else parse_int(v[k]) for k in _SLICE_KEYS}
    if out["step"] == 0:
        raise AttrError("slice step cannot be zero")
    return out


class IndexArg:
    """A runtime index item of ``gather``: argument ``k`` (1-based) stands here; ``shape`` is filled by shape rules."""

    __slots__ = ("k", "shape")

    def __init__(self, k: int, shape: tuple[int, ...] = ()) -> None:
        self.k, self.shape = k, shape

    def __repr__(self) -> str:
        return f"IndexArg({self.k})"


def _parse_arg(v: Any, dynamic: bool) -> dict[str, int]:
    if not dynamic:
        raise AttrError('a runtime index item {"arg": k} belongs to gather; getitem\'s index is static')
    k = parse_int(v.k if isinstance(v, IndexArg) else v["arg"])
    if not 1 <= k <= MAX_INDEX_ARGS:
        raise AttrError(f'"arg" must name an argument after the indexed array: 1..{MAX_INDEX_ARGS}, got {k}')
    return {"arg": k}


def _parse_index_item(v: Any, count: list[int], dynamic: bool) -> Any:
    if isinstance(v, IndexArg) or (isinstance(v, dict) and "arg" in v and len(v) == 1):
        return _parse_arg(v, dynamic)
    if isinstance(v, np.ndarray):
        if v.dtype.kind not in "iu":
            raise AttrError(f"an array index item must hold integers, got dtype {v.dtype}")
        if v.ndim == 0:
            return parse_int(int(v))  # NumPy reads a 0-d integer array as an integer
        items, shape = _nested_ints(v, 0, count)
        if shape != v.shape:  # [] stands for shape (0,) only
            raise AttrError(f"an empty index array of shape {list(v.shape)} has no nested-list form; "
                            "index with an array of shape [0] instead")
        return items
    if isinstance(v, list | tuple):
        return _nested_ints(v, 0, count)[0]  # an integer array (advanced indexing); booleans are refused
    if isinstance(v, np.integer):
        v = int(v)
    if v is None or v == "...":
        return v
    if v is Ellipsis:
        return "..."
    if isinstance(v, slice | dict):
        return _parse_slice(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return parse_int(v)
    raise AttrError(f"{_INDEX_ITEMS}, got {v!r:.60}")


def _parse_index(v: Any, dynamic: bool = False) -> list[Any]:
    items = list(v) if isinstance(v, list | tuple) else [v]
    if len(items) > MAX_INDEX_ITEMS:
        raise AttrError(f"at most {MAX_INDEX_ITEMS} index items allowed, got {len(items)}")
    count = [0]  # integers over all array items, against MAX_INDICES
    out = [_parse_index_item(i, count, dynamic) for i in items]
    if out.count("...") > 1:
        raise AttrError("an index can only have a single ellipsis ('...')")
    args = sorted(i["arg"] for i in out if isinstance(i, dict) and "arg" in i)
    if dynamic and args != list(range(1, len(args) + 1)):
        raise AttrError(f'runtime items {{"arg": k}} must name arguments 1..n once each, got {args}')
    if dynamic and not args:
        raise AttrError('gather needs at least one runtime item {"arg": 1}; use getitem for a static index')
    return out


def _index_to_kwarg(v: list[Any]) -> tuple[Any, ...]:
    def item(i: Any) -> Any:
        if isinstance(i, dict):
            return IndexArg(i["arg"]) if "arg" in i else slice(i["start"], i["stop"], i["step"])
        if isinstance(i, list):
            return _indices_to_kwarg(i)
        return Ellipsis if i == "..." else i

    return tuple(item(i) for i in v)


def _index_opset(items: list[Any]) -> int:
    """Integer-array items came with opset 2; an opset-1 reader knows only ints, slices, null and "..."."""
    return 2 if any(isinstance(i, list) for i in items) else 1


def index_attr(name: str = "index", dynamic: bool = False) -> Attr:
    """A NumPy index: a list of ints, integer arrays (nested lists), slices, null (new axis) and one ``"..."``.

    Canonical form: one JSON entry per Python index item; an integer array is a rectangular nested list of
    ints (never booleans: a mask is written as its ``np.nonzero`` positions). Array items index as NumPy's
    advanced indexing does (they broadcast together, and integers among them count as arrays). Python index
    values (``slice``, ``Ellipsis``, integer arrays) are accepted too, so a ``Tensor`` can bind ``x[1:, None]``.
    ``dynamic`` (gather) also accepts ``{"arg": k}``: the op's argument ``k`` (1-based) is that item at run time.
    """
    arg = ', {"arg": k} (the k-th argument after the array, at run time)' if dynamic else ""
    return Attr(name, lambda v: _parse_index(v, dynamic), REQUIRED, to_kwarg=_index_to_kwarg,
                opset_of=_index_opset,
                doc='list of: int, nested list of ints (integer array, NumPy advanced indexing), '
                    f'{{"start","stop","step"}} (each optional), null (new axis), "..."{arg}')


MAX_INDICES = 1 << 20


def _nested_ints(v: Any, depth: int, count: list[int]) -> tuple[Any, tuple[int, ...]]:
    if isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, list | tuple):
        if depth >= MAX_RANK:
            raise AttrError(f"indices nest deeper than {MAX_RANK} levels")
        parts = [_nested_ints(x, depth + 1, count) for x in v]
        shapes = {s for _, s in parts}
        if len(shapes) > 1:
            raise AttrError("indices must be a rectangular nested list (ragged lists found)")
        inner = shapes.pop() if shapes else ()
        return [p for p, _ in parts], (len(parts), *inner)
    count[0] += 1
    if count[0] > MAX_INDICES:
        raise AttrError(f"at most {MAX_INDICES} indices allowed")
    if isinstance(v, np.integer):
        v = int(v)
    return parse_int(v), ()


def _parse_indices(v: Any) -> Any:
    return _nested_ints(v, 0, [0])[0]


def _indices_to_kwarg(v: Any) -> Any:
    if isinstance(v, int):
        return v
    a = np.asarray(v, dtype=np.intp).reshape(np.shape(v))
    a.flags.writeable = False
    return a


def indices_attr(name: str = "indices") -> Attr:
    """take's indices: an int or a rectangular nested list of ints; the kwarg is an int or a read-only intp array."""
    return Attr(name, _parse_indices, REQUIRED, to_kwarg=_indices_to_kwarg,
                doc="an integer or a nested list of integers (negative counts from the end)")
