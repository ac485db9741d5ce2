"""The op set, one table row per (op, shapes, attrs): forward, VJP, shape rule, cost, dtype, kink conventions."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import opcases_arrange
import opcases_decomp
import opcases_elementwise
import opcases_products
import opcases_selection
import pytest
from op_support import Case, M, N, P, R, U, case

import engine.ops  # registers the op set
from engine.check import check_vjp
from engine.eager import gradients_function
from engine.errors import AttrError, ShapeError
from engine.ops.dispatched import dispatched
from engine.registry import OPS, lookup
from engine.tensor import call_op

GROUPS = (opcases_arrange, opcases_decomp, opcases_elementwise, opcases_products, opcases_selection)


SHAPES = [(), (3,), (1, 3), (2, 1), (2, 3)]


def _broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


PAIRS = [(a, b) for a in SHAPES for b in SHAPES if _broadcasts(a, b)]
BINARY = {"add": (N, N), "subtract": (N, N), "multiply": (N, N), "divide": (N, P), "power": (P, N),
          "maximum": (N, N), "minimum": (N, N), "logaddexp": (N, N), "greater": (N, N),
          "greater_equal": (N, N), "less": (N, N), "less_equal": (N, N), "equal": (N, N), "not_equal": (N, N)}
UNARY = {"exp": N, "expm1": N, "log": P, "log1p": P, "sqrt": P, "square": N, "reciprocal": P, "absolute": N,
         "sign": N, "sin": N, "cos": N, "tan": U, "arcsin": U, "arccos": U, "arctan": N, "sinh": N, "cosh": N,
         "tanh": N, "sigmoid": N, "negative": N}
AXES = [None, 0, -1, [0, 2], [2, -3]]
REDUCTIONS = ["sum", "mean", "prod", "max", "min", "var", "std", "logsumexp"]

CASES: list[Case] = [
    *(case(op, f(*a), g(*b)) for op, (f, g) in BINARY.items() for a, b in PAIRS),
    *(case(op, f(*s)) for op, f in UNARY.items() for s in [(), (3,), (2, 3)]),
    *(case(op, N(2, 3, 4), axis=ax, keepdims=k) for op in REDUCTIONS for ax in AXES for k in (False, True)),
    *(case(op, N()) for op in REDUCTIONS if op != "std"),  # std of one number is 0: NaN gradient
    case("var", N(4, 3), axis=0, ddof=1), case("std", N(4, 3), axis=[0, 1], ddof=1, keepdims=True),
    case("prod", np.array([[1.5, 0.0, 2.0], [0.0, 0.0, 3.0], [1.0, 2.0, -1.0]]), axis=1),
    case("prod", np.array([0.0, 2.0, 3.0])),
    *(case("cumsum", N(2, 3), axis=ax) for ax in (None, 0, -1)), case("cumsum", N()),
    *(case(op, N(2, 3, 4), axis=ax) for op in ("softmax", "log_softmax") for ax in (-1, 0, None, [0, 2])),
    case("softmax", N(3)), case("log_softmax", N(2, 3)),
    case("where", N(2, 1) > 0, N(3), N()), case("where", N(2, 3) > 0, N(2, 3), N(1, 3)),
    case("where", np.array(True), N(2, 1), N(3)),
    *(case("clip", N(2, 3), a_min=lo, a_max=hi) for lo, hi in ((-0.5, 0.5), (None, 0.3), (-0.2, None))),
    case("clip", N(4)),
    *(case("matmul", N(*a), N(*b)) for a, b in [
        ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
        ((2, 3), (5, 3, 4)), ((1, 2, 3), (4, 3, 2)), ((3,), (2, 3, 4)), ((2, 2, 3), (3,))]),
    *(case("dot", N(*a), N(*b)) for a, b in [
        ((), (3,)), ((2, 3), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((2, 2, 3), (4, 3, 5)),
        ((3,), (2, 3, 4))]),
    *(case("einsum", *[N(*s) for s in shapes], subscripts=sub) for sub, shapes in [
        ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]), ("ii->i", [(3, 3)]), ("ii", [(3, 3)]),
        ("ij->", [(2, 3)]), ("i,i", [(3,), (3,)]), ("...ij,...jk->...ik", [(5, 2, 3), (3, 4)]),
        ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]), ("ij,ij->ij", [(1, 3), (2, 3)]), ("i,j->ij", [(2,), (3,)]),
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("iij->ij", [(3, 3, 2)]), ("ji", [(2, 3)]),
        ("ij,j->i", [(2, 3), (1,)]), ("...i,...i->...", [(2, 1, 3), (4, 3)]),
    ]),
    *(case("transpose", N(2, 3, 4), axes=ax) for ax in (None, [1, 0, 2], [-1, 0, 1])), case("transpose", N(3)),
    case("trace", N(3, 3)), case("trace", N(3, 4), offset=1), case("trace", N(3, 4, 5), offset=-1, axis1=2, axis2=0),
    case("trace", N(2, 3, 3), axis1=1, axis2=2), case("trace", N(2, 3), offset=5),
    case("linalg.inv", M(3, 3)), case("linalg.inv", M(2, 3, 3)),
    case("linalg.det", M(3, 3)), case("linalg.det", M(2, 3, 3)),
    *(case("linalg.solve", M(*a), N(*b)) for a, b in [
        ((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (3,)), ((2, 3, 3), (2, 3, 2)), ((3, 3), (2, 3, 2))]),
    case("linalg.norm", N(2, 3, 4)), case("linalg.norm", N(2, 3, 4), axis=1, keepdims=True),
    case("linalg.norm", N(3), ord=2), case("linalg.norm", N(2, 3), ord="fro"),
    case("linalg.norm", N(2, 3, 4), ord="fro", axis=[0, 2]), case("linalg.norm", N(2, 3), axis=-1),
    case("linalg.norm", N(2, 3), axis=[0, 1], keepdims=True), case("linalg.norm", N()),
    *(case("reshape", N(2, 3), shape=s) for s in ([6], [-1], [3, -1, 1], 6)), case("reshape", N(1, 1), shape=[]),
    *(case("expand_dims", N(2, 3), axis=ax) for ax in (0, -1, [0, 2])), case("expand_dims", N(), axis=0),
    *(case("squeeze", N(1, 3, 1), axis=ax) for ax in (None, 0, [0, 2], -1)),
    case("broadcast_to", N(3), shape=[2, 3]), case("broadcast_to", N(2, 1), shape=[4, 2, 3]),
    case("broadcast_to", N(), shape=[2]),
    case("concatenate", N(2, 3), N(1, 3)), case("concatenate", N(2, 1), N(2, 3), N(2, 2), axis=-1),
    case("concatenate", N(2, 3), N(4), axis=None), case("concatenate", N(3)),
    *(case("stack", N(2, 3), N(2, 3), N(2, 3), axis=ax) for ax in (0, -1, 1)), case("stack", N(), N()),
    *(case("getitem", N(3, 4, 5), index=ix) for ix in (
        [0], [-1, {"start": 1}], [None, "...", {"step": -1}], [{"start": 0, "stop": 3, "step": 2}],
        ["...", 1], [1, 2, 3], [], [{}, None, 2])),
    case("getitem", N(), index=[None]),
    case("take", N(3, 4), indices=[0, 2, 2], axis=0), case("take", N(3, 4), indices=[[0, 1], [3, -1]], axis=-1),
    case("take", N(3, 4), indices=1), case("take", N(3, 4), indices=[[11, 0, 0]]), case("take", N(), indices=0),
    *(case("flip", N(2, 3, 4), axis=ax) for ax in (None, 0, [0, 2])),
    case("_cast_like", N(2, 3), N()),
    case("_getitem_grad", N(3), index=[{"start": 1}, 0], shape=[4, 2]),
    case("_getitem_grad", N(1, 2, 2), index=[None, "...", {"step": -2}], shape=[2, 3]),
    case("_take_grad", N(4), indices=[0, 2, 2, -1], axis=None, shape=[2, 3]),
    case("_take_grad", N(2, 2, 2), indices=[[0, 0], [1, 0]], axis=-1, shape=[2, 2]),
    case("stop_gradient", N(2, 3)), case("stop_gradient", N()),
]
CASES += [c for g in GROUPS for c in g.CASES]


def _adjoint_ref(fwd: Callable[[np.ndarray], Any]) -> Callable[..., Any]:
    """The scatter ops are the transposes of getitem/take: build the linear map's matrix and transpose it."""

    def ref(g: np.ndarray, shape: tuple[int, ...], **kw: Any) -> np.ndarray:
        size = int(np.prod(shape))
        cols = [np.ravel(fwd(e.reshape(shape), **kw)) for e in np.eye(size)]
        return (np.stack(cols, axis=1).T @ np.ravel(g)).reshape(shape)

    return ref


def _naive_softmax(x: np.ndarray, axis: Any) -> np.ndarray:
    return np.exp(x) / np.sum(np.exp(x), axis=axis, keepdims=True)


REF: dict[str, Callable[..., Any]] = {
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "softmax": _naive_softmax,
    "log_softmax": lambda x, axis: np.log(_naive_softmax(x, axis)),
    "logsumexp": lambda x, axis, keepdims: np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims)),
    "einsum": lambda *xs, subscripts: np.einsum(subscripts, *xs),
    "concatenate": lambda *xs, axis: np.concatenate(xs, axis=axis),
    "stack": lambda *xs, axis: np.stack(xs, axis=axis),
    "getitem": lambda x, index: x[index],
    "_cast_like": lambda x, like: x.astype(np.asarray(like).dtype),
    "stop_gradient": lambda x: x,
    "_getitem_grad": _adjoint_ref(lambda x, index: x[index]),
    "_take_grad": _adjoint_ref(lambda x, indices, axis: np.take(x, indices, axis=axis)),
}
for _g in GROUPS:
    REF.update(_g.REF)


def _bind(c: Case) -> tuple[Any, dict[str, Any]]:
    op = OPS[c.op]
    return op, op.bind(c.attrs)[1]


def _has_vjp(c: Case) -> bool:
    op = OPS[c.op]
    return any(op.vjp(i) is not None for i in range(len(c.args)))


def _vjps(op: Any, kw: dict[str, Any]) -> Callable[..., list[Any]]:
    def vjp(g: Any, *xs: Any) -> list[Any]:
        ans = op.forward(*xs, **kw)
        return [None if op.vjp(i) is None else op.vjp(i)(g, ans, *xs, **kw) for i in range(len(xs))]

    return vjp


@pytest.mark.parametrize("c", CASES, ids=repr)
def test_forward_matches_numpy(c: Case) -> None:
    op, kw = _bind(c)
    ref = REF.get(c.op, op.numpy[0] if op.numpy else None)
    np.testing.assert_allclose(op.forward(*c.args, **kw), ref(*c.args, **kw), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("c", [c for c in CASES if _has_vjp(c)], ids=repr)
def test_vjp_matches_central_differences(c: Case) -> None:
    op, kw = _bind(c)
    check_vjp(lambda *xs: op.forward(*xs, **kw), _vjps(op, kw), c.args)


@pytest.mark.slow  # every row: `make test`; `make check` keeps forward, VJP and shape rule per row
@pytest.mark.parametrize("c", CASES, ids=repr)
def test_canonical_attrs_give_the_same_kwargs_unchecked(c: Case) -> None:
    # a service's helper processes rebuild graphs from the canonical form without checking it again
    op = OPS[c.op]
    canonical, kwargs = op.bind(c.attrs)
    assert repr(sorted(op.kwargs_of(canonical).items())) == repr(sorted(kwargs.items()))


@pytest.mark.parametrize("c", CASES, ids=repr)
def test_shape_rule_matches_forward(c: Case) -> None:
    op, kw = _bind(c)
    out = op.forward(*c.args, **kw)
    in_shapes = [np.shape(x) for x in c.args]
    assert op.shape(*in_shapes, **kw) == np.shape(out)
    cost = op.cost(np.shape(out), *in_shapes, **kw)
    assert isinstance(cost, int) and cost >= 0


def _f32(x: Any) -> Any:
    return x.astype(np.float32) if np.asarray(x).dtype == np.float64 else x


@pytest.mark.slow  # every row: `make test`; the contract's float32 rule stays in `make check` (test_contract)
@pytest.mark.parametrize("c", CASES, ids=repr)
def test_float32_stays_float32(c: Case) -> None:
    op, kw = _bind(c)
    xs = [_f32(x) for x in c.args]
    ans = op.forward(*xs, **kw)
    # comparisons too: they return 1.0/0.0 in the inputs' float dtype; astype goes where it is told
    want = np.dtype(kw["dtype"]) if "dtype" in kw else np.float32
    assert np.asarray(ans).dtype == want
    g = np.ones(np.shape(ans), np.float32)
    for i in range(len(xs)):
        rule = op.vjp(i)
        if rule is not None and np.asarray(xs[i]).dtype == np.float32:
            assert np.asarray(rule(g, ans, *xs, **kw)).dtype == np.float32, f"VJP {i} upcasts"


# --- VJPs are built only from registered ops (so a recorded backward pass is differentiable) ---

ROUTED = {f: op for op in OPS.values() for f in op.numpy}


def _raw(x: Any) -> Any:
    if isinstance(x, Traced):
        return x.value
    if isinstance(x, list | tuple):
        return type(x)(_raw(i) for i in x)
    return x


class Traced:
    """A stand-in for ``Tensor``: it refuses any NumPy call, method or truth test no registered op provides."""

    def __init__(self, value: Any) -> None:
        self.value = np.asarray(value)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        assert method == "__call__" and not kwargs, f"{ufunc.__name__}.{method} is not an op"
        assert ufunc in ROUTED, f"ufunc {ufunc.__name__} is not a registered op"
        return Traced(ufunc(*_raw(inputs)))

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        assert func in ROUTED, f"{func.__name__} is not a registered op"
        extra = set(kwargs) - set(ROUTED[func].attr_index)
        assert not extra, f"{func.__name__} called with keyword(s) {extra} that op {ROUTED[func].name} lacks"
        out = func(*_raw(args), **kwargs)  # a function with several results gives a tuple, as NumPy
        return tuple(Traced(o) for o in out) if isinstance(out, tuple) else Traced(out)

    def __bool__(self) -> bool:
        raise AssertionError("Python control flow on an array value inside a VJP")

    def __getitem__(self, index: Any) -> Traced:
        return Traced(self.value[index])

    def _binary(ufunc: Any, reflected: bool = False) -> Any:  # noqa: N805
        return (lambda self, o: ufunc(o, self)) if reflected else (lambda self, o: ufunc(self, o))

    __add__, __radd__ = _binary(np.add), _binary(np.add, True)
    __sub__, __rsub__ = _binary(np.subtract), _binary(np.subtract, True)
    __mul__, __rmul__ = _binary(np.multiply), _binary(np.multiply, True)
    __truediv__, __rtruediv__ = _binary(np.divide), _binary(np.divide, True)
    __pow__, __rpow__ = _binary(np.power), _binary(np.power, True)
    __matmul__, __rmatmul__ = _binary(np.matmul), _binary(np.matmul, True)
    __gt__, __ge__, __lt__, __le__ = _binary(np.greater), _binary(np.greater_equal), _binary(np.less), _binary(
        np.less_equal)
    __eq__, __ne__ = _binary(np.equal), _binary(np.not_equal)  # type: ignore[assignment]
    __hash__ = None  # type: ignore[assignment]

    def __neg__(self) -> Any:
        return np.negative(self)


@pytest.mark.slow  # what second order stands on, over every row: `make test`, with second order
@pytest.mark.parametrize("c", [c for c in CASES if _has_vjp(c)], ids=repr)
def test_vjp_uses_only_registered_ops(c: Case) -> None:
    op, kw = _bind(c)
    ans = op.forward(*c.args, **kw)
    g = R.standard_normal(np.shape(ans))
    for i in range(len(c.args)):
        rule = op.vjp(i)
        if rule is not None:
            traced = rule(Traced(g), Traced(ans), *[Traced(x) for x in c.args], **kw)
            assert isinstance(traced, Traced)
            np.testing.assert_allclose(traced.value, rule(g, ans, *c.args, **kw), rtol=1e-12)


def _check_second_order(c: Case, i: int) -> None:
    op = OPS[c.op]
    canonical, kw = op.bind(c.attrs)
    rule = op.vjp(i)
    g = R.standard_normal(np.shape(op.forward(*c.args, **kw)))
    w = R.standard_normal(np.shape(c.args[i]))
    floats = [j for j, x in enumerate(c.args) if np.asarray(x).dtype.kind == "f"]
    second = gradients_function(lambda *xs: np.sum(rule(g, call_op(c.op, *xs, **canonical), *xs, **kw) * w),
                                params=floats, unconnected_gradients="zero")
    grads = dict(zip(floats, second(*c.args), strict=True))
    check_vjp(lambda *xs: np.sum(rule(g, op.forward(*xs, **kw), *xs, **kw) * w),
              lambda v, *xs: [v * grads[j] if j in grads else None for j in range(len(xs))],
              c.args, rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # second order over every row: `make test`; `make check` keeps the first-order checks
@pytest.mark.parametrize("c", [c for c in CASES if _has_vjp(c)], ids=repr)
def test_vjp_is_differentiable_on_the_tape(c: Case) -> None:
    """Second derivatives: each VJP, recorded on the tape, has the gradient central differences give."""
    for i in range(len(c.args)):
        if OPS[c.op].vjp(i) is not None:
            _check_second_order(c, i)


# --- every op is documented, has rules and is in the table ---


def test_every_op_has_doc_rules_and_a_test_case() -> None:
    tested = {c.op for c in CASES}
    for name, op in OPS.items():
        assert op.doc and "\n" not in op.doc, name
        assert callable(op.shape) and callable(op.cost), name
        assert all(a.doc for a in op.attrs), f"op {name} has an undocumented attribute"
        assert name in tested, f"op {name} has no row in the test table"
        assert op.numpy or name == "getitem", f"op {name} lists no function a Tensor can route to it"


def test_a_function_claimed_by_two_ops_is_told_apart_by_its_inputs() -> None:
    # np.clip(x, 0, 1) is clip (bounds as attributes); np.clip(x, lo, hi) with arrays is clip_by_value.
    owners: dict[Any, list[Any]] = {}
    for op in OPS.values():
        for f in op.numpy:
            owners.setdefault(f, []).append(op)
    shared = {f: ops for f, ops in owners.items() if len(ops) > 1}
    for f, ops in shared.items():
        assert len({op.arity for op in ops}) == len(ops), f"{f} is claimed by ops of the same arity"
    assert {tuple(op.name for op in ops) for ops in shared.values()} <= {("clip", "clip_by_value")}


@pytest.mark.parametrize("alias,name", [("sub", "subtract"), ("mul", "multiply"), ("div", "divide"),
                                        ("neg", "negative"), ("pow", "power"), ("abs", "absolute")])
def test_aliases_resolve(alias: str, name: str) -> None:
    assert lookup(alias) is OPS[name]


# --- shape and attribute errors ---

BAD_SHAPES = [
    ("add", [(2, 3), (3, 2)], {}), ("where", [(2,), (3,), ()], {}), ("matmul", [(2, 3), (2, 3)], {}),
    ("matmul", [(), (3,)], {}), ("matmul", [(2, 2, 3), (3, 3, 4)], {}), ("dot", [(2, 3), (2, 3)], {}),
    ("dot", [(3,), (2, 4)], {}), ("reshape", [(2, 3)], {"shape": [4]}), ("reshape", [(2, 3)], {"shape": [4, -1]}),
    ("broadcast_to", [(3,)], {"shape": [3, 2]}), ("broadcast_to", [(2, 3)], {"shape": [3]}),
    ("squeeze", [(2, 3)], {"axis": 0}), ("sum", [(2, 3)], {"axis": 2}), ("mean", [(2, 3)], {"axis": [0, -2]}),
    ("max", [(0, 3)], {"axis": 0}), ("logsumexp", [(2, 0)], {}), ("softmax", [(2, 3)], {"axis": 2}),
    ("cumsum", [(2, 3)], {"axis": 2}), ("cumsum", [()], {"axis": 0}), ("expand_dims", [(2, 3)], {"axis": 3}),
    ("expand_dims", [(2,)], {"axis": [0, 0]}), ("flip", [(2,)], {"axis": 1}),
    ("einsum", [(2, 3), (4, 5)], {"subscripts": "ij,jk"}), ("einsum", [(2, 3)], {"subscripts": "ijk"}),
    ("einsum", [(2, 3)], {"subscripts": "ij->k"}), ("einsum", [(2, 3)], {"subscripts": "ij->ii"}),
    ("einsum", [(4, 2, 3)], {"subscripts": "...ij->ij"}), ("einsum", [(2, 3)], {"subscripts": "ii"}),
    ("einsum", [(2, 3), (3,)], {"subscripts": "ij"}), ("einsum", [(3,)], {"subscripts": "...ij"}),
    ("transpose", [(2, 3)], {"axes": [0, 0]}), ("transpose", [(2, 3)], {"axes": [0]}),
    ("trace", [(3,)], {}), ("trace", [(3, 3)], {"axis1": 1, "axis2": -1}),
    ("linalg.inv", [(2, 3)], {}), ("linalg.det", [(3,)], {}), ("linalg.solve", [(3, 3), (4,)], {}),
    ("linalg.solve", [(3, 3), (4, 2)], {}), ("linalg.solve", [(2, 3), (2,)], {}),
    ("linalg.norm", [(3,)], {"ord": "fro"}),
    ("linalg.norm", [(2, 3, 4)], {"axis": [0, 1, 2]}), ("linalg.norm", [()], {"ord": 2}),
    ("concatenate", [(2, 3), (2, 4)], {}), ("concatenate", [(), ()], {}), ("concatenate", [(2, 3), (3,)], {}),
    ("stack", [(2, 3), (3, 2)], {}), ("stack", [(2,)], {"axis": 2}),
    ("getitem", [(3,)], {"index": [3]}), ("getitem", [(3,)], {"index": [0, 0]}), ("getitem", [()], {"index": [0]}),
    ("take", [(3, 4)], {"indices": [0, 3], "axis": 0}), ("take", [(3, 4)], {"indices": -13}),
    ("take", [(3,)], {"indices": 0, "axis": 1}), ("_getitem_grad", [(2,)], {"index": [0], "shape": [4, 3]}),
    ("_take_grad", [(2,)], {"indices": [0, 1, 1], "axis": None, "shape": [4]}),
]
BAD_SHAPES += [row for g in GROUPS for row in g.BAD_SHAPES]


@pytest.mark.parametrize("name,shapes,attrs", BAD_SHAPES, ids=[f"{n}{s}{a}" for n, s, a in BAD_SHAPES])
def test_shape_mismatch_raises_shape_error(name: str, shapes: list[tuple[int, ...]], attrs: dict[str, Any]) -> None:
    op = OPS[name]
    kw = op.bind(attrs)[1]
    with pytest.raises(ShapeError) as info:
        op.shape(*shapes, **kw)
    assert info.value.message and info.value.code == "shape_mismatch"


BAD_ATTRS = [
    ("linalg.norm", {"ord": True}),
    ("einsum", {"subscripts": "ij->k-"}), ("einsum", {"subscripts": "i1"}), ("einsum", {"subscripts": "....i"}),
    ("einsum", {"subscripts": "ij->i->j"}), ("einsum", {"subscripts": "i" * 300}), ("einsum", {"subscripts": 3}),
    ("einsum", {}), ("getitem", {"index": ["...", "..."]}), ("getitem", {"index": [{"step": 0}]}),
    ("getitem", {"index": [{"begin": 1}]}), ("getitem", {"index": [1.5]}), ("getitem", {"index": [True]}),
    ("take", {"indices": [[1], [1, 2]]}), ("take", {"indices": True}),
    ("take", {"indices": [0.5]}), ("reshape", {"shape": [-1, -1]}), ("reshape", {"shape": [-2]}),
    ("sum", {"axis": "0"}), ("sum", {"keepdims": 1}), ("var", {"ddof": 0.5}), ("clip", {"a_min": "x"}),
    ("transpose", {"axes": 3}), ("cumsum", {"axis": [0]}), ("expand_dims", {"axis": None}),
    ("sum", {"axes": 0}), ("trace", {"offset": None}),
]
BAD_ATTRS += [row for g in GROUPS for row in g.BAD_ATTRS]


@pytest.mark.parametrize("name,attrs", BAD_ATTRS, ids=[f"{n}{a}"[:60] for n, a in BAD_ATTRS])
def test_bad_attribute_raises_attr_error(name: str, attrs: dict[str, Any]) -> None:
    with pytest.raises(AttrError):
        OPS[name].bind(attrs)


def test_attrs_are_canonical_json_and_accept_python_values() -> None:
    canonical, kw = OPS["getitem"].bind({"index": (slice(1, None), None, Ellipsis, np.int64(-1))})
    assert canonical["index"] == [{"start": 1, "stop": None, "step": None}, None, "...", -1]
    assert kw["index"] == (slice(1, None, None), None, Ellipsis, -1)
    canonical, kw = OPS["take"].bind({"indices": np.array([[0, 1]])})
    assert canonical == {"indices": [[0, 1]], "axis": None} and kw["indices"].shape == (1, 2)
    assert OPS["linalg.norm"].bind({"ord": 2.0})[0]["ord"] == 2
    assert OPS["einsum"].bind({"subscripts": "ij, jk -> ik"})[0]["subscripts"] == "ij,jk->ik"
    assert OPS["softmax"].bind({})[1] == {"axis": -1}
    assert OPS["var"].bind({"axis": [0, 1]})[1] == {"axis": (0, 1), "keepdims": False, "ddof": 0}


# --- gradient conventions at kinks (TensorFlow's) ---


def _grads(name: str, *xs: Any, g: Any = 1.0, **attrs: Any) -> list[Any]:
    op = OPS[name]
    kw = op.bind(attrs)[1]
    ans = op.forward(*xs, **kw)
    g = np.broadcast_to(np.asarray(g, dtype=float), np.shape(ans))
    return [op.vjp(i)(g, ans, *xs, **kw) for i in range(len(xs))]


def test_absolute_and_sign_have_zero_gradient_at_zero() -> None:
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(_grads("absolute", x)[0], [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(_grads("sign", x, g=[np.inf, 1.0, np.nan])[0], [0.0, 0.0, 0.0])


def test_sqrt_gradient_at_zero_is_inf() -> None:
    with np.errstate(divide="ignore"):
        assert _grads("sqrt", np.array(0.0))[0] == np.inf


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_elementwise_max_min_tie_sends_gradient_to_x(name: str) -> None:
    dx, dy = _grads(name, np.array([1.0, 2.0]), np.array([1.0, 2.0]))
    np.testing.assert_array_equal(dx, [1.0, 1.0])
    np.testing.assert_array_equal(dy, [0.0, 0.0])


@pytest.mark.parametrize("name,x,want", [
    ("max", [1.0, 3.0, 3.0, 2.0], [0.0, 0.5, 0.5, 0.0]),
    ("min", [1.0, 1.0, 1.0, 2.0], [1 / 3, 1 / 3, 1 / 3, 0.0]),
    ("max", [5.0, 5.0], [0.5, 0.5]),
])
def test_reduction_ties_share_the_gradient_equally(name: str, x: list[float], want: list[float]) -> None:
    np.testing.assert_allclose(_grads(name, np.array(x))[0], want)


def test_max_ties_are_split_per_slice() -> None:
    x = np.array([[2.0, 2.0, 1.0], [0.0, 4.0, 4.0]])
    np.testing.assert_allclose(_grads("max", x, g=[1.0, 6.0], axis=1)[0], [[0.5, 0.5, 0], [0, 3, 3]])


def test_logsumexp_of_all_minus_inf_is_minus_inf_with_zero_gradient() -> None:
    x = np.array([[-np.inf, -np.inf], [0.0, -np.inf]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = OPS["logsumexp"].forward(x, axis=1)
        (dx,) = _grads("logsumexp", x, axis=1)
        (da,) = _grads("logaddexp", np.array(-np.inf), np.array(-np.inf))[:1]
    np.testing.assert_array_equal(value, [-np.inf, 0.0])
    np.testing.assert_array_equal(dx, [[0.0, 0.0], [1.0, 0.0]])
    assert da == 0.0


def test_power_square_of_negative_base_has_finite_gradient_without_warnings() -> None:
    x = np.array([-3.0, -0.5, 0.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for y in (2, 2.0, np.array(2.0), np.full(4, 2.0)):
            dx, dy = _grads("power", x, y)
            np.testing.assert_allclose(dx, 2 * x)
            assert np.all(np.isfinite(dy))
    np.testing.assert_allclose(dy, [0.0, 0.0, 0.0, 4.0 * np.log(2.0)])  # log(x) only where x > 0


def test_clip_passes_gradient_at_the_bounds() -> None:
    x = np.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    np.testing.assert_array_equal(_grads("clip", x, a_min=-1.0, a_max=1.0)[0], [0, 1, 1, 1, 0])


def test_prod_gradient_is_exact_with_zeros() -> None:
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]])
    np.testing.assert_array_equal(_grads("prod", x, axis=1)[0], [[0, 6, 0], [0, 0, 0], [8, 4, 2]])


def test_stable_forms_do_not_overflow() -> None:
    x = np.array([-1000.0, 0.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(OPS["sigmoid"].forward(x), [0.0, 0.5, 1.0])
        np.testing.assert_allclose(OPS["softmax"].forward(x), [0.0, 0.0, 1.0])
        np.testing.assert_allclose(OPS["logsumexp"].forward(x), 1000.0)
        np.testing.assert_allclose(OPS["log_softmax"].forward(x), [-2000.0, -1000.0, 0.0])


def test_take_adds_gradients_of_repeated_indices() -> None:
    (dx,) = _grads("take", np.arange(4.0), g=[1.0, 2.0, 3.0], indices=[1, 1, -1])
    np.testing.assert_array_equal(dx, [0.0, 3.0, 0.0, 3.0])


# --- costs ---


# Units of engine.costs: one BLAS FLOP; an elementwise pass costs ELEMENT_FLOPS (16) per element, and a
# product at least one pass over its operands (matmul of two 3-vectors: 7 elements read, 112).
@pytest.mark.parametrize("name,shapes,attrs,want", [
    ("matmul", [(5, 2, 3), (3, 4)], {}, 1312), ("matmul", [(3,), (3,)], {}, 112),
    ("einsum", [(2, 3), (3, 4)], {"subscripts": "ij,jk->ik"}, 192), ("sum", [(2, 3)], {"axis": 0}, 48),
    ("linalg.inv", [(2, 3, 3)], {}, 8432), ("add", [(2, 1), (3,)], {}, 96), ("dot", [(2, 3), (3,)], {}, 176),
])
def test_cost_rules(name: str, shapes: list[tuple[int, ...]], attrs: dict[str, Any], want: int) -> None:
    op = OPS[name]
    kw = op.bind(attrs)[1]
    assert op.cost(op.shape(*shapes, **kw), *shapes, **kw) == want


# --- NEP 18 dispatch of ops NumPy lacks ---


def test_dispatched_function_hands_array_likes_their_call() -> None:
    calls = []

    class Fake:
        def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
            calls.append((func, kwargs))
            return "routed"

    softmax = engine.ops.softmax
    assert softmax(Fake(), axis=0) == "routed" and calls == [(softmax, {"axis": 0})]
    np.testing.assert_allclose(softmax(np.zeros(2)), [0.5, 0.5])
    assert dispatched(lambda x: x + 1)(1) == 2


@pytest.mark.parametrize("name", ["greater", "greater_equal", "less", "less_equal", "equal", "not_equal"])
def test_comparison_results_compose_with_float_ops(name: str) -> None:
    mask = OPS[name].forward(np.array([0.5, 2.0]), 1.0)
    assert mask.dtype == np.float64
    for follow in ("negative", "sign", "sqrt", "exp"):
        assert OPS[follow].forward(mask).dtype == np.float64
