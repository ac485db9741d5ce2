"""A plan with its fused regions swapped in: the interpreter's forward and backward loops, region by region.

Nodes outside every region run exactly as in ``engine.tape``; a region runs
its kernel where its root node was. A region whose root is an output read by
nothing else runs its ``vg`` kernel in the forward pass with the output's
seed, so value and gradients cost one loop; the contributions wait for the
backward loop to reach the root, where the interpreter would have made them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.compiled.codegen import Kernel
from engine.compiled.region import Region
from engine.ir import Node
from engine.tape import Plan

__all__ = ["CompiledRegion", "Runner"]

Seeds = Callable[[list[Any]], dict[int, Any]]
PARALLEL_LOCK = threading.Lock()  # one parallel kernel at a time: each already uses every core it may


@dataclass
class CompiledRegion:
    """A region and its compiled kernels: ``vg`` alone, or ``fwd`` and ``bwd`` (None: no backward needed)."""

    region: Region
    kernels: dict[str, tuple[Kernel, Any]]  # mode -> (spec, compiled function)
    parallel: bool
    threads: int
    shapes: Mapping[int, tuple[int, ...]]  # input slot -> shape
    value_shape: tuple[int, ...]  # of the root

    def call(self, mode: str, env: Sequence[Any], g: Any = None) -> tuple[Any, list[tuple[int, Any]]]:
        """Run one kernel: (root value or None, [(input slot, gradient contribution)...] in the interpreter's order)."""
        spec, fn = self.kernels[mode]
        region = self.region
        args = [_as_arg(env[a], full and not spec.scalar) for a, full in zip(region.inputs, region.full, strict=True)]
        n, dtype = region.size, region.dtype
        if mode != "fwd":
            args.append(_as_arg(g, region.reduce is None and not spec.scalar, dtype, region.shape))
        out = np.empty(n, dtype) if mode != "bwd" and region.reduce is None and not spec.scalar else None
        if out is not None:
            args.append(out)
        grads = [np.empty(n, dtype) for _ in spec.array_grads]
        args += grads
        if self.parallel:
            import numba

            with PARALLEL_LOCK:
                numba.set_num_threads(self.threads)
                results = fn(*args)
        else:
            results = fn(*args)
        return self._unpack(spec, results, out, grads)

    def _unpack(self, spec: Kernel, results: Any, out: Any, grads: list[Any]) -> tuple[Any, list[tuple[int, Any]]]:
        region = self.region
        value = None if out is None else out.reshape(region.shape)
        contribs: list[tuple[int, Any]] = []
        for (what, k), r in zip(spec.results, results if isinstance(results, tuple) else (), strict=False):
            if what == "value":
                value = _shaped(r, self.value_shape, region.dtype)
            else:
                contribs.append((region.inputs[k], r))
        contribs = [(a, _shaped(r, self.shapes[a], region.dtype)) for a, r in contribs]
        contribs += [(region.inputs[k], gk.reshape(region.shape))
                     for k, gk in zip(spec.array_grads, grads, strict=True)]
        return value, contribs


def _as_arg(v: Any, full: bool, dtype: Any = None, shape: tuple[int, ...] = ()) -> Any:
    if full:
        if dtype is not None and (getattr(v, "shape", None) != shape or getattr(v, "dtype", None) != dtype):
            v = np.broadcast_to(np.asarray(v, dtype), shape)
        return np.ravel(v)
    if type(v) is np.ndarray:
        return v.reshape(-1)[0]
    return v


def _shaped(r: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    return dtype.type(r) if shape == () else np.full(shape, r, dtype)


class Runner:
    """Value and gradients of one (graph, params, argument signature) with fused regions."""

    def __init__(self, nodes: Sequence[Node], outputs: Sequence[int], tail: Sequence[Any], plan: Plan,
                 positions: Sequence[int], regions: Sequence[CompiledRegion],
                 placeholders: Mapping[int, Any]) -> None:
        self.outputs, self.tail, self.positions = tuple(outputs), list(tail), list(positions)
        self.placeholders = placeholders  # output slot -> an array of its shape and dtype (values not computed)
        roots = {c.region.root: c for c in regions}
        inside = {s for c in regions for s in c.region.members}
        self.forward_steps: list[Node | CompiledRegion] = []
        for node in nodes:
            if node.out in roots:
                self.forward_steps.append(roots[node.out])
            elif node.out not in inside:
                self.forward_steps.append(node)
        self.backward_steps: list[tuple[Node, Any] | CompiledRegion] = []
        for node, wanted in plan.steps:
            if node.out in roots:
                self.backward_steps.append(roots[node.out])
            elif node.out not in inside:
                self.backward_steps.append((node, wanted))
        self.regions = list(regions)

    def run(self, xs: Sequence[Any], seeds_for: Seeds) -> tuple[list[Any], list[Any]]:
        """``(output values, gradients of the params)`` exactly as ``forward`` then ``backward`` give them.

        ``seeds_for(values)`` maps output values to seeds by slot; it is called before the forward pass with
        arrays of the outputs' shapes and dtypes, since a seed depends on nothing else.
        """
        env = [*xs, *self.tail]
        seeds = seeds_for([env[s] if s not in self.placeholders else self.placeholders[s] for s in self.outputs])
        early: dict[int, list[tuple[int, Any]]] = {}
        for step in self.forward_steps:
            if isinstance(step, CompiledRegion):
                root = step.region.root
                if "vg" in step.kernels:  # an output: its seed is known (zero if the caller left it out)
                    g = seeds.get(root, step.region.dtype.type(0))
                    env[root], early[root] = step.call("vg", env, g)
                else:
                    env[root] = step.call("fwd", env)[0]
            else:
                _forward_node(step, env)
        values = [env[s] for s in self.outputs]
        return values, self._backward(env, seeds, early)

    def _backward(self, env: list[Any], seeds: dict[int, Any], early: dict[int, list[tuple[int, Any]]]) -> list[Any]:
        cot = dict(seeds)
        pop, get = cot.pop, cot.get
        for step in self.backward_steps:
            if isinstance(step, CompiledRegion):
                root = step.region.root
                g = pop(root, None)
                if g is None:
                    continue
                contribs = early[root] if root in early else step.call("bwd", env, g)[1]
                for a, contrib in contribs:
                    prev = get(a)
                    cot[a] = contrib if prev is None else prev + contrib
                continue
            node, wanted = step
            g = pop(node.out, None)
            if g is None:
                continue
            args, kwargs = node.args, node.kwargs
            ans, xs = env[node.out], [env[a] for a in args]
            for i, vjp in wanted:
                contrib = vjp(g, ans, *xs, **kwargs) if kwargs else vjp(g, ans, *xs)
                a = args[i]
                prev = get(a)
                cot[a] = contrib if prev is None else prev + contrib
        return [get(p) for p in self.positions]


def _forward_node(node: Node, env: list[Any]) -> None:
    args = [env[a] for a in node.args]
    env[node.out] = node.op.forward(*args, **node.kwargs) if node.kwargs else node.op.forward(*args)
