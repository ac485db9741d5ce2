"""Build a Runner for one (graph, params, argument signature): find regions, generate, compile, self-check.

It runs the interpreter once on the arguments that made the plan hot: that
gives every slot's shape and dtype (NumPy's promotion rules, Python floats
weak) and a reference answer. The compiled runner must reproduce that answer
(``agree``) before it is ever used; otherwise ``MismatchError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.compiled.cache import load_source
from engine.compiled.codegen import Kernel, Mode, generate, module_source
from engine.compiled.region import Region, SlotInfo, find_regions
from engine.compiled.runner import CompiledRegion, Runner
from engine.ir import Graph
from engine.tape import Plan, backward, forward

__all__ = ["Options", "MismatchError", "agree", "build", "unit_seeds"]


SELF_CHECK_RTOL = {False: 1e-9, True: 1e-4}  # float64, float32: loose enough for libm's last bits, tight for bugs


class MismatchError(RuntimeError):
    """The compiled path disagreed with the interpreter on the arguments it was built from."""


@dataclass(frozen=True)
class Options:
    threads: int = 1
    parallel_min: int = 1 << 15  # elements from which a kernel loops in parallel
    max_nodes: int = 4000  # per region: bounds one kernel's compile time
    min_nodes: int = 2
    cache_dir: str | None = None


def unit_seeds(values: Sequence[Any], outputs: Sequence[int]) -> dict[int, Any]:
    """Ones for each output, as ``engine.contract.seeds`` makes them when ``dy`` is None (booleans and constants
    in float64)."""
    seeds: dict[int, Any] = {}
    for v, s in zip(values, outputs, strict=True):
        dtype = np.result_type(v) if isinstance(v, np.ndarray | np.generic) else np.dtype(np.float64)
        dtype = dtype if dtype.kind == "f" else np.dtype(np.float64)
        shape = np.shape(v)
        one = dtype.type(1) if shape == () else np.ones(shape, dtype)
        seeds[s] = one if s not in seeds else seeds[s] + one
    return seeds


def build(graph: Graph, positions: Sequence[int], plan: Plan, xs: Sequence[Any], options: Options) -> Runner | None:
    """A checked Runner, or None when no region is worth fusing; compile errors propagate."""
    tail = [*graph.constant_values(), *([None] * len(graph.nodes))]
    env = [*xs, *tail]
    with np.errstate(all="ignore"):
        forward(graph.nodes, env)
    n_fixed = len(xs) + len(graph.constants)
    info = SlotInfo(shapes=[np.shape(v) for v in env],
                    dtypes=[None if type(v) is float else np.result_type(v) for v in env],
                    floats={s: v for s, v in enumerate(env[:n_fixed]) if type(v) is float})
    regions = find_regions(graph.nodes, graph.outputs, plan, info, max_nodes=options.max_nodes,
                           min_nodes=options.min_nodes)
    if not regions:
        return None
    compiled = [_compile(r, graph, plan, info, options) for r in regions]
    placeholders = {s: np.broadcast_to(np.zeros((), info.dtypes[s]), info.shapes[s]) for s in graph.outputs
                    if s >= n_fixed and info.dtypes[s] is not None}
    runner = Runner(graph.nodes, graph.outputs, tail, plan, positions, compiled, placeholders)
    _self_check(runner, graph, plan, positions, xs, env)
    return runner


def _modes(region: Region, graph: Graph, plan: Plan) -> tuple[Mode, ...]:
    root = region.root
    in_plan = any(node.out == root for node, _ in plan.steps)
    read = any(root in n.args for n in graph.nodes)
    if in_plan and not read and list(graph.outputs).count(root) == 1:
        return ("vg",)
    return ("fwd", "bwd") if in_plan else ("fwd",)


def _compile(region: Region, graph: Graph, plan: Plan, info: SlotInfo, options: Options) -> CompiledRegion:
    import numba

    floats = {s: v for s, v in info.floats.items()}
    modes = _modes(region, graph, plan)
    specs = [generate(region, floats, m, parallel_min=options.parallel_min) for m in modes]
    namespace = load_source(module_source(specs, region.dtype), options.cache_dir)
    parallel = region.size >= options.parallel_min
    kernels: dict[str, tuple[Kernel, Any]] = {}
    for spec in specs:
        n_read = len(region.inputs) + (spec.name != "fwd")  # inputs and the seed are read-only
        sig = tuple(_numba_type(numba, kind, dtype, i < n_read) for i, (kind, dtype) in enumerate(spec.params))
        jit = numba.njit([sig], parallel=parallel, nogil=True, cache=options.cache_dir is not None,
                         error_model="numpy", boundscheck=False)
        kernels[spec.name] = (spec, jit(namespace[spec.name]))
    shapes = {a: info.shapes[a] for a in region.inputs}
    return CompiledRegion(region, kernels, parallel, options.threads, shapes, info.shapes[region.root])


def _numba_type(numba: Any, kind: str, dtype: Any, readonly: bool) -> Any:
    scalar = numba.from_dtype(dtype)
    if kind == "scalar":
        return scalar
    return numba.types.Array(scalar, 1, "C", readonly=readonly)


def _self_check(runner: Runner, graph: Graph, plan: Plan, positions: Sequence[int], xs: Sequence[Any],
                env: list[Any]) -> None:
    values = [env[s] for s in graph.outputs]
    seeds = unit_seeds(values, graph.outputs)
    with np.errstate(all="ignore"):
        want = backward(plan, list(env), dict(seeds), positions, keep_values=True)
        got_values, got = runner.run(xs, lambda vs: unit_seeds(vs, graph.outputs))
    for what, a, b in [*(("value", x, y) for x, y in zip(values, got_values, strict=True)),
                       *(("gradient", x, y) for x, y in zip(want, got, strict=True))]:
        if not agree(a, b, rtol=SELF_CHECK_RTOL[np.result_type(a if a is not None else 0.0).itemsize == 4]):
            raise MismatchError(f"compiled {what} differs from the interpreter's")


def agree(a: Any, b: Any, *, rtol: float) -> bool:
    """Equal NaN and inf patterns; finite values within ``rtol`` of the largest finite magnitude in the array.

    Norm-wise, not per element: a gradient sums contributions that may cancel, and each one rounds (or
    differs by libm's last bits) relative to its own size, not to the sum's.
    """
    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape and a.size != 1 and b.size != 1:
        a, b = np.broadcast_arrays(a, b)
    a, b = np.broadcast_arrays(a, b)
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return False
    if not np.array_equal(np.where(np.isinf(a), a, 0), np.where(np.isinf(b), b, 0)):
        return False
    finite = np.isfinite(a)
    if not finite.any():
        return True
    fa, fb = a[finite], b[finite]
    scale = float(np.max(np.maximum(np.abs(fa), np.abs(fb))))
    return bool(np.all(np.abs(fa - fb) <= rtol * scale))
