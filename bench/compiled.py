"""The compiled tier (issue 14): time to compile, the warm-up curve, and cached-plan calls against peers.

`python -m bench.compiled`. Each workload of bench.engine_bench runs as a
registered graph: on the interpreter, on the compiled Runner (after a
synchronous build), the NumPy forward pass, and PyTorch / JAX when installed;
ratios are to the NumPy forward measured in the same interleaved run. The
warm-up curve is the latency of calls 1..N through a tier with a low
threshold: interpreter calls, then the swap once the background build lands.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

import engine
from bench.engine_bench import PEERS, WORKLOADS, Workload
from bench.report import step
from bench.timing import fmt_time, median_times, table
from engine.compiled import available
from engine.compiled.tier import Settings, Tier
from engine.contract import seeds
from engine.evaluation import plan_for, prepare
from engine.ir import Graph
from engine.tracing import trace


def _graph(w: Workload, n: int) -> Graph:
    return engine.load_function(trace(lambda *xs: w.fn(np, *xs), n).graph)


def _call(graph: Graph, tier: Tier, args: list[Any]) -> Callable[[], Any]:
    """One value-and-gradients call as the evaluation path makes it, with the tier in front."""
    positions, plan = plan_for(graph, None)

    def call() -> Any:
        ev = prepare(graph, args)
        runner = tier.lookup(graph, positions, plan, ev.xs)
        if runner is None:
            return ev.run()
        return runner.run(ev.xs, lambda vs: seeds(vs, graph.outputs, None, graph.output_is_list))

    return call


def _warmup(graph: Graph, args: list[Any], threshold: int, calls: int) -> tuple[list[float], int | None]:
    tier = Tier(Settings(threshold=threshold))
    call = _call(graph, tier, args)
    latencies, swapped = [], None
    for k in range(calls):
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)
        if swapped is None and tier.counters()["compiled_calls"] > 0:
            swapped = k + 1
        if swapped is None and k >= threshold:
            time.sleep(0.05)  # let the compiler thread work, as idle time between requests would
    return latencies, swapped


def _curve(latencies: list[float]) -> str:
    marks = [1, 2, 5, 10, 20, 50, 100, 200]
    return ", ".join(f"#{m}: {fmt_time(latencies[m - 1])}" for m in marks if m <= len(latencies))


def run() -> str:
    """Markdown report; empty-handed (one line) without numba."""
    if not available():
        return "## Compiled tier\n\nnumba is not installed: `pip install valgrad[compiled]`."
    rows, curves = [], []
    for w in WORKLOADS:
        with step(f"compiled: {w.name}"):
            args = w.args()
            graph = _graph(w, len(args))
            positions, plan = plan_for(graph, None)
            tier = Tier(Settings(threshold=1))
            t0 = time.perf_counter()
            runner = tier.compile(("bench", w.name), graph, positions, plan, args)
            compile_s = time.perf_counter() - t0
            interp = _call(graph, Tier(Settings(enabled=False)), args)
            fns: list[Callable[[], Any]] = [lambda w=w, args=args: w.fn(np, *args), interp]
            fns.append(_call(graph, _ready(tier, graph, runner, args), args) if runner is not None else interp)
            peers = [make(w, args) for make in list(PEERS.values())[1:]]
            base, t_interp, t_comp, *t_peers = median_times([*fns, *(p for p in peers if p is not None)])
            it = iter(t_peers)
            cells = [w.name, fmt_time(base), f"{fmt_time(t_interp)} ({t_interp / base:.2f}×)",
                     f"{fmt_time(t_comp)} ({t_comp / base:.2f}×)" if runner is not None else "not fused",
                     *[("—" if p is None else f"{(t := next(it)) and fmt_time(t)} ({t / base:.2f}×)") for p in peers],
                     f"{compile_s:.2f} s" if runner is not None else "—"]
            rows.append(cells)
            if runner is not None:
                latencies, swapped = _warmup(graph, args, threshold=5, calls=200 if base < 1e-3 else 60)
                curves.append([w.name, str(swapped), _curve(latencies)])
    out = ["## Compiled tier: value and gradients per call (ratio to the NumPy forward pass)", "",
           table(["workload", "NumPy forward", "interpreter (cached plan)", "compiled", *list(PEERS)[1:],
                  "time to compile"], rows), "",
           "## Warm-up: latency of calls 1..N (threshold 5 calls; build in the background)", "",
           table(["workload", "first compiled call", "latency of call #k"], curves)]
    return "\n".join(out)


def _ready(tier: Tier, graph: Graph, runner: Any, args: list[Any]) -> Tier:
    """A tier whose cache already holds ``runner`` under the key the evaluation path looks up."""
    from engine.compiled.tier import signature

    positions, _ = plan_for(graph, None)
    ready = Tier(Settings(threshold=10**9))
    ready.runners.put((graph.id, tuple(positions), signature(prepare(graph, args).xs)), runner)
    return ready


if __name__ == "__main__":
    print(run())
