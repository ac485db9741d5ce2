"""The tape and the backward pass shared by eager tracing and submitted graphs.

A ``Tape`` records nodes over numbered value slots as an eager or symbolic
trace runs. ``make_plan`` keeps only the nodes that lie between the chosen
params and the outputs, in reverse order, with the VJPs each needs; it is
computed once per (function, params) and cached by callers. ``backward`` is
then one loop of NumPy calls that frees each cotangent once consumed, and each
forward value once no VJP can need it.
Everything is iterative, so a 100,000-node chain needs no recursion.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from engine.ir import Node
from engine.registry import VJP, Op

__all__ = ["EMPTY", "Plan", "Tape", "backward", "forward", "make_plan"]

EMPTY: Mapping[str, Any] = {}


class Tape:
    """An append-only record of op applications; ``values[slot]`` is None when symbolic."""

    __slots__ = ("level", "nodes", "symbolic", "values")
    _levels = itertools.count(1)

    def __init__(self, symbolic: bool = False) -> None:
        # Nested traces (higher-order gradients) get increasing levels; the
        # innermost, most recent trace is the one an op records onto.
        self.level = next(Tape._levels)
        self.symbolic = symbolic
        self.values: list[Any] = []
        self.nodes: list[Node] = []

    def new_slot(self, value: Any) -> int:
        """A slot for an input or a constant."""
        self.values.append(value)
        return len(self.values) - 1

    def record(self, op: Op, args: tuple[int, ...], kwargs: Mapping[str, Any],
               attrs: Mapping[str, Any], value: Any) -> int:
        """Append one node whose output is ``value``; return its slot."""
        out = len(self.values)
        self.values.append(value)
        # ids are given when a tape is serialised (engine.serialise.tape_to_graph); tuple.__new__ skips
        # NamedTuple's Python-level constructor, a third of the cost of recording a node.
        self.nodes.append(tuple.__new__(Node, (op, args, kwargs, out, attrs, "")))
        return out


class Plan(NamedTuple):
    """Reverse-ordered backward steps: each node with the (input position, VJP) pairs it needs."""

    steps: tuple[tuple[Node, tuple[tuple[int, VJP], ...]], ...]


def make_plan(nodes: Sequence[Node], outputs: Iterable[int], params: Iterable[int]) -> Plan:
    """Select the nodes on a path from a param to an output, and the VJPs they need."""
    reached = set(params)  # slots that depend on a param
    for node in nodes:
        if not reached.isdisjoint(node.args):
            reached.add(node.out)
    live = {o for o in outputs if o in reached}  # slots whose cotangent an output needs
    steps = []
    for node in reversed(nodes):
        if node.out not in live:
            continue
        op = node.op
        wanted = []
        for i, a in enumerate(node.args):
            if a in reached:
                rule = op.vjp(i) if op.variadic_vjp is not None or i >= len(op.vjps) else op.vjps[i]
                if rule is not None:
                    wanted.append((i, rule))
                    live.add(a)
        if wanted:
            steps.append((node, tuple(wanted)))
    return Plan(tuple(steps))


def forward(nodes: Sequence[Node], env: list[Any]) -> None:
    """Fill ``env`` (slot -> value) in node order; ``env`` already holds inputs and constants."""
    for op, args, kwargs, out, _, _ in nodes:
        f = op.forward
        # Spelled out by arity: building an argument list costs as much as a scalar op.
        if kwargs:
            env[out] = f(*[env[a] for a in args], **kwargs)
        elif len(args) == 2:
            env[out] = f(env[args[0]], env[args[1]])
        elif len(args) == 1:
            env[out] = f(env[args[0]])
        else:
            env[out] = f(*[env[a] for a in args])


def backward(plan: Plan, values: list[Any], seeds: Mapping[int, Any], params: Sequence[int], *,
             keep_values: bool = False) -> list[Any]:
    """Cotangents of ``params`` given output ``seeds`` (slot -> cotangent); None where unreached.

    A node's cotangent is popped before its VJPs run, so it is freed as soon as it is consumed. ``values``
    is consumed too (unless ``keep_values``, e.g. for several VJPs of one forward pass): a node's value is
    dropped after its own VJPs ran, since its consumers, which come later on the tape, were handled before
    it. Callers keep the outputs they return in a list of their own.
    """
    drop = not keep_values
    cot = dict(seeds)
    pop, get = cot.pop, cot.get
    for node, wanted in plan.steps:
        out = node.out
        g = pop(out, None)
        if g is None:
            if drop:
                values[out] = None
            continue
        args, kwargs = node.args, node.kwargs
        ans = values[out]
        xs = [values[a] for a in args]
        if drop:
            values[out] = None
        for i, vjp in wanted:
            contrib = vjp(g, ans, *xs, **kwargs) if kwargs else vjp(g, ans, *xs)
            a = args[i]
            prev = get(a)
            cot[a] = contrib if prev is None else prev + contrib
    return [get(p) for p in params]
