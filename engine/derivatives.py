"""Version 2's derivative kinds: local functions (TF-style decorators) and their graph twins for the service.

``value_and_jvp_function``, ``value_and_jacobian_function``,
``hessian_function`` and ``hvp_function`` resolve ``params`` exactly as
``value_and_gradients_function`` and trace ``f`` eagerly on every call, so they
nest with each other and with ``gradients_function``. ``prepare_jvp`` and
friends take a graph (or JSON graph / text function) and arguments, run the
static pass, price the kind on top of it and raise ``TooExpensiveError``
before any NumPy call; ``.run()`` then computes. How each kind is computed is
in ``engine.kinds``; how it is priced in ``engine.pricing``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.contract import Unconnected, check_unconnected, no_keywords
from engine.evaluation import prepare
from engine.ir import Graph
from engine.kinds import hessian_of, hvp_of, jacobian_of, jvp_of
from engine.limits import DEFAULT_LIMITS, Limits
from engine.params import positional_names, resolve_params
from engine.pricing import Cost, price
from engine.static import StaticInfo
from engine.targets import Target, check_vectors

__all__ = [
    "Prepared",
    "hessian",
    "hessian_function",
    "hvp",
    "hvp_function",
    "prepare_hessian",
    "prepare_hvp",
    "prepare_jacobian",
    "prepare_jvp",
    "run_checked",
    "value_and_jacobian",
    "value_and_jacobian_function",
    "value_and_jvp",
    "value_and_jvp_function",
]

_MISSING: Any = object()
GraphLike = Graph | Mapping[str, Any]
Args = Sequence[Any] | Mapping[str, Any]


def _decorate(f: Callable[..., Any], params: Any, unconnected: Unconnected, vector: str | None,
              kind: Callable[..., Any]) -> Callable[..., Any]:
    zeros = check_unconnected(unconnected)
    names = positional_names(f)

    def decorated(*args: Any, **kwargs: Any) -> Any:
        extra = kwargs.pop(vector, _MISSING) if vector else _MISSING
        no_keywords(kwargs)
        if vector and extra is _MISSING:
            raise TypeError(f"missing the keyword argument {vector}=: one array per param")
        target = Target(f, None, args, resolve_params(params, names, len(args)))
        return kind(target, extra, zeros) if vector else kind(target, zeros)

    decorated.__doc__ = f"{kind.__name__.removesuffix('_of')} of {getattr(f, '__name__', 'f')}."
    return decorated


def value_and_jvp_function(f: Callable[..., Any], params: Any = None,
                           unconnected_gradients: Unconnected = "none") -> Callable[..., tuple[Any, Any]]:
    """Return ``g(*args, tangents) -> (value, jvp)``: ``jvp`` has ``value``'s structure, one array per output."""
    return _decorate(f, params, unconnected_gradients, "tangents", jvp_of)


def value_and_jacobian_function(f: Callable[..., Any], params: Any = None,
                                unconnected_gradients: Unconnected = "none") -> Callable[..., tuple[Any, Any]]:
    """Return ``g(*args) -> (value, jacobian)``; per output, a list over params of ``out.shape + param.shape``."""
    return _decorate(f, params, unconnected_gradients, None, jacobian_of)


def hessian_function(f: Callable[..., Any], params: Any = None,
                     unconnected_gradients: Unconnected = "none") -> Callable[..., tuple[Any, list[Any], Any]]:
    """Return ``g(*args) -> (value, [grad_i], [[H_ij]])`` of the sum of ``f``'s outputs."""
    return _decorate(f, params, unconnected_gradients, None, hessian_of)


def hvp_function(f: Callable[..., Any], params: Any = None,
                 unconnected_gradients: Unconnected = "none") -> Callable[..., tuple[Any, list[Any], list[Any]]]:
    """Return ``g(*args, vectors) -> (value, [grad_i], [hvp_i])``, ``hvp_i = sum_j H_ij . v_j``."""
    return _decorate(f, params, unconnected_gradients, "vectors", hvp_of)


# -- graphs: prepared, priced, then run -----------------------------------------------------------


@dataclass(slots=True)
class Prepared:
    """A derivative kind of a graph, checked and priced: ``run()`` computes it."""

    kind: str
    target: Target
    info: StaticInfo  # the static pass of one value-and-gradients evaluation
    cost: Cost  # this kind's estimate: flops, elements, bytes
    vectors: Any
    zeros: bool

    def run(self) -> Any:
        return _compute(self.kind, self.target, self.vectors, self.zeros)


def run_checked(kind: str, graph: Graph, xs: list[Any], positions: list[int], vectors: Any, zeros: bool) -> Any:
    """A derivative kind of arguments ``prepare_<kind>`` already checked and priced (in this process or the one
    that sent them), computed with no check run again. Not for arguments from outside."""
    return _compute(kind, Target(None, graph, xs, positions), vectors, zeros)


def _compute(kind: str, t: Target, vectors: Any, zeros: bool) -> Any:
    if kind == "jvp":
        return jvp_of(t, vectors, zeros)
    if kind == "hvp":
        return hvp_of(t, vectors, zeros)
    if kind == "jacobian":
        return jacobian_of(t, zeros)
    if kind == "hessian":
        return hessian_of(t, zeros)
    raise ValueError(f"unknown derivative kind {kind!r}")


def _prepare(kind: str, graph: GraphLike, args: Args, params: Any, vectors: Any, unconnected: Unconnected,
             limits: Limits) -> Prepared:
    ev = prepare(graph, args, params, None, unconnected, limits=limits)
    target = Target(None, ev.graph, ev.xs, ev.positions)
    if vectors is not None:
        check_vectors(vectors, ev.positions, ev.xs, "tangents" if kind == "jvp" else "vectors")
    cost = price(kind, ev.info, ev.graph, ev.xs, ev.positions, limits)
    return Prepared(kind, target, ev.info, cost, vectors, ev.zeros)


def prepare_jvp(graph: GraphLike, args: Args, params: Any = None, tangents: Any = _MISSING,
                unconnected_gradients: Unconnected = "none", *, limits: Limits = DEFAULT_LIMITS) -> Prepared:
    """``value_and_jvp`` up to its first NumPy call; ``.cost`` holds the estimate, ``.run()`` computes."""
    if tangents is _MISSING or tangents is None:
        raise TypeError("value_and_jvp needs tangents: one array per param")
    return _prepare("jvp", graph, args, params, tangents, unconnected_gradients, limits)


def prepare_jacobian(graph: GraphLike, args: Args, params: Any = None,
                     unconnected_gradients: Unconnected = "none", *, limits: Limits = DEFAULT_LIMITS) -> Prepared:
    """``value_and_jacobian`` up to its first NumPy call (a Jacobian too large to hold is refused here)."""
    return _prepare("jacobian", graph, args, params, None, unconnected_gradients, limits)


def prepare_hessian(graph: GraphLike, args: Args, params: Any = None,
                    unconnected_gradients: Unconnected = "none", *, limits: Limits = DEFAULT_LIMITS) -> Prepared:
    """``hessian`` up to its first NumPy call."""
    return _prepare("hessian", graph, args, params, None, unconnected_gradients, limits)


def prepare_hvp(graph: GraphLike, args: Args, params: Any = None, vectors: Any = _MISSING,
                unconnected_gradients: Unconnected = "none", *, limits: Limits = DEFAULT_LIMITS) -> Prepared:
    """``hvp`` up to its first NumPy call."""
    if vectors is _MISSING or vectors is None:
        raise TypeError("hvp needs vectors: one array per param")
    return _prepare("hvp", graph, args, params, vectors, unconnected_gradients, limits)


def value_and_jvp(graph: GraphLike, args: Args, params: Any = None, tangents: Any = _MISSING,
                  unconnected_gradients: Unconnected = "none", *, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Value and JVP of a graph at ``args`` along ``tangents``."""
    return prepare_jvp(graph, args, params, tangents, unconnected_gradients, limits=limits).run()


def value_and_jacobian(graph: GraphLike, args: Args, params: Any = None,
                       unconnected_gradients: Unconnected = "none", *, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Value and Jacobian of a graph at ``args``."""
    return prepare_jacobian(graph, args, params, unconnected_gradients, limits=limits).run()


def hessian(graph: GraphLike, args: Args, params: Any = None,
            unconnected_gradients: Unconnected = "none", *, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Value, gradients and Hessian of a graph at ``args``."""
    return prepare_hessian(graph, args, params, unconnected_gradients, limits=limits).run()


def hvp(graph: GraphLike, args: Args, params: Any = None, vectors: Any = _MISSING,
        unconnected_gradients: Unconnected = "none", *, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Value, gradients and Hessian-vector products of a graph at ``args``."""
    return prepare_hvp(graph, args, params, vectors, unconnected_gradients, limits=limits).run()
