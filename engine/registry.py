"""The op registry: one ``defop`` entry per op, nothing else knows op names.

An op is a NumPy forward, one vector-Jacobian product per differentiable
input (autodidact's flat signature ``vjp(g, ans, *inputs, **attrs)``), a
static shape rule and a cost rule. VJPs use only NumPy operations that
``Tensor`` dispatches, so a backward pass can itself be recorded (higher
order). Attributes are validated once, when a graph is built, into two
forms: the canonical JSON (hashed into the function id) and the keyword
arguments that forward, VJPs and rules receive.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.costs import DEFAULT_TEMPORARIES, ELEMENT_FLOPS, VJP_FACTOR, largest
from engine.errors import AttrError, UnknownOpError

__all__ = [
    "ALIASES",
    "OPS",
    "REQUIRED",
    "Attr",
    "Op",
    "defop",
    "lookup",
    "shape_of",
    "size_of",
    "unbroadcast",
]

Shape = tuple[int, ...]
VJP = Callable[..., Any]
ShapeRule = Callable[..., Shape]
CostRule = Callable[..., int]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Attr:
    """One static attribute: ``parse`` validates JSON into canonical JSON; ``to_kwarg`` makes the Python value.

    An attribute added to an op in a later opset is ``omit_default`` (its default stays out of the canonical
    form, so earlier functions keep their ids) and says through ``opset_of`` which opset a value needs.
    """

    name: str
    parse: Callable[[Any], Any]
    default: Any = REQUIRED
    to_kwarg: Callable[[Any], Any] = lambda v: v
    doc: str = ""
    omit_default: bool = False
    opset_of: Callable[[Any], int] | None = None


def size_of(shape: Sequence[int]) -> int:
    """Number of elements of ``shape`` as an exact Python int (no overflow)."""
    return math.prod(shape)


def _elementwise_cost(out: Shape, *ins: Shape, **_: Any) -> int:
    return ELEMENT_FLOPS * size_of(out)


@dataclass(frozen=True)
class Op:
    """A registered op; see ``defop`` for the meaning of each field."""

    name: str
    forward: Callable[..., Any]
    vjps: tuple[VJP | None, ...]
    shape: ShapeRule
    attrs: tuple[Attr, ...] = ()
    arity: tuple[int, int | None] = (1, 1)
    doc: str = ""
    cost: CostRule = _elementwise_cost
    variadic_vjp: Callable[[int], VJP | None] | None = None
    numpy: tuple[Any, ...] = ()
    attr_index: Mapping[str, Attr] = field(default_factory=dict, compare=False)
    opset: int = 1
    results: int | Callable[..., int] = 1
    operators: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    pack_args: bool = False
    differentiable: bool = True  # some input has a VJP; an eager trace records only such ops
    vjp_cost: CostRule | None = None
    temporaries: int | CostRule = DEFAULT_TEMPORARIES

    def backward_cost(self, out: Shape, *ins: Shape, **kwargs: Any) -> int:
        """Estimated FLOPs of all of this node's VJPs (0 when it has none)."""
        if self.vjp_cost is not None:
            return self.vjp_cost(out, *ins, **kwargs)
        return VJP_FACTOR * self.cost(out, *ins, **kwargs) if self.differentiable else 0

    def scratch(self, out: Shape, *ins: Shape, **kwargs: Any) -> int:
        """Elements of the temporaries its forward or VJPs hold at their peak, beyond inputs and output."""
        if not isinstance(self.temporaries, int):
            return self.temporaries(out, *ins, **kwargs)
        return self.temporaries * largest(out, *ins) if self.differentiable else 0

    def n_results(self, kwargs: Mapping[str, Any]) -> int:
        """How many results the NumPy function has (``linalg.eigh``: 2); each is a node with ``output=k``."""
        return self.results if isinstance(self.results, int) else self.results(**kwargs)

    def vjp(self, i: int) -> VJP | None:
        """The VJP for input ``i``, or None where the op has no gradient there."""
        if self.variadic_vjp is not None:
            return self.variadic_vjp(i)
        return self.vjps[i] if i < len(self.vjps) else None

    def node_opset(self, canonical: Mapping[str, Any]) -> int:
        """The opset a node of this op with these canonical attributes needs (a newer attribute value may)."""
        needed = self.opset
        for attr in self.attrs:
            if attr.opset_of is not None and attr.name in canonical:
                needed = max(needed, attr.opset_of(canonical[attr.name]))
        return needed

    def check_arity(self, n: int) -> str | None:
        """An error message when ``n`` arguments do not fit, else None."""
        low, high = self.arity
        if n < low or (high is not None and n > high):
            want = str(low) if low == high else f"{low}..{'' if high is None else high}"
            return f"op '{self.name}' takes {want} argument(s), got {n}"
        return None

    def kwargs_of(self, canonical: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments of attributes ``bind`` already made canonical: nothing is checked again."""
        return {a.name: a.to_kwarg(canonical.get(a.name, a.default)) for a in self.attrs}

    def bind(self, attrs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Validate ``attrs``; return (canonical JSON attrs, keyword arguments).

        Raises ``AttrError`` whose pointer is relative to the node's ``attrs``.
        """
        if not isinstance(attrs, Mapping):
            raise AttrError(f"attrs of '{self.name}' must be an object, got {type(attrs).__name__}")
        unknown = sorted(set(attrs) - set(self.attr_index))
        if unknown:
            valid = ", ".join(a.name for a in self.attrs) or "none"
            raise AttrError(
                f"op '{self.name}' has no attribute '{unknown[0]}' (valid: {valid})",
                pointer="/" + str(unknown[0]),
            )
        canonical: dict[str, Any] = {}
        kwargs: dict[str, Any] = {}
        for attr in self.attrs:
            if attr.name in attrs:
                try:
                    value = attr.parse(attrs[attr.name])
                except AttrError as e:
                    raise AttrError(f"attribute '{attr.name}' of '{self.name}': {e.message}", "/" + attr.name) from None
            elif attr.default is REQUIRED:
                raise AttrError(f"op '{self.name}' requires attribute '{attr.name}'", pointer="")
            else:
                value = attr.default
            if not (attr.omit_default and value == attr.default):
                canonical[attr.name] = value
            kwargs[attr.name] = attr.to_kwarg(value)
        if self.results != 1 and kwargs.get("output", 0) >= self.n_results(kwargs):
            raise AttrError(f"op '{self.name}' has {self.n_results(kwargs)} result(s); output "
                            f"{kwargs['output']} does not exist", pointer="/output")
        return canonical, kwargs


OPS: dict[str, Op] = {}
ALIASES: dict[str, str] = {}


def defop(
    name: str,
    forward: Callable[..., Any],
    vjps: Sequence[VJP | None] = (),
    *,
    shape: ShapeRule,
    attrs: Sequence[Attr] = (),
    arity: int | tuple[int, int | None] | None = None,
    doc: str = "",
    cost: CostRule = _elementwise_cost,
    variadic_vjp: Callable[[int], VJP | None] | None = None,
    numpy: Sequence[Any] = (),
    aliases: Sequence[str] = (),
    opset: int = 1,
    results: int | Callable[..., int] = 1,
    operators: Sequence[str] = (),
    methods: Sequence[str] = (),
    pack_args: bool = False,
    vjp_cost: CostRule | None = None,
    temporaries: int | CostRule = DEFAULT_TEMPORARIES,
) -> Op:
    """Register an op.

    ``forward(*inputs, **kwargs)`` computes with NumPy; ``vjps[i](g, ans, *inputs, **kwargs)``
    returns the cotangent of input ``i`` (None: no gradient); ``shape(*input_shapes, **kwargs)``
    returns the output shape or raises ``ShapeError``; ``cost(out_shape, *input_shapes, **kwargs)``
    estimates FLOPs; ``numpy`` lists the NumPy functions/ufuncs a ``Tensor`` routes here.
    ``arity`` defaults to ``len(vjps)``; ``(low, None)`` means variadic. ``opset`` is the op set that
    introduced the op. ``results`` > 1 (or a function of the attributes) marks a NumPy function with several
    results (``linalg.eigh``): each result is its own node, selected by the op's ``output`` attribute.
    ``operators`` are the Python operators that mean this op (``"add"`` for ``+`` and its reflection, see
    ``engine.pyops``) and ``methods`` the ndarray methods (``"sum"``); ``pack_args`` lets a method take its
    first list attribute as separate arguments, as ``x.reshape(2, 3)`` does. ``vjp_cost`` (same signature as
    ``cost``) prices all VJPs of a node (default: ``VJP_FACTOR`` x ``cost``); ``temporaries`` counts the
    full-size arrays (of the largest operand) its VJPs hold at their peak, or is a rule giving elements.
    """
    if name in OPS or name in ALIASES:
        raise RuntimeError(f"op '{name}' registered twice")
    if arity is None:
        arity = len(vjps)
    span = (arity, arity) if isinstance(arity, int) else arity
    op = Op(
        name=name,
        forward=forward,
        vjps=tuple(vjps),
        shape=shape,
        attrs=tuple(attrs),
        arity=span,
        doc=doc,
        cost=cost,
        variadic_vjp=variadic_vjp,
        numpy=tuple(numpy),
        attr_index={a.name: a for a in attrs},
        opset=opset,
        results=results,
        operators=tuple(operators),
        methods=tuple(methods),
        pack_args=pack_args,
        differentiable=variadic_vjp is not None or any(v is not None for v in vjps),
        vjp_cost=vjp_cost,
        temporaries=temporaries,
    )
    OPS[name] = op
    for alias in aliases:
        ALIASES[alias] = name
    return op


def lookup(name: Any) -> Op:
    """The op called ``name`` or one of its aliases; ``UnknownOpError`` otherwise."""
    if isinstance(name, str):
        op = OPS.get(ALIASES.get(name, name))
        if op is not None:
            return op
    close = sorted(n for n in OPS if isinstance(name, str) and (name in n or n in name))[:5]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownOpError(f"unknown op {name!r}{hint}")


def shape_of(x: Any) -> Shape:
    """Shape of an array, a ``Tensor`` or a Python number, without converting it."""
    shape = getattr(x, "shape", None)
    return tuple(shape) if shape is not None else ()


def unbroadcast(g: Any, x: Any) -> Any:
    """Sum ``g`` down to the shape of ``x``: the adjoint of NumPy broadcasting.

    The one place where broadcasting is undone; every binary VJP goes through it.
    """
    gshape = getattr(g, "shape", ())
    target = getattr(x, "shape", ())
    if gshape == target:  # the common case, checked before any tuple is built
        return g
    gshape, target = tuple(gshape), tuple(target)
    extra = len(gshape) - len(target)
    if extra < 0:  # g was never broadcast up to x (a reduction's VJP may hand back less)
        return np.broadcast_to(g, target)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, n in enumerate(target) if n == 1 and gshape[i + extra] != 1
    )
    if axes:
        g = np.sum(g, axis=axes, keepdims=True)
    if extra or shape_of(g) != target:
        g = np.reshape(g, target)
    return g
