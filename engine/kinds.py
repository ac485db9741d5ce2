"""The derivative kinds, computed from a ``Target``: JVP, Jacobian, Hessian, HVP.

* JVP: the forward pass, then one tangent sweep (``engine.forward``).
* Jacobian: forward or reverse by size. Forward mode sweeps the identity of
  each param's size as one batch; reverse mode records the backward pass once
  with traced cotangents ``u`` (on a tape of its own) and sweeps the identity
  of each output's size through that recording, which is linear in ``u``.
  Either way one pass of NumPy calls per param (or output), never per row.
* Hessian and HVP: forward over reverse. The backward pass is recorded with
  the params traced, so the gradients are nodes of one tape; an HVP is one
  tangent sweep of that tape along ``v`` (the gradient comes out as its primal
  value), a Hessian one batched sweep per param.

Blocks: None when a param does not reach the output (TF's ``unconnected``,
zeros if asked), zeros when it does but a derivative vanishes structurally.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.contract import to_array
from engine.forward import sweep
from engine.jvps import full
from engine.registry import shape_of, size_of
from engine.tape import Tape, backward, make_plan
from engine.targets import Recording, Target, as_block, check_outputs, check_vectors, distinct
from engine.tensor import Tensor, concrete
from engine.tree import flatten

__all__ = ["hessian_of", "hvp_of", "jacobian_of", "jvp_of"]


def _dtype(x: Any) -> np.dtype[Any]:
    return np.result_type(concrete(x))


def _batch(v: Any) -> Any:
    return v[None] if not isinstance(v, Tensor) else np.reshape(v, (1, *v.shape))


def _identity(x: Any) -> Any:
    """The basis of ``x``'s space as one batch: shape ``(size,) + x.shape``."""
    shape = shape_of(x)
    return np.eye(size_of(shape), dtype=_dtype(x)).reshape((size_of(shape), *shape))


def _block(t: Any, rows: tuple[int, ...], cols: tuple[int, ...]) -> Any:
    """A batched tangent (batch over ``cols``' elements, values of shape ``rows``) as ``rows + cols``."""
    t = np.reshape(full(t, rows), cols + rows)
    k = len(cols)
    return np.transpose(t, axes=(*range(k, k + len(rows)), *range(k)))


def _reached(nodes: Sequence[Any], slot: int) -> set[int]:
    reached = {slot}
    for node in nodes:
        if not reached.isdisjoint(node.args):
            reached.add(node.out)
    return reached


def jvp_of(target: Target, tangents: Any, zeros: bool) -> tuple[Any, Any]:
    rec = target.record()
    seeds: dict[int, Any] = {}
    for p, v in zip(target.positions, check_vectors(tangents, target.positions, target.args, "tangents"),
                    strict=True):
        s = rec.param_slots[p]
        seeds[s] = _batch(v) if s not in seeds else seeds[s] + _batch(v)
    tan = sweep(rec.nodes, rec.values, seeds, [s for s in rec.out_slots if s is not None])
    jvp = [as_block(None if s not in tan else tan[s][0], shape_of(v), _dtype(v), False, zeros)
           for s, v in zip(rec.out_slots, rec.outputs, strict=True)]
    return rec.value(), rec.rebuild(jvp)


def jacobian_of(target: Target, zeros: bool) -> tuple[Any, Any]:
    rec = target.record()
    params = distinct(target.positions)
    n_in = sum(size_of(shape_of(target.args[p])) for p in params)
    n_out = sum(size_of(shape_of(v)) for s, v in zip(rec.out_slots, rec.outputs, strict=True) if s is not None)
    blocks = _reverse(rec, target, params) if n_out < n_in else _forward(rec, target, params)
    reach = {p: _reached(rec.nodes, rec.param_slots[p]) for p in params}
    out = []
    for k, (s, v) in enumerate(zip(rec.out_slots, rec.outputs, strict=True)):
        row = []
        for p in target.positions:
            x = target.args[p]
            connected = s is not None and s in reach[p]
            row.append(as_block(blocks.get((k, p)), shape_of(v) + shape_of(x), _dtype(v), connected, zeros))
        out.append(row)
    return rec.value(), rec.rebuild(out)


def _forward(rec: Recording, target: Target, params: list[int]) -> dict[tuple[int, int], Any]:
    blocks = {}
    keep = [s for s in rec.out_slots if s is not None]
    for p in params:
        x = target.args[p]
        tan = sweep(rec.nodes, rec.values, {rec.param_slots[p]: _identity(x)}, keep)
        for k, (s, v) in enumerate(zip(rec.out_slots, rec.outputs, strict=True)):
            if s in tan:
                blocks[k, p] = _block(tan[s], shape_of(v), shape_of(x))
    return blocks


def _reverse(rec: Recording, target: Target, params: list[int]) -> dict[tuple[int, int], Any]:
    u_tape = Tape()  # newer than the recording's tape: the backward pass records here, linear in u
    us: dict[int, Tensor] = {}
    seeds: dict[int, Any] = {}
    for k, (s, v) in enumerate(zip(rec.out_slots, rec.outputs, strict=True)):
        if s is not None:
            z = np.zeros(shape_of(v), _dtype(v))
            us[k] = Tensor(u_tape, u_tape.new_slot(z), z)
            seeds[s] = us[k] if s not in seeds else seeds[s] + us[k]
    slots = [rec.param_slots[p] for p in params]
    grads = backward(make_plan(rec.nodes, list(seeds), slots), rec.values, seeds, slots, keep_values=True)
    keep = [g._slot for g in grads if isinstance(g, Tensor) and g._tape is u_tape]
    blocks = {}
    for k, u in us.items():
        tan = sweep(u_tape.nodes, u_tape.values, {u._slot: _identity(rec.outputs[k])}, keep)
        for p, g in zip(params, grads, strict=True):
            if isinstance(g, Tensor) and g._tape is u_tape and g._slot in tan:
                t = np.reshape(full(tan[g._slot], shape_of(target.args[p])),
                               shape_of(rec.outputs[k]) + shape_of(target.args[p]))
                blocks[k, p] = t
    return blocks


def _second_order(target: Target) -> tuple[Tape, dict[int, int], Any, list[Any]]:
    """The gradient computation recorded on a tape whose slots are the params: (tape, slots, value, grads)."""
    tape = Tape()
    xs = list(target.args)
    slots: dict[int, int] = {}
    for p in distinct(target.positions):
        slots[p] = tape.new_slot(xs[p])
        xs[p] = Tensor(tape, slots[p], xs[p])
    value, grads = target.value_and_gradients(xs)
    leaves, rebuild, _ = flatten(value)
    leaves = [_strip(v, tape) for v in leaves]
    check_outputs(leaves)
    return tape, slots, rebuild([to_array(v) for v in leaves]), grads


def _strip(v: Any, tape: Tape) -> Any:
    """A value of ``tape`` without its trace (values of enclosing traces stay traced)."""
    return v._value if isinstance(v, Tensor) and v._tape is tape else v


def _mine(g: Any, tape: Tape) -> int | None:
    return g._slot if isinstance(g, Tensor) and g._tape is tape else None


def hvp_of(target: Target, vectors: Any, zeros: bool) -> tuple[Any, list[Any], list[Any]]:
    vs = check_vectors(vectors, target.positions, target.args, "vectors")
    tape, slots, value, grads = _second_order(target)
    seeds: dict[int, Any] = {}
    for p, v in zip(target.positions, vs, strict=True):
        seeds[slots[p]] = _batch(v) if slots[p] not in seeds else seeds[slots[p]] + _batch(v)
    keep = [s for s in (_mine(g, tape) for g in grads) if s is not None]
    tan = sweep(tape.nodes, tape.values, seeds, keep)
    out_grads, hvps = [], []
    for p, g in zip(target.positions, grads, strict=True):
        x, s = target.args[p], _mine(g, tape)
        out_grads.append(as_block(None if g is None else _strip(g, tape), shape_of(x), _dtype(x), False, zeros))
        hvps.append(as_block(tan[s][0] if s in tan else None, shape_of(x), _dtype(x), g is not None, zeros))
    return value, out_grads, hvps


def hessian_of(target: Target, zeros: bool) -> tuple[Any, list[Any], list[list[Any]]]:
    tape, slots, value, grads = _second_order(target)
    by_param = dict(zip(target.positions, grads, strict=True))
    keep = [s for s in (_mine(g, tape) for g in by_param.values()) if s is not None]
    blocks: dict[tuple[int, int], Any] = {}
    for j in distinct(target.positions):
        xj = target.args[j]
        tan = sweep(tape.nodes, tape.values, {slots[j]: _identity(xj)}, keep)
        for i, g in by_param.items():
            s = _mine(g, tape)
            if s in tan:
                blocks[i, j] = _block(tan[s], shape_of(target.args[i]), shape_of(xj))
    hessian = [[as_block(blocks.get((i, j)), shape_of(target.args[i]) + shape_of(target.args[j]),
                         _dtype(target.args[i]), by_param[i] is not None and by_param[j] is not None, zeros)
                for j in target.positions] for i in target.positions]
    out_grads = [as_block(None if g is None else _strip(g, tape), shape_of(target.args[p]),
                          _dtype(target.args[p]), False, zeros) for p, g in zip(target.positions, grads, strict=True)]
    return value, out_grads, hessian
