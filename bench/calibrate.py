"""`python -m bench.calibrate`: measured seconds of value+gradients per estimated FLOP, for every op.

Cost rules (engine/costs.py) promise that the static estimate tracks what an
evaluation really takes; this measures it. For every op in ``OPS`` it builds a
one-node graph at a size where per-call overhead does not dominate (inputs of
512x512 or 2**18 elements, or the shapes in ``SPECIAL``), else at the op's
first row of the op-contract table (tests/engine/test_ops.py), and times
``value_and_gradients`` with every input a param. The ratio is seconds over
(the static FLOPs plus the harness's own passes: the seed cotangent and one
copy per gradient). Ops are reported against the median ratio; the target is
every op within 10x of it. New ops are picked up automatically; an op that
only runs at its tiny contract-row shapes measures per-call overhead and is
listed apart (give it an entry in ``SPECIAL``). BLAS runs on one thread, as
it should in a worker process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# One BLAS thread, as in a worker: on a shared two-core machine a threaded OpenBLAS runs a 128x128 matmul
# ~100x slower per FLOP than one thread does (measured 3.5 ns vs 0.023 ns).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

import engine.ops  # noqa: F401 - registers the op set
from engine.errors import EngineError
from engine.evaluation import prepare
from engine.registry import OPS, Op

try:
    from engine.costs import ELEMENT_FLOPS
except ImportError:  # an engine from before issue 10: one FLOP per element
    ELEMENT_FLOPS = 1

BAND = 10.0
RNG = np.random.default_rng(0)


def pos(*s: int) -> np.ndarray:
    """Values in (0.55, 0.95): inside every op's domain (log, arcsin, power, ...)."""
    return RNG.uniform(0.55, 0.95, s)


def mat(*s: int) -> np.ndarray:
    return RNG.standard_normal(s) * 0.2 + 2 * np.eye(s[-1])


def spd(n: int) -> np.ndarray:
    """A symmetric positive definite matrix (cholesky's domain)."""
    a = mat(n, n)
    return a @ a.T


def positions(n: int, *s: int) -> np.ndarray:
    """Integer positions below ``n`` as floats, as argmax and argsort return them."""
    return RNG.integers(0, n, s).astype(np.float64)


# Ops whose generic square or vector inputs do not fit: (args, attrs).
SPECIAL: dict[str, Callable[[], tuple[list[np.ndarray], dict[str, Any]]]] = {
    "matmul": lambda: ([pos(256, 256), pos(256, 256)], {}),
    "dot": lambda: ([pos(256, 256), pos(256, 256)], {}),
    "einsum": lambda: ([pos(64, 64), pos(64, 64), pos(64, 64)], {"subscripts": "ab,bc,cd->ad"}),
    "linalg.inv": lambda: ([mat(64, 32, 32)], {}),
    "linalg.det": lambda: ([mat(64, 32, 32)], {}),
    "linalg.solve": lambda: ([mat(64, 32, 32), pos(64, 32, 8)], {}),
    "reshape": lambda: ([pos(512, 512)], {"shape": [-1]}),
    "broadcast_to": lambda: ([pos(1, 512)], {"shape": [512, 512]}),
    "expand_dims": lambda: ([pos(512, 512)], {"axis": 0}),
    "squeeze": lambda: ([pos(1, 512, 512)], {}),
    "concatenate": lambda: ([pos(512, 512), pos(512, 512)], {}),
    "stack": lambda: ([pos(512, 512), pos(512, 512)], {}),
    "prod": lambda: ([RNG.uniform(0.999, 1.001, (512, 512))], {}),  # no underflow to denormals
    "cumprod": lambda: ([RNG.uniform(0.999, 1.001, (512, 512))], {}),  # as prod: denormals are ~100x slower
    "where": lambda: ([np.round(pos(512, 512)), pos(512, 512), pos(512, 512)], {}),
    "_cast_like": lambda: ([pos(512, 512), pos(1).astype(np.float32)], {}),  # a real conversion, not a no-op
    "linalg.cholesky": lambda: ([spd(512)], {}),
    "outer": lambda: ([pos(512), pos(512)], {}),
    "kron": lambda: ([pos(64, 64), pos(8, 8)], {}),
    "cross": lambda: ([pos(2**16, 3), pos(2**16, 3)], {}),
    "swapaxes": lambda: ([pos(512, 512)], {"axis1": 0, "axis2": 1}),
    "rollaxis": lambda: ([pos(512, 512)], {"axis": 1}),
    "split": lambda: ([pos(512, 512)], {"indices_or_sections": 2}),
    "dsplit": lambda: ([pos(512, 256, 2)], {"indices_or_sections": 2}),
    "partition": lambda: ([pos(512, 512)], {"kth": 100}),
    "argpartition": lambda: ([pos(512, 512)], {"kth": 100}),
    "gather": lambda: ([pos(512, 512), positions(512, 512)], {"index": [{"arg": 1}]}),
    "take_along_axis": lambda: ([pos(512, 512), positions(512, 512, 512)], {"axis": 1}),
    "_getitem_grad": lambda: ([pos(512, 512)], {"index": [positions(512, 512).astype(int).tolist()],
                                                "shape": [512, 512]}),
    "_gather_grad": lambda: ([pos(512, 512), positions(512, 512)], {"index": [{"arg": 1}], "shape": [512, 512]}),
    "_take_grad": lambda: ([pos(512, 512)], {"indices": positions(512, 512).astype(int).tolist(), "axis": 0,
                                             "shape": [512, 512]}),
    "_take_along_axis_grad": lambda: ([pos(512, 512), positions(512, 512, 512)], {"axis": 1, "shape": [512, 512]}),
}


def _contract_rows() -> dict[str, tuple[list[Any], dict[str, Any]]]:
    """The first op-contract row of each op, when the test tables are importable."""
    here = Path(__file__).resolve().parents[1] / "tests" / "engine"
    sys.path.insert(0, str(here))
    try:
        import test_ops  # type: ignore[import-not-found]
    except Exception:
        return {}
    rows: dict[str, tuple[list[Any], dict[str, Any]]] = {}
    for c in test_ops.CASES:
        rows.setdefault(c.op, (list(c.args), dict(c.attrs)))
    return rows


def _graph(op: Op, n: int, attrs: dict[str, Any]) -> dict[str, Any]:
    names = [f"x{i}" for i in range(n)]
    return {"inputs": names, "nodes": [{"id": "o", "op": op.name, "args": names, "attrs": attrs}], "outputs": "o"}


def _candidates(op: Op, row: tuple[list[Any], dict[str, Any]] | None) -> list[tuple[list[Any], dict[str, Any], str]]:
    if op.name in SPECIAL:
        args, attrs = SPECIAL[op.name]()
        return [(args, attrs, "sized")]
    n = len(row[0]) if row else op.arity[0]
    attrs = row[1] if row else {}
    out = []
    for shape in ((512, 512), (2**18,)):
        out += [([pos(*shape) for _ in range(n)], attrs, "sized"), ([pos(*shape) for _ in range(n)], {}, "sized")]
    if row:
        out.append((row[0], row[1], "contract row"))
    return out


def _measure(op: Op, args: list[Any], attrs: dict[str, Any], budget: float) -> tuple[float, int, str]:
    """Best seconds of value+gradients, the estimate (static FLOPs + harness passes) and the shapes."""
    ev = prepare(_graph(op, len(args), attrs), args)
    value, _ = ev.run()
    out = np.size(value) if not isinstance(value, list) else sum(np.size(v) for v in value)
    harness = ELEMENT_FLOPS * (out + sum(np.size(a) for a in args))
    best, spent = float("inf"), 0.0
    while spent < budget or best == float("inf"):
        ev = prepare(_graph(op, len(args), attrs), args)
        start = time.perf_counter()
        ev.run()
        took = time.perf_counter() - start
        best, spent = min(best, took), spent + took
        if took > budget:
            break
    shapes = " ".join("x".join(map(str, np.shape(a))) or "()" for a in args)
    return best, ev.info.flops + harness, shapes


def calibrate(budget: float = 0.15, only: list[str] | None = None) -> list[tuple[str, str, str, int, float]]:
    """(op, shapes, how, estimate, seconds) for every op that could be run."""
    rows = _contract_rows()
    results = []
    for name in sorted(only or OPS):
        op = OPS[name]
        for args, attrs, how in _candidates(op, rows.get(name)):
            try:
                with np.errstate(all="ignore"):
                    seconds, estimate, shapes = _measure(op, args, attrs, budget)
            except (EngineError, TypeError, ValueError, np.linalg.LinAlgError):
                continue
            results.append((name, shapes, how, estimate, seconds))
            break
        else:
            results.append((name, "", "not run", 0, 0.0))
    return results


def report(results: list[tuple[str, str, str, int, float]]) -> tuple[str, float, list[str]]:
    """A Markdown table sorted by ratio to the median, the spread (max/min ratio) and the ops outside the band."""
    ran = [(r, r[4] / r[3]) for r in results if r[3] > 0 and r[2] == "sized"]
    median = statistics.median(q for _, q in ran)
    lines = ["| op | shapes | how | estimate (FLOPs) | measured | ns per kFLOP | x median |",
    "|---|---|---|---|---|---|---|"]
    outside = []
    for (name, shapes, how, estimate, seconds), q in sorted(ran, key=lambda t: t[1]):
        rel = q / median
        flag = " **outside**" if not 1 / BAND <= rel <= BAND else ""
        if flag:
            outside.append(f"{name} ({rel:.2g}x)")
        lines.append(f"| {name} | {shapes} | {how} | {estimate:.3g} | {seconds * 1e3:.2f} ms | {q * 1e12:.3g} | "
                     f"{rel:.2f}{flag} |")
    # Tiny contract-row shapes measure per-call overhead (tens of microseconds), not the cost rule: listed apart.
    lines += [f"| {r[0]} | {r[1]} | {r[2]} (overhead-bound, not banded) | {r[3]:.3g} | {r[4] * 1e3:.2f} ms | "
              f"{r[4] / r[3] * 1e12:.3g} | — |" for r in results if r[3] > 0 and r[2] != "sized"]
    lines += [f"| {r[0]} | — | not run | — | — | — | — |" for r in results if r[3] == 0]
    spread = max(q for _, q in ran) / min(q for _, q in ran)
    return "\n".join(lines), spread, outside


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ops", nargs="*", help="only these ops (default: all)")
    parser.add_argument("--budget", type=float, default=0.15, help="seconds of repeats per op")
    ns = parser.parse_args(argv)
    start = time.perf_counter()
    text, spread, outside = report(calibrate(ns.budget, ns.ops or None))
    print(text)
    print(f"\n{len(outside)} op(s) outside {BAND:g}x of the median; spread (slowest / fastest ratio) "
          f"{spread:.1f}x; {time.perf_counter() - start:.0f} s")
    if outside:
        print("outside: " + ", ".join(outside))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
