"""Numerical gradient checking, for op authors and users alike.

``check_vjp`` compares a vector-Jacobian product against central
differences along one random direction per argument, in float64: with
random ``u`` and cotangent ``v`` it checks ``<v, J u>`` (finite differences
of ``fun``) against ``<vjp(v), u>`` (the rule under test). Two evaluations
of ``fun`` per argument, whatever the sizes (HIPS autograd's ``check_vjp``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["check_vjp"]


def _outputs(value: Any) -> list[np.ndarray]:
    """``fun``'s result as a list of float64 arrays (a single array becomes a list of one)."""
    items = value if isinstance(value, list | tuple) else [value]
    return [np.asarray(v, dtype=np.float64) for v in items]


def _inner(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> float:
    return float(sum(np.sum(x * y) for x, y in zip(xs, ys, strict=True)))


def check_vjp(
    fun: Callable[..., Any],
    vjp: Callable[..., Sequence[Any] | Any],
    args: Sequence[Any],
    *,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    seed: int = 0,
) -> None:
    """Assert that ``vjp`` is the vector-Jacobian product of ``fun`` at ``args``.

    ``fun(*args)`` returns an array or a list of arrays (plain NumPy);
    ``vjp(g, *args)`` returns one cotangent per argument (None: not checked),
    where ``g`` has ``fun``'s structure. Raises ``AssertionError`` naming the
    argument and both numbers when they differ by more than ``atol + rtol * scale``.
    """
    rng = np.random.default_rng(seed)
    xs = [np.array(a, dtype=np.float64) for a in args]
    value = fun(*xs)
    outs = _outputs(value)
    v = [rng.standard_normal(o.shape) for o in outs]
    g: Any = v if isinstance(value, list | tuple) else v[0]
    cots = vjp(g, *xs)
    if len(xs) == 1 and not isinstance(cots, list | tuple):
        cots = [cots]
    if len(cots) != len(xs):
        raise AssertionError(f"vjp returned {len(cots)} cotangents for {len(xs)} arguments")
    for i, (x, cot) in enumerate(zip(xs, cots, strict=True)):
        if cot is None:
            continue
        cot = np.asarray(cot, dtype=np.float64)
        if cot.shape != x.shape:
            raise AssertionError(f"argument {i}: vjp returned shape {cot.shape}, the argument has shape {x.shape}")
        u = rng.standard_normal(x.shape)
        analytic = float(np.sum(cot * u))
        plus = _outputs(fun(*xs[:i], x + eps * u, *xs[i + 1:]))
        minus = _outputs(fun(*xs[:i], x - eps * u, *xs[i + 1:]))
        numeric = (_inner(v, plus) - _inner(v, minus)) / (2 * eps)
        if not (np.isfinite(numeric) and np.isfinite(analytic)) or abs(numeric - analytic) > atol + rtol * max(
            abs(numeric), abs(analytic)
        ):
            raise AssertionError(
                f"argument {i}: <vjp(v), u> = {analytic!r} but central differences give <v, J u> = {numeric!r}"
                f" (eps={eps}, difference {abs(numeric - analytic):.3g})"
            )


# check_grads(f_or_graph, args) — the same check run through the tape — goes below.

__all__ += ["check_grads"]


def check_grads(
    f_or_graph: Any,
    args: Sequence[Any],
    params: Any = None,
    *,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    seed: int = 0,
) -> None:
    """Assert that valgrad's gradients of a Python function or a graph match central differences at ``args``.

    ``f_or_graph`` is a plain NumPy function (differentiated with ``value_and_gradients_function``)
    or a graph (a ``Graph``, or a JSON graph / text expression dict, through ``value_and_gradients``).
    ``params`` selects the arguments checked, as in those functions (None: all). A random ``dy`` weights
    the outputs, so every output is checked; an unconnected param must have a zero derivative. Runs in
    float64 with two evaluations of the function per checked argument; raises ``AssertionError``.

    >>> check_grads(lambda x, y: np.sin(x) * y, [0.5, 2.0])
    """
    from engine.eager import value_and_gradients_function
    from engine.evaluation import value_and_gradients
    from engine.graph import load_function
    from engine.ir import Graph
    from engine.params import positional_names, resolve_params
    from engine.tree import flatten

    n = len(args)
    if isinstance(f_or_graph, Graph | dict):
        graph = f_or_graph if isinstance(f_or_graph, Graph) else load_function(f_or_graph)
        positions = resolve_params(params, graph.input_names, n)

        def run(xs: Sequence[Any], dy: Any = None) -> tuple[Any, list[Any]]:
            return value_and_gradients(graph, list(xs), params, dy, unconnected_gradients="zero")
    else:
        positions = resolve_params(params, positional_names(f_or_graph), n)
        grad = value_and_gradients_function(f_or_graph, params, unconnected_gradients="zero")

        def run(xs: Sequence[Any], dy: Any = None) -> tuple[Any, list[Any]]:
            return grad(*xs, dy=dy)

    def fun(*xs: Any) -> Any:
        leaves, _, structured = flatten(run(xs)[0])
        return [np.asarray(v) for v in leaves] if structured else np.asarray(leaves[0])

    def vjp(g: Any, *xs: Any) -> list[Any]:
        cotangents: list[Any] = [None] * n
        for p, c in zip(positions, run(xs, g)[1], strict=True):
            cotangents[p] = c
        return cotangents

    check_vjp(fun, vjp, args, eps=eps, rtol=rtol, atol=atol, seed=seed)
