"""Graph-level services without a derivative kind of their own: shapes without data, gradient checks, batches.

``abstract_eval`` is the static pass alone (no NumPy call). ``check_gradients``
compares reverse-mode products with central differences along seeded random
directions (``engine.check``'s method, reported rather than asserted).
``prepare_batch`` binds many argument sets to one graph (one cached plan, one
static check per signature), admits or refuses them by their total cost, and
runs each item on its own so one bad item never fails the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from engine.contract import Unconnected
from engine.errors import ArgumentError, EngineError, TooExpensiveError
from engine.evaluation import Evaluation, evaluate_checked, prepare
from engine.graph import load_function
from engine.ir import FLOAT_DTYPES, Graph
from engine.limits import DEFAULT_LIMITS, Limits
from engine.params import resolve_params
from engine.static import infer
from engine.tree import flatten

__all__ = [
    "BatchItem", "PreparedBatch", "PreparedCheck", "abstract_eval", "check_gradients", "compare_checked",
    "prepare_batch", "prepare_check", "run_batch_checked",
]

GraphLike = Graph | Mapping[str, Any]
_BOOL_OPS = frozenset(("greater", "greater_equal", "less", "less_equal", "equal", "not_equal"))
_INT_OPS = frozenset(("argmax", "argmin", "argsort", "argpartition"))


def _graph(graph: GraphLike, limits: Limits) -> Graph:
    return graph if isinstance(graph, Graph) else load_function(graph, limits=limits)


def _spec(spec: Any, i: int) -> tuple[tuple[int, ...], str]:
    pointer = f"/args/{i}"
    if not isinstance(spec, Mapping) or "shape" not in spec:
        raise ArgumentError('an abstract argument is {"dtype": "float64"|"float32", "shape": [sizes]}', pointer)
    shape, dtype = spec["shape"], spec.get("dtype", "float64")
    if not isinstance(shape, list | tuple) or any(isinstance(n, bool) or not isinstance(n, int) for n in shape):
        raise ArgumentError(f"shape must be a list of integer sizes, got {shape!r:.60}", pointer + "/shape")
    if dtype not in FLOAT_DTYPES:
        raise ArgumentError(f'dtype must be "float64" or "float32", got {dtype!r:.40}', pointer + "/dtype")
    return tuple(shape), dtype


def abstract_eval(graph: GraphLike, arg_specs: Sequence[Any] | Mapping[str, Any], params: Any = None, *,
                  limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Output and gradient shapes and dtypes, and the value-and-gradients cost, from shapes alone."""
    g = _graph(graph, limits)
    names = g.input_names
    if isinstance(arg_specs, Mapping):
        missing = [n for n in names if n not in arg_specs]
        if missing or len(arg_specs) != len(names):
            raise ArgumentError(f"args must name exactly the inputs {', '.join(names)}", "/args")
        arg_specs = [arg_specs[n] for n in names]
    specs = [_spec(s, i) for i, s in enumerate(arg_specs)]
    info = infer(g, [s for s, _ in specs], [d for _, d in specs], limits=limits)
    positions = resolve_params(params, names, len(specs))
    floating = np.result_type(*[d for _, d in specs]).name if specs else "float64"
    outputs = []
    for slot, shape in zip(g.outputs, info.output_shapes, strict=True):
        outputs.append({"dtype": _dtype(g, slot, specs, floating), "shape": list(shape)})
    itemsize = 4 if floating == "float32" else 8
    return {"outputs": outputs,
            "gradients": [{"dtype": specs[p][1], "shape": list(specs[p][0])} for p in positions],
            "params": [names[p] for p in positions],
            "cost": {"flops": info.flops, "elements": info.peak_elements, "bytes": info.peak_elements * itemsize}}


def _dtype(g: Graph, slot: int, specs: Sequence[tuple[Any, str]], floating: str) -> str:
    """An output's dtype: its argument's, a comparison's bool, an argmax's int64, else the arguments' float."""
    if slot < len(specs):
        return specs[slot][1]
    k = slot - len(g.inputs) - len(g.constants)
    if k < 0:
        return "float64"
    name = g.nodes[k].op.name
    return "bool" if name in _BOOL_OPS else "int64" if name in _INT_OPS else floating


# -- gradient checks ----------------------------------------------------------------------------------


def check_gradients(graph: GraphLike, args: Sequence[Any] | Mapping[str, Any], params: Any = None,
                    eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-6, directions: int = 2, *,
                    seed: int = 0, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Reverse-mode ``<vjp(v), u>`` against central differences ``<v, (f(x+eps u) - f(x-eps u)) / 2eps>``.

    Per param and per direction (random ``u`` and output weights ``v``, seeded): the largest absolute and
    relative error over the directions; ``ok`` when every error is within ``atol + rtol * scale``.
    """
    return prepare_check(graph, args, params, eps, rtol, atol, directions, seed=seed, limits=limits).run()


@dataclass(slots=True)
class PreparedCheck:
    """A gradient check bound, checked and priced (``flops``): ``run()`` computes it."""

    evaluation: Evaluation
    eps: float
    rtol: float
    atol: float
    directions: int
    seed: int
    flops: int

    def run(self) -> dict[str, Any]:
        ev = self.evaluation
        return compare_checked(ev.graph, ev.xs, ev.positions, self.eps, self.rtol, self.atol, self.directions,
                               seed=self.seed)


def prepare_check(graph: GraphLike, args: Sequence[Any] | Mapping[str, Any], params: Any = None,
                  eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-6, directions: int = 2, *,
                  seed: int = 0, limits: Limits = DEFAULT_LIMITS) -> PreparedCheck:
    """``check_gradients`` up to its first NumPy call; refused here (``TooExpensiveError``) when over ``limits``."""
    if not 1 <= directions <= 64:
        raise ArgumentError("directions must be between 1 and 64", "/directions")
    ev = prepare(graph, args, params, None, "zero", limits=limits)
    n_params = len(ev.positions)
    # each direction runs one backward pass and two forward passes per param
    flops = directions * (ev.info.flops + 2 * n_params * ev.info.forward_flops)
    if flops > limits.max_flops:
        raise TooExpensiveError(f"checking {n_params} param(s) along {directions} direction(s) needs about "
                                f"{flops} FLOPs, more than {limits.max_flops}", "/directions")
    return PreparedCheck(ev, eps, rtol, atol, directions, seed, flops)


def compare_checked(graph: Graph, args: list[Any], positions: list[int], eps: float, rtol: float, atol: float,
                    directions: int, *, seed: int = 0) -> dict[str, Any]:
    """``check_gradients`` of arguments it already checked and priced (in this process or the one that sent
    them), with no check run again. Not for arguments from outside."""
    rng = np.random.default_rng(seed)
    xs = [np.asarray(x, dtype=np.float64) for x in args]  # differences in float64, whatever the arguments
    outs = _outputs(graph, xs)
    n_params = len(positions)
    abs_err = [0.0] * n_params
    rel_err = [0.0] * n_params
    ok = True
    for _ in range(directions):
        v = [rng.standard_normal(o.shape) for o in outs]
        grads = evaluate_checked(graph, xs, positions, v if graph.output_is_list else v[0], True)[1]
        for i, (p, grad) in enumerate(zip(positions, grads, strict=True)):
            u = rng.standard_normal(xs[p].shape)
            analytic = float(np.sum(np.asarray(grad) * u))
            numeric = (_inner(v, _outputs(graph, _moved(xs, p, eps * u))) -
                       _inner(v, _outputs(graph, _moved(xs, p, -eps * u)))) / (2 * eps)
            err = abs(analytic - numeric) if np.isfinite(analytic) and np.isfinite(numeric) else float("inf")
            scale = max(abs(analytic), abs(numeric))
            abs_err[i] = max(abs_err[i], err)
            rel_err[i] = max(rel_err[i], err / scale if scale > 0 else err)
            ok = ok and err <= atol + rtol * scale
    names = graph.input_names
    return {"ok": ok, "params": [names[p] for p in positions], "max_abs_error": abs_err,
            "max_rel_error": rel_err, "directions": directions}


def _moved(xs: list[np.ndarray], p: int, step: np.ndarray) -> list[np.ndarray]:
    return [x + step if k == p else x for k, x in enumerate(xs)]


def _outputs(graph: Graph, xs: list[np.ndarray]) -> list[np.ndarray]:
    value = evaluate_checked(graph, xs, [], None, False)[0]
    leaves = flatten(value)[0] if isinstance(value, list) else [value]
    return [np.asarray(v, dtype=np.float64) for v in leaves]


def _inner(vs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> float:
    return float(sum(np.sum(v * y) for v, y in zip(vs, ys, strict=True)))


# -- batches ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class BatchItem:
    """One request of a batch: prepared (``evaluation``) or refused by its checks (``error``)."""

    evaluation: Evaluation | None
    error: Exception | None


@dataclass(slots=True)
class PreparedBatch:
    """Items checked and admitted together: ``run()`` gives per item ``(value, gradients, params)`` or an error."""

    items: list[BatchItem]
    flops: int
    elements: int

    def run(self) -> list[Any]:
        return [item.error if item.evaluation is None else
                _item(item.evaluation.graph, item.evaluation.positions, item.evaluation.run) for item in self.items]


def run_batch_checked(graph: Graph, items: Sequence[tuple[list[Any], list[int], Any]], zeros: bool) -> list[Any]:
    """``PreparedBatch.run`` for items ``(xs, positions, dy)`` it already checked and admitted (in this process or
    the one that sent them), with no check run again. Not for arguments from outside."""
    return [_item(graph, positions, partial(evaluate_checked, graph, xs, positions, dy, zeros))
            for xs, positions, dy in items]


def _item(graph: Graph, positions: list[int], run: Callable[[], tuple[Any, list[Any]]]) -> Any:
    """One item's ``(value, gradients, params)``, or the error it raised running, so it never fails the others."""
    try:
        value, grads = run()
    except (EngineError, ValueError, TypeError, ArithmeticError) as e:
        return e
    names = graph.input_names
    return value, grads, [names[p] for p in positions]


def prepare_batch(graph: GraphLike, requests: Sequence[Mapping[str, Any]], params: Any = None,
                  unconnected_gradients: Unconnected = "none", *, limits: Limits = DEFAULT_LIMITS,
                  max_items: int = 10_000) -> PreparedBatch:
    """Bind and check every request (``{args, params?, dy?}``); refuse the whole batch if its total cost is over
    ``limits``. A request's own errors (bad args, shapes, params, dy) become its result, not the batch's."""
    g = _graph(graph, limits)
    if len(requests) > max_items:
        raise TooExpensiveError(f"a batch holds at most {max_items} requests, got {len(requests)}", "/requests")
    items = []
    flops = elements = 0
    for r in requests:
        try:
            if not isinstance(r, Mapping) or "args" not in r:
                raise ArgumentError('a batch request is {"args", "params"?, "dy"?}', "/args")
            ev = prepare(g, r["args"], r.get("params", params), r.get("dy"), unconnected_gradients, limits=limits)
        except (EngineError, ValueError, TypeError) as e:
            items.append(BatchItem(None, e))
            continue
        flops += ev.info.flops
        elements = max(elements, ev.info.peak_elements)  # items run one after another
        items.append(BatchItem(ev, None))
    if flops > limits.max_flops:
        raise TooExpensiveError(f"the batch's {len(requests)} requests need about {flops} FLOPs together, more "
                                f"than the limit of {limits.max_flops}; send smaller batches", "/requests")
    return PreparedBatch(items, flops, elements)
