"""Derivative-kind benchmarks (issue 12): JVP, Jacobian and HVP against the NumPy forward, autograd, PyTorch, JAX.

Ratios are to the NumPy forward measured in the same run; the Jacobian's target is absolute (torch.func.jacrev's
time in the same run, or the issue's 0.63 ms when PyTorch is not installed). Peers are skipped when absent.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import numpy as np

import engine
from bench.report import step
from bench.timing import fmt_time, median_times, table

Fn = Callable[[], Any]


def _data() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {"x": rng.standard_normal(1_000_000), "t": rng.standard_normal(1_000_000),
            "W": rng.standard_normal((200, 200)) / 14, "v": rng.standard_normal(200),
            "X": rng.standard_normal((256, 512)), "W1": rng.standard_normal((512, 512)) / 23,
            "W2": rng.standard_normal((512, 64)) / 23, "V": rng.standard_normal((512, 512))}


def elementwise(xp: Any, x: Any) -> Any:
    return xp.tanh(x) * xp.exp(-x * x) + xp.sin(x) ** 2


def layer(xp: Any, w: Any, x: Any) -> Any:
    return xp.tanh(w @ x)


def mlp(xp: Any, x: Any, w1: Any, w2: Any) -> Any:
    return xp.sum(xp.tanh(xp.tanh(x @ w1) @ w2))


def _valgrad(d: dict[str, Any]) -> list[Fn]:
    jvp = engine.value_and_jvp_function(lambda x: elementwise(np, x))
    jac = engine.value_and_jacobian_function(lambda w, x: layer(np, w, x), params=[1])
    hvp = engine.hvp_function(lambda x, w1, w2: mlp(np, x, w1, w2), params=[1])
    return [lambda: jvp(d["x"], tangents=d["t"]), lambda: jac(d["W"], d["v"]),
            lambda: hvp(d["X"], d["W1"], d["W2"], vectors=d["V"])]


def _autograd(d: dict[str, Any]) -> list[Fn] | None:
    if importlib.util.find_spec("autograd") is None:
        return None
    import autograd
    import autograd.numpy as anp

    jvp = autograd.make_jvp(lambda x: elementwise(anp, x))
    jac = autograd.jacobian(lambda w, x: layer(anp, w, x), 1)
    hvp = autograd.hessian_tensor_product(lambda x, w1, w2: mlp(anp, x, w1, w2), 1)
    return [lambda: jvp(d["x"])(d["t"]), lambda: jac(d["W"], d["v"]),
            lambda: hvp(d["X"], d["W1"], d["W2"], d["V"])]


def _torch(d: dict[str, Any]) -> list[Fn] | None:
    if importlib.util.find_spec("torch") is None:
        return None
    import torch
    from torch.func import grad, jacrev, jvp

    x, t, w, v = (torch.from_numpy(d[k]) for k in ("x", "t", "W", "v"))
    X, W1, W2, V = (torch.from_numpy(d[k]) for k in ("X", "W1", "W2", "V"))
    g = grad(lambda w1: mlp(torch, X, w1, W2))
    return [lambda: jvp(lambda x: elementwise(torch, x), (x,), (t,)),
            lambda: jacrev(lambda x: layer(torch, w, x))(v),
            lambda: jvp(g, (W1,), (V,))]


ROWS = [("JVP tanh(x)·exp(-x²)+sin(x)², 1e6 float64", "≤ 1.8× NumPy forward"),
        ("Jacobian tanh(W @ x), W 200×200, w.r.t. x", "≤ torch.func.jacrev (issue: 0.63 ms)"),
        ("HVP sum(tanh(tanh(X@W1)@W2)) w.r.t. W1", "≤ 3.0× NumPy forward")]


def run() -> str:
    """Time each kind once per implementation (interleaved) and return a Markdown table."""
    d = _data()
    forwards: list[Fn] = [lambda: elementwise(np, d["x"]), lambda: layer(np, d["W"], d["v"]),
                          lambda: mlp(np, d["X"], d["W1"], d["W2"])]
    peers = {"valgrad": _valgrad(d), "autograd": _autograd(d), "torch.func": _torch(d)}
    rows = []
    for k, (name, target) in enumerate(ROWS):
        with step(f"derivatives: {name}"):
            fns = [forwards[k], *[p[k] for p in peers.values() if p is not None]]
            base, *times = median_times(fns, repeats=5)
            measured = iter(times)
            cells = [name, fmt_time(base)]
            for p in peers.values():
                t = next(measured) if p is not None else None
                cells.append("—" if t is None else f"{fmt_time(t)} ({t / base:.2f}×)")
            rows.append([*cells, target])
    return "\n".join(["## Derivative kinds: time per call (ratio to the NumPy forward pass)", "",
                      table(["workload", "NumPy forward", *peers, "target"], rows)])


if __name__ == "__main__":
    print(run())
