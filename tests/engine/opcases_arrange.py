"""Op-contract rows for engine/ops/arrange.py; tests/engine/test_ops.py runs every contract check over them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from op_support import Case, N, case

SPLITS = ("split", "array_split", "hsplit", "vsplit", "dsplit")

CASES: list[Case] = [
    *(case(op, *xs) for op in ("hstack", "vstack", "column_stack", "dstack")
      for xs in ((N(2, 3), N(2, 3)), (N(3), N(3)), (N(), N()), (N(2, 3, 2), N(2, 3, 2)), (N(3),))),
    case("hstack", N(2, 1), N(2, 3), N(2, 2)), case("hstack", N(2), N(3)), case("vstack", N(3), N(2, 3), N(1, 3)),
    case("column_stack", N(2), N(2, 3), N(2, 1)), case("dstack", N(2, 3), N(2, 3, 2)),
    case("append", N(2, 3), N(4)), case("append", N(2, 3), N(1, 3), axis=0), case("append", N(2, 1), N(2, 2), axis=-1),
    case("append", N(), N()),
    *(case(f"atleast_{n}d", N(*s)) for n in (1, 2, 3) for s in ((), (3,), (2, 3), (2, 3, 2))),
    case("swapaxes", N(2, 3, 4), axis1=0, axis2=2), case("swapaxes", N(2, 3), axis1=-1, axis2=0),
    case("swapaxes", N(3), axis1=0, axis2=0),
    case("moveaxis", N(2, 3, 4), source=0, destination=-1), case("moveaxis", N(2, 3, 4), source=[0, 1],
                                                                   destination=[-1, 0]),
    *(case("rollaxis", N(2, 3, 4), axis=a, start=s) for a, s in ((2, 0), (0, 3), (-1, 1), (1, -1), (1, 1))),
    case("ravel", N(2, 3)), case("ravel", N()),
    case("flipud", N(3)), case("flipud", N(3, 2)), case("fliplr", N(2, 3)), case("fliplr", N(2, 3, 2)),
    *(case("rot90", N(2, 3, 4), k=k, axes=ax) for k, ax in ((1, [0, 1]), (2, [0, 1]), (-1, [2, 0]), (5, [1, -1]))),
    case("rot90", N(2, 3)),
    case("roll", N(5), shift=2), case("roll", N(2, 3), shift=-1), case("roll", N(2, 3), shift=4, axis=1),
    case("roll", N(2, 3, 4), shift=[1, -2], axis=[0, 2]), case("roll", N(2, 3), shift=[1, 2], axis=0),
    case("repeat", N(2, 3), repeats=2), case("repeat", N(2, 3), repeats=3, axis=0),
    case("repeat", N(2, 3), repeats=[1, 0, 2], axis=-1), case("repeat", N(), repeats=3),
    case("repeat", N(2, 2), repeats=[2], axis=1), case("repeat", N(3), repeats=[1, 2, 3]),
    case("tile", N(3), reps=2), case("tile", N(2, 3), reps=[2, 1]), case("tile", N(3), reps=[2, 1, 2]),
    case("tile", N(2, 1, 3), reps=[2, 2]), case("tile", N(), reps=[3]),
    *(case("pad", N(2, 3), pad_width=w) for w in (1, [1, 2], [[0, 1], [2, 0]], [2])),
    case("pad", N(3), pad_width=[[1, 2]], constant_values=1.5),
    *(case("pad", N(3, 4), pad_width=[[1, 2], [3, 1]], mode=m) for m in ("edge", "reflect", "symmetric", "wrap")),
    case("pad", N(1, 3), pad_width=2, mode="reflect"), case("pad", N(2), pad_width=5, mode="wrap"),
    *(case("diff", N(3, 5), n=n, axis=ax) for n, ax in ((1, -1), (2, -1), (1, 0), (0, 1), (3, 0), (6, 1))),
    case("diff", N(4)),
    case("split", N(6, 2), indices_or_sections=3, output=1), case("split", N(2, 6), indices_or_sections=2, axis=1),
    *(case("split", N(7), indices_or_sections=[2, 5], output=k) for k in (1, 2)),
    case("split", N(7), indices_or_sections=[-2, 3], output=1), case("split", N(3, 4), indices_or_sections=[1, 9],
                                                                     axis=-1, output=2),
    *(case("array_split", N(7, 2), indices_or_sections=3, output=k) for k in range(3)),
    case("array_split", N(2), indices_or_sections=4, output=3),
    case("hsplit", N(2, 4), indices_or_sections=2, output=1), case("hsplit", N(6), indices_or_sections=[4]),
    case("vsplit", N(4, 3), indices_or_sections=[1, 3], output=1), case("dsplit", N(1, 2, 4), indices_or_sections=2),
    *(case(op, N(3, 4), k=k) for op in ("tril", "triu") for k in (0, 1, -2)), case("tril", N(2, 3, 3)),
    *(case("diag", N(*s), k=k) for s in ((3,), (3, 4), (4, 3), (3, 3)) for k in (0, 1, -2)), case("diag", N(2, 3), k=5),
    case("diagonal", N(3, 4)), case("diagonal", N(3, 4, 5), offset=1, axis1=2, axis2=0),
    case("diagonal", N(2, 3, 3), offset=-1, axis1=-2, axis2=-1),
    case("zeros_like", N(2, 3)), case("ones_like", N(3)), case("full_like", N(2, 2), fill_value=2.5),
    case("astype", N(2, 3), dtype="float64"), case("astype", N(), dtype=np.float64),
]


def _joined(fn: Callable[..., Any]) -> Callable[..., Any]:
    return lambda *xs: fn(xs)


def _piece(fn: Callable[..., Any]) -> Callable[..., Any]:
    return lambda x, indices_or_sections, output, **kw: fn(x, indices_or_sections, **kw)[output]


def _pad(x: Any, pad_width: Any, mode: str, constant_values: float) -> Any:
    return np.pad(x, pad_width, mode, **({"constant_values": constant_values} if mode == "constant" else {}))


REF: dict[str, Callable[..., Any]] = {  # reference forwards where the op's first numpy= entry is not one
    **{op: _joined(getattr(np, op)) for op in ("hstack", "vstack", "column_stack", "dstack")},
    **{op: _piece(getattr(np, op)) for op in SPLITS},
    "pad": _pad,
    "astype": lambda x, dtype: x.astype(dtype),  # np.astype's dtype is positional-only
}

BAD_SHAPES: list[tuple[str, list[tuple[int, ...]], dict[str, Any]]] = [
    ("hstack", [(2, 3), (3, 3)], {}), ("vstack", [(3,), (4,)], {}), ("column_stack", [(3,), (2,)], {}),
    ("dstack", [(2, 3), (3, 2)], {}), ("append", [(2, 3), (3,)], {"axis": 0}), ("append", [(), ()], {"axis": 0}),
    ("swapaxes", [(2, 3)], {"axis1": 0, "axis2": 2}), ("moveaxis", [(2, 3)], {"source": [0, 1], "destination": 0}),
    ("moveaxis", [(2, 3)], {"source": [0, 0], "destination": [0, 1]}), ("rollaxis", [(2, 3)], {"axis": 0, "start": 3}),
    ("flipud", [()], {}), ("fliplr", [(3,)], {}), ("rot90", [(3,)], {}), ("rot90", [(2, 3)], {"axes": [0, 0]}),
    ("rot90", [(2, 3)], {"axes": [0, 1, 2]}), ("roll", [(2, 3)], {"shift": [1, 2, 3], "axis": [0, 1]}),
    ("roll", [(2, 3)], {"shift": 1, "axis": 2}), ("repeat", [(2, 3)], {"repeats": [1, 2], "axis": 1}),
    ("repeat", [()], {"repeats": 2, "axis": 0}), ("pad", [(2, 3)], {"pad_width": [[1, 1]] * 3}),
    ("pad", [(0, 3)], {"pad_width": 1, "mode": "edge"}), ("diff", [()], {}), ("diff", [(3,)], {"axis": 1}),
    ("split", [(7,)], {"indices_or_sections": 3}), ("split", [(3, 4)], {"indices_or_sections": 3, "axis": 1}),
    ("hsplit", [()], {"indices_or_sections": 1}),
    ("vsplit", [(4,)], {"indices_or_sections": 2}), ("dsplit", [(2, 4)], {"indices_or_sections": 2}),
    ("tril", [(3,)], {}), ("triu", [()], {}), ("diag", [(2, 2, 2)], {}), ("diag", [()], {}),
    ("diagonal", [(3,)], {}), ("diagonal", [(3, 3)], {"axis1": 1, "axis2": -1}),
]
BAD_ATTRS: list[tuple[str, dict[str, Any]]] = [
    ("astype", {"dtype": "int32"}), ("astype", {"dtype": np.bool_}), ("astype", {"dtype": "complex128"}),
    ("astype", {"dtype": "float16"}), ("astype", {"dtype": "nope"}), ("astype", {"dtype": 3}), ("astype", {}),
    ("repeat", {"repeats": -1}), ("repeat", {"repeats": [1, -2]}), ("repeat", {"repeats": 1.5}),
    ("tile", {"reps": [-1]}), ("tile", {}), ("pad", {"pad_width": -1}), ("pad", {"pad_width": [[1, 2, 3]]}),
    ("pad", {"pad_width": [1, 2, 3]}), ("pad", {"pad_width": 1, "mode": "median"}), ("pad", {"pad_width": []}),
    ("diff", {"n": -1}), ("split", {"indices_or_sections": 0}), ("split", {"indices_or_sections": 3, "output": -1}),
    ("split", {"indices_or_sections": 2**20}), ("split", {"indices_or_sections": 3, "output": 3}),
    ("array_split", {"indices_or_sections": [2], "output": 2}), ("split", {"indices_or_sections": "3"}),
    ("swapaxes", {"axis1": 0}),
    ("full_like", {"fill_value": "a"}), ("roll", {"shift": None}), ("rot90", {"axes": 0}), ("diag", {"k": 0.5}),
]
