"""Forward mode: push a batch of tangents through a tape or graph in one pass.

Why per-op JVP rules rather than the double-VJP trick or JAX's
linearize-and-transpose: a JVP by double VJP records the whole backward pass
and then runs its transpose (three passes over the data after the forward);
linearize-and-transpose needs a linear sub-language this engine does not
have. A tangent sweep is one pass after the forward, over the values the
forward already holds, so a JVP of an elementwise function costs about one
forward (measured in ``bench.derivatives``).

Every tangent carries one leading *batch* axis (size 1 for a JVP, the number
of basis directions for a Jacobian), so a Jacobian is one sweep of NumPy calls
rather than a Python loop per row. A tangent is kept at rank ``1 + ndim`` of
its value but may be broadcastable rather than full size (``t_x * y`` of a
broadcast ``x``). Rules come from three places, in order: the table in
``engine.jvps`` (batch-aware rules for the ops that matter for speed and for
the ops a recorded backward pass is made of); for elementwise ops (shape rule
``same`` or ``broadcast``), the op's own VJP, which for a diagonal Jacobian
*is* the JVP once the operand is broadcast to the batched output; for anything
else, the node's VJP transposed (recorded once with a traced cotangent, then
one backward pass per batch row), correct for every op whose VJP is written in
registered ops. Rules use registered NumPy ops only, so a sweep recorded by an
enclosing trace is differentiable again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

import engine.shapes as shapes
from engine.ir import Node
from engine.jvps import JVP_RULES, JVPRule, full
from engine.registry import Op, shape_of, unbroadcast
from engine.tape import Tape, backward, make_plan
from engine.tensor import Tensor, concrete

__all__ = ["sweep"]

def sweep(nodes: Sequence[Node], values: Sequence[Any], seeds: Mapping[int, Any],
          keep: Iterable[int]) -> dict[int, Any]:
    """Tangents of the slots in ``keep`` (absent: zero), given batched tangents of some slots (``seeds``).

    ``values`` holds every slot's forward value. Tangents are freed after their last use (fresh 8 MB
    temporaries are page faults; reused ones are not).
    """
    tan = dict(seeds)
    kept = set(keep)
    last: dict[int, int] = {}
    for k, node in enumerate(nodes):
        for a in node.args:
            last[a] = k
    for k, node in enumerate(nodes):
        args = node.args
        ts = [tan.get(a) for a in args]
        if not any(t is not None for t in ts):
            continue
        t = _rule(node.op)(ts, values[node.out], *[values[a] for a in args], **node.kwargs)
        if t is not None:
            tan[node.out] = t
        for a in args:
            if last[a] == k and a not in kept:
                tan.pop(a, None)
    return {s: tan[s] for s in kept if s in tan}


def _rule(op: Op) -> JVPRule:
    rule = JVP_RULES.get(op.name)
    if rule is not None:
        return lambda ts, ans, *xs, **kw: _or_transposed(rule, op, ts, ans, xs, kw)
    if op.shape is shapes.same or op.shape is shapes.broadcast:
        return lambda ts, ans, *xs, **kw: _elementwise(op, ts, ans, xs, kw)
    return lambda ts, ans, *xs, **kw: _transposed(op, ts, ans, xs, kw)


def _or_transposed(rule: JVPRule, op: Op, ts: list[Any], ans: Any, xs: Sequence[Any], kw: Mapping[str, Any]) -> Any:
    """A table rule, or the general one where the rule declines a case (``NotImplemented``)."""
    t = rule(ts, ans, *xs, **kw)
    return _transposed(op, ts, ans, xs, kw) if t is NotImplemented else t


def _add(total: Any, t: Any) -> Any:
    return t if total is None else total + t


def _elementwise(op: Op, ts: list[Any], ans: Any, xs: Sequence[Any], kw: Mapping[str, Any]) -> Any:
    """An elementwise op's VJP is ``g * d_i`` undone by ``unbroadcast``: with ``x_i`` broadcast to the batched
    output, ``unbroadcast`` is the identity and ``vjp_i(t)`` is the JVP along ``t``."""
    out_shape = shape_of(ans)
    total = None
    for i, t in enumerate(ts):
        vjp = op.vjp(i)
        if t is None or vjp is None:
            continue
        batched = (shape_of(t)[0], *out_shape)
        g = full(t, out_shape)
        args = list(xs)
        if shape_of(xs[i]) != batched and op.shape is not shapes.same:
            args[i] = np.broadcast_to(xs[i], batched)
        total = _add(total, vjp(g, ans, *args, **kw))
    return total


def _transposed(op: Op, ts: list[Any], ans: Any, xs: Sequence[Any], kw: Mapping[str, Any]) -> Any:
    """Any op: its VJP is linear in ``g``, so the VJP of the VJP (w.r.t. ``g``) along ``t`` is ``J t``.

    The VJP is recorded once per input with a traced zero cotangent; then one backward pass per batch row.
    """
    out_shape = shape_of(ans)
    dtype = np.result_type(concrete(ans))
    total = None
    for i, t in enumerate(ts):
        vjp = op.vjp(i)
        if t is None or vjp is None:
            continue
        tape = Tape()
        g0 = np.zeros(out_shape, dtype)
        slot = tape.new_slot(g0)
        c = vjp(Tensor(tape, slot, g0), ans, *xs, **kw)
        if not (isinstance(c, Tensor) and c._tape is tape):
            continue  # the VJP ignores g: a zero derivative
        plan = make_plan(tape.nodes, [c._slot], [slot])
        rows = full(t, shape_of(xs[i]))
        cvalue = tape.values[c._slot]
        out = []
        for b in range(shape_of(rows)[0]):
            (r,) = backward(plan, tape.values, {c._slot: unbroadcast(rows[b], cvalue)}, [slot], keep_values=True)
            out.append(np.zeros(out_shape, dtype) if r is None else np.broadcast_to(r, out_shape))
        total = _add(total, np.stack(out))
    return total
