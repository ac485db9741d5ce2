"""Op-contract rows for engine/ops/selection.py and the array forms of indexing; tests/engine/test_ops.py runs them.

Inputs of sort/partition/argmax have no ties (N draws distinct values), so central differences are smooth.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from op_support import Case, N, case

from engine.attrs import IndexArg


def _filled(index: Any, runtime: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(np.asarray(runtime[i.k - 1], np.intp) if isinstance(i, IndexArg) else i for i in index)


def _scatter(take: Callable[..., Any]) -> Callable[..., Any]:
    """Reference for a scatter-add VJP: the transpose of its gather, built column by column."""

    def ref(g: Any, *rest: Any, shape: Any, **kw: Any) -> Any:
        size = int(np.prod(shape))
        cols = [np.ravel(take(e.reshape(shape), *rest, **kw)) for e in np.eye(size)]
        return (np.stack(cols, axis=1).T @ np.ravel(g)).reshape(shape)

    return ref


def _gather(x: Any, *runtime: Any, index: Any) -> Any:
    return x[_filled(index, runtime)]


def _take_along(x: Any, idx: Any, axis: Any) -> Any:
    return np.take_along_axis(x, np.asarray(idx, np.intp), axis=axis)


ARG1, ARG2 = {"arg": 1}, {"arg": 2}
WITH_NAN = np.where(np.eye(3, 4, 1) > 0, np.nan, N(3, 4))
I = np.array  # noqa: E741 - index arrays read best short

CASES: list[Case] = [
    *(case("getitem", N(4, 5, 4), index=ix) for ix in (
        [[0, 2, 2]], [3, {"start": 2}, [1, 3]], [None, [0, 1], "...", [[1], [2]]], [[[0, 1], [2, 0]]],
        [{}, [-1, 0, -1]], [[1, 1], {"step": -2}, 0], [[]])),
    case("gather", N(3, 4), I([2, 0, 2]), index=[ARG1]),
    case("gather", N(3, 4, 5), I(1), index=[{"start": 1}, ARG1]),
    case("gather", N(3, 4), I([0, 2]), I([1, 1]), index=[ARG2, ARG1]),
    case("gather", N(3, 4, 2), I([[0, 3]]), index=[[0, 2], ARG1, None]),
    case("_gather_grad", N(3), I([0, 0, 2]), index=[ARG1], shape=[4]),
    case("_gather_grad", N(2, 3), I([1, -1]), index=[ARG1, {"step": -1}], shape=[2, 3]),
    *(case(op, N(3, 4), axis=ax, keepdims=k) for op in ("argmax", "argmin") for ax in (None, 0, -1)
      for k in (False, True)),
    case("argmax", N(5)), case("argmin", N()),
    *(case(op, N(3, 4), axis=ax) for op in ("argsort", "sort") for ax in (None, 0, -1)),
    case("sort", N(5)), case("argsort", N(2, 3, 2), axis=1),
    case("argpartition", N(5), kth=2), case("argpartition", N(3, 5), kth=[1, 3], axis=1),
    case("partition", N(6), kth=2), case("partition", N(3, 5), kth=[0, 4], axis=1),
    case("partition", N(4, 3), kth=-1, axis=0), case("partition", N(2, 3), kth=4, axis=None),
    case("take_along_axis", N(3, 4), I([[0, 3], [1, 1], [2, 0]]), axis=1),
    case("take_along_axis", N(3, 4), I([11, 0, 0, -1]), axis=None),
    case("take_along_axis", N(1, 4), I([[0], [3]]), axis=1),
    case("take_along_axis", N(3, 2), I([[2, 0]]), axis=0),
    case("_take_along_axis_grad", N(3, 2), I([[0, 0], [3, 1], [2, 2]]), axis=1, shape=[3, 4]),
    case("_take_along_axis_grad", N(2, 1), I([[0], [3]]), axis=1, shape=[1, 4]),
    case("_take_along_axis_grad", N(3), I([5, 5, 0]), axis=None, shape=[2, 3]),
    # reductions of op set 2 (engine/ops/reductions.py)
    *(case("cumprod", N(2, 3), axis=ax) for ax in (None, 0, -1)), case("cumprod", N()),
    case("cumprod", I([[1.5, 0.0, 2.0, 0.0, 3.0], [0.0, 2.0, 0.5, 1.5, 2.0], [1.0, 2.0, -1.0, 0.5, 0.0]]), axis=1),
    *(case(op, WITH_NAN, axis=ax, keepdims=k) for op in ("nansum", "nanmean", "nanmax", "nanmin")
      for ax in (None, 0, [0, 1]) for k in (False, True)),
    *(case(op, N(2, 3), axis=-1) for op in ("nansum", "nanmean", "nanmax", "nanmin")),
]

REF: dict[str, Callable[..., Any]] = {
    "gather": _gather,
    "_gather_grad": _scatter(_gather),
    "take_along_axis": _take_along,
    "_take_along_axis_grad": _scatter(_take_along),
}

BAD_SHAPES: list[tuple[str, list[tuple[int, ...]], dict[str, Any]]] = [
    ("getitem", [(3, 4)], {"index": [[0, 3]]}), ("getitem", [(3, 4)], {"index": [[0, 1], [0, 1, 2]]}),
    ("getitem", [(3,)], {"index": [[0], [0]]}), ("getitem", [(3, 4)], {"index": [{}, [-5]]}),
    ("gather", [(3,), (2,)], {"index": [0, ARG1]}), ("gather", [(3, 4), (2,), (3,)], {"index": [ARG1, ARG2]}),
    ("_gather_grad", [(2,), (3,)], {"index": [ARG1], "shape": [4]}),
    ("argmax", [(0, 3)], {"axis": 0}), ("argmin", [(0,)], {}), ("argmax", [(2,)], {"axis": 1}),
    ("sort", [(3,)], {"axis": 1}), ("argsort", [()], {}), ("partition", [(3,)], {"kth": 3}),
    ("argpartition", [(3, 2)], {"kth": [0, -3], "axis": 1}),
    ("take_along_axis", [(3, 4), (3,)], {"axis": 1}), ("take_along_axis", [(3, 4), (2, 2)], {"axis": None}),
    ("take_along_axis", [(3, 4), (2, 2)], {"axis": 1}),
    ("_take_along_axis_grad", [(3, 2), (3, 3)], {"axis": 1, "shape": [3, 4]}),
    ("cumprod", [(2, 3)], {"axis": 2}), ("nansum", [(2, 3)], {"axis": 2}), ("nanmax", [(0, 3)], {"axis": 0}),
]

BAD_ATTRS: list[tuple[str, dict[str, Any]]] = [
    ("gather", {"index": [0]}), ("gather", {"index": [{"arg": 2}]}), ("gather", {"index": [ARG1, ARG1]}),
    ("gather", {"index": [{"arg": 0}]}), ("gather", {"index": [{"arg": 1, "start": 0}]}),
    ("getitem", {"index": [ARG1]}), ("getitem", {"index": [[True, False]]}), ("getitem", {"index": [[[0], [1, 2]]]}),
    ("getitem", {"index": [[0.5]]}), ("getitem", {"index": [np.zeros((0, 2), np.intp)]}),
    ("getitem", {"index": [np.array([0.0])]}),
    ("partition", {"kth": []}), ("partition", {"kth": 1.5}), ("partition", {}), ("argmax", {"keepdims": 1}),
    ("argsort", {"axis": [0]}), ("take_along_axis", {}), ("sort", {"axis": "0"}), ("cumprod", {"axis": [0]}),
    ("nanmean", {"keepdims": 0}),
]
