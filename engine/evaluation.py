"""Evaluating a graph: ``value_and_gradients`` and ``prepare``, with every check before the first NumPy call.

``prepare`` binds the arguments, resolves the params and runs the static
pass, each cached on the graph (``Graph.plans``, ``Graph.checks``), so a held
function costs one loop per call; the ``Evaluation`` it returns carries the
static estimate, for callers that choose where to run the work.
``evaluate_checked`` is the other half for such a caller's helper process:
it runs a job whose checks the caller already passed, so a request is
checked once wherever it runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

import engine.compiled as compiled
from engine.contract import Unconnected, as_argument, check_unconnected, finish_gradient, seeds, to_array
from engine.errors import ArgumentError
from engine.graph import load_function
from engine.ir import Graph
from engine.limits import DEFAULT_LIMITS, Limits
from engine.params import resolve_params
from engine.static import StaticInfo, infer
from engine.tape import Plan, backward, forward, make_plan
from engine.tensor import Tensor, forward_traced

__all__ = ["Evaluation", "NumpyErrors", "evaluate_checked", "plan_for", "prepare", "value_and_gradients"]

NumpyErrors = Literal["ignore", "warn", "raise"]


def value_and_gradients(
    graph: Graph | Mapping[str, Any], args: Sequence[Any] | Mapping[str, Any], params: Any = None,
    dy: Any = None, unconnected_gradients: Unconnected = "none", *, limits: Limits = DEFAULT_LIMITS,
) -> tuple[Any, list[Any]]:
    """Value and gradients of a graph (or JSON graph / expression) at ``args`` (a list, or a dict by name)."""
    return prepare(graph, args, params, dy, unconnected_gradients, limits=limits).run()


def prepare(
    graph: Graph | Mapping[str, Any], args: Sequence[Any] | Mapping[str, Any], params: Any = None,
    dy: Any = None, unconnected_gradients: Unconnected = "none", *, limits: Limits = DEFAULT_LIMITS,
) -> Evaluation:
    """``value_and_gradients`` up to its first NumPy call: arguments bound, params resolved, static checks passed.

    Raises the same typed errors; the returned ``Evaluation`` carries the static estimate (``info``), so a
    caller such as the service can decide where to run it before paying for it.
    """
    zeros = check_unconnected(unconnected_gradients)
    if not isinstance(graph, Graph):
        graph = load_function(graph, limits=limits)
    xs = _bind_args(graph, args)
    positions, plan = plan_for(graph, params)
    return Evaluation(graph, xs, positions, plan, dy, zeros, _static_check(graph, xs, limits))


def evaluate_checked(graph: Graph, xs: list[Any], positions: list[int], dy: Any, zeros: bool,
                     numpy_errors: NumpyErrors = "ignore") -> tuple[Any, list[Any]]:
    """Value and gradients of arguments ``prepare`` already checked (in this process or the one that sent them):
    bound as they are, with no check run again. Not for arguments from outside."""
    plan = graph.plans.get(tuple(positions)) or _make_plan(graph, positions)
    return _run(graph, xs, positions, plan, dy, zeros, numpy_errors)


@dataclass(slots=True)
class Evaluation:
    """A graph bound to checked arguments: ``run()`` computes its value and gradients."""

    graph: Graph
    xs: list[Any]
    positions: list[int]  # of the params, in the order their gradients are returned
    plan: Plan
    dy: Any
    zeros: bool  # unconnected gradients as zeros rather than None
    info: StaticInfo  # shapes, element counts and estimated FLOPs, from the static pass

    def run(self, numpy_errors: NumpyErrors = "ignore") -> tuple[Any, list[Any]]:
        """Value and gradients. ``numpy_errors`` is the caller's ``np.errstate`` policy for the NumPy calls:
        NaN and inf are answers here, so by default they warn no one ("warn" or "raise" as the caller likes)."""
        return _run(self.graph, self.xs, self.positions, self.plan, self.dy, self.zeros, numpy_errors)


def _run(graph: Graph, xs: list[Any], positions: list[int], plan: Plan, dy: Any, zeros: bool,
         numpy_errors: NumpyErrors) -> tuple[Any, list[Any]]:
    def seeds_for(values: list[Any]) -> dict[int, Any]:
        return seeds(values, graph.outputs, dy, graph.output_is_list)

    runner = compiled.tiered(graph, positions, plan, xs) if compiled.enabled() else None
    if runner is not None and not any(type(x) is Tensor for x in xs):  # a hot plan, compiled and checked
        values, grads = runner.run(xs, seeds_for)
    else:
        env = [*xs, *graph.env_tail]
        with np.errstate(all=numpy_errors):
            if any(type(x) is Tensor for x in xs):  # inside an enclosing gradient (higher order)
                forward_traced(graph.nodes, env)
            else:
                forward(graph.nodes, env)
            values = [env[s] for s in graph.outputs]
            grads = backward(plan, env, seeds_for(values), positions)
    value = [to_array(v) for v in values] if graph.output_is_list else to_array(values[0])
    return value, [finish_gradient(g, xs[p], zeros) for g, p in zip(grads, positions, strict=True)]


def _bind_args(graph: Graph, args: Sequence[Any] | Mapping[str, Any]) -> list[Any]:
    if type(args) is not list and type(args) is not tuple:  # the common case skips the ABC checks
        args = _args_by_name(graph, args) if isinstance(args, Mapping) else _args_sequence(args)
    n = len(graph.inputs)
    if len(args) != n:
        names = graph.input_names
        raise ArgumentError(f"the function takes {n} argument(s) ({', '.join(names)}), got {len(args)}",
                            pointer="/args")
    return [as_argument(a, i) for i, a in enumerate(args)]


def _args_by_name(graph: Graph, args: Mapping[str, Any]) -> list[Any]:
    names = graph.input_names
    extra = sorted(set(args) - set(names), key=str)
    if extra:
        raise ArgumentError(f"unknown argument {extra[0]!r}; the function's inputs are {', '.join(names)}",
                            pointer=f"/args/{extra[0]}")
    missing = [n for n in names if n not in args]
    if missing:
        raise ArgumentError(f"missing argument {missing[0]!r}; the function's inputs are {', '.join(names)}",
                            pointer="/args")
    return [args[n] for n in names]


def _args_sequence(args: Any) -> Sequence[Any]:
    if not isinstance(args, Sequence) or isinstance(args, str | bytes):
        raise ArgumentError("args must be a list (by position) or an object (by name)", pointer="/args")
    return args


def _static_check(graph: Graph, xs: list[Any], limits: Limits) -> StaticInfo:
    """Shapes, dtypes, sizes and costs, checked once per argument signature before any NumPy call."""
    key = (limits, *[(x.shape, x.dtype.char) for x in xs])
    info = graph.checks.get(key)
    if info is None:
        info = graph.checks.put(key, infer(graph, [x.shape for x in xs], [x.dtype for x in xs], limits=limits))
    return info


def plan_for(graph: Graph, params: Any) -> tuple[list[int], Plan]:
    """Param positions and the backward plan for them, cached per positions."""
    # TF's default is every input: the common case needs no resolution
    key = graph.every_input if params is None else tuple(resolve_params(params, graph.input_names, len(graph.inputs)))
    plan = graph.plans.get(key)
    return list(key), plan if plan is not None else _make_plan(graph, list(key))


def _make_plan(graph: Graph, positions: list[int]) -> Plan:
    return graph.plans.put(tuple(positions), make_plan(graph.nodes, graph.outputs, positions))
