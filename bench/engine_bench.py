"""Engine benchmarks (issue 2): valgrad local and cached-plan against NumPy forward, autograd, PyTorch, JAX.

Each workload is written once against an array namespace ``xp`` so every
library runs the same maths. Ratios are against the NumPy forward pass
measured in the same run; peers are skipped when not installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import engine
from bench.report import step
from bench.timing import fmt_time, median_times, peak_memory, table
from engine.tracing import trace
from tests.support import SEED_ARGS, seed


@dataclass
class Workload:
    name: str
    fn: Callable[..., Any]  # fn(xp, *args) -> scalar
    args: Callable[[], list[np.ndarray]]
    target: str


def seed_workload(xp: Any, x: Any, y: Any) -> Any:
    """The seed: operators only, so it runs as is in every namespace."""
    return seed(x, y)


def chain(xp: Any, x: Any) -> Any:
    for _ in range(250):
        x = xp.sin(x) * 0.5 + x * 0.25
    return x


def elementwise(xp: Any, x: Any) -> Any:
    return xp.sum(xp.tanh(x) * xp.exp(-x * x) + xp.sin(x) ** 2)


def mlp(xp: Any, x: Any, w1: Any, w2: Any) -> Any:
    return xp.sum(xp.tanh(xp.tanh(x @ w1) @ w2))


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


WORKLOADS = [
    Workload(f"seed f{tuple(SEED_ARGS)}", seed_workload, lambda: [np.float64(a) for a in SEED_ARGS],
             "local ≤ 50 µs, plan ≤ 20 µs"),
    Workload("1,000-op scalar chain", chain, lambda: [np.float64(0.3)], "local ≤ 5 ms"),
    Workload("elementwise, 1e6 float64", elementwise, lambda: [_rng().standard_normal(1_000_000)],
             "≤ 2.5× NumPy forward"),
    Workload("MLP 256×512 @ 512×512 @ 512×64", mlp,
             lambda: [_rng().standard_normal((256, 512)), _rng().standard_normal((512, 512)) / 23,
                      _rng().standard_normal((512, 64)) / 23], "≤ 3.5× NumPy forward"),
]


def _valgrad_local(w: Workload, args: list[np.ndarray]) -> Callable[[], Any]:
    g = engine.value_and_gradients_function(lambda *xs: w.fn(np, *xs))
    return lambda: g(*args)


def _valgrad_plan(w: Workload, args: list[np.ndarray]) -> Callable[[], Any]:
    graph = engine.load_function(trace(lambda *xs: w.fn(np, *xs), len(args)).graph)
    return lambda: engine.value_and_gradients(graph, args)


def _autograd(w: Workload, args: list[np.ndarray]) -> Callable[[], Any] | None:
    if importlib.util.find_spec("autograd") is None:
        return None
    import autograd
    import autograd.numpy as anp

    g = autograd.value_and_grad(lambda xs: w.fn(anp, *xs))
    packed = tuple(args)
    return lambda: g(packed)


def _torch(w: Workload, args: list[np.ndarray]) -> Callable[[], Any] | None:
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    def run() -> Any:
        xs = [torch.tensor(a, requires_grad=True) if a.ndim == 0 else torch.from_numpy(a).requires_grad_()
              for a in args]
        out = w.fn(torch, *xs)
        return out.item(), torch.autograd.grad(out, xs)

    return run


def _jax(w: Workload, args: list[np.ndarray]) -> Callable[[], Any] | None:
    if importlib.util.find_spec("jax") is None:
        return None
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    g = jax.jit(jax.value_and_grad(lambda *xs: w.fn(jnp, *xs), argnums=tuple(range(len(args)))))
    jargs = [jnp.asarray(a) for a in args]
    return lambda: jax.block_until_ready(g(*jargs))


PEERS = {"autograd": _autograd, "PyTorch eager": _torch, "JAX (jit)": _jax}


def run() -> str:
    """Run every workload and return a Markdown report."""
    headers = ["workload", "NumPy forward", "valgrad local", "valgrad cached plan", *PEERS, "target"]
    rows = []
    memory = []
    for w in WORKLOADS:
        with step(f"engine: {w.name}"):
            args = w.args()
            contenders = [make(w, args) for make in (_valgrad_local, _valgrad_plan, *PEERS.values())]
            present = [fn for fn in contenders if fn is not None]
            # One interleaved measurement per workload: drift on a shared machine moves baseline and peers alike.
            base, *times = median_times([lambda w=w, args=args: w.fn(np, *args), *present])
            measured = iter(times)
            cells = [w.name, fmt_time(base)]
            for fn in contenders:
                t = next(measured) if fn is not None else None
                cells.append("—" if t is None else f"{fmt_time(t)} ({t / base:.2f}×)")
            cells.append(w.target)
            rows.append(cells)
            if w.fn is elementwise:
                ag = _autograd(w, args)
                memory = [("valgrad local", peak_memory(_valgrad_local(w, args))),
                          ("valgrad cached plan", peak_memory(_valgrad_plan(w, args)))]
                if ag is not None:
                    memory.append(("autograd", peak_memory(ag)))
    out = ["## Engine: time per value-and-gradients call (ratio to the NumPy forward pass)", "",
           table(headers, rows), "", "## Peak traced memory, elementwise 1e6 float64 (target: ≤ autograd)", "",
           table(["implementation", "peak MiB"], [[n, f"{b / 2**20:.1f}"] for n, b in memory])]
    return "\n".join(out)
