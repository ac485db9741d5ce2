"""Source text of one region's fused kernel: its forward, its backward, or both in one loop.

A kernel loops once over the region's elements. ``fwd`` computes the root;
``bwd`` recomputes the forward values of an element and then runs the
region's VJPs on it in reverse tape order, accumulating cotangents exactly in
the interpreter's order; ``vg`` does both when the root's cotangent is known
before the forward (it is an output's seed). A full-shaped input's gradient
is written per element; a single-element input's gradient, like a folded
sum, is a reduction: values are buffered per chunk and summed with NumPy's
pairwise order (chunks are subtrees of it), so sums round as ``np.sum``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from engine.compiled.region import Region
from engine.compiled.rules import RULES

__all__ = ["Kernel", "Mode", "generate"]

Mode = Literal["fwd", "bwd", "vg"]
_BLOCK = 128  # NumPy's pairwise block: smaller ranges are never split


@dataclass
class Kernel:
    """A kernel's source and calling convention (scalar mode: every value is one element)."""

    name: str
    lines: list[str]
    params: list[tuple[str, Any]]  # ("array" | "scalar", dtype) per positional parameter
    results: list[tuple[str, int]] = field(default_factory=list)  # ("value", 0) | ("grad", input k) per return
    array_grads: list[int] = field(default_factory=list)  # inputs whose gradient the caller passes an array for
    scalar: bool = False
    chunks: list[tuple[int, int]] = field(default_factory=list)


def _chunks(lo: int, n: int, depth: int) -> Any:
    """NumPy's pairwise recursion over [lo, lo+n) cut at ``depth``: a nested pair tree of (start, length)."""
    if depth == 0 or n <= _BLOCK:
        return (lo, n)
    half = n // 2
    half -= half % 8
    return [_chunks(lo, half, depth - 1), _chunks(lo + half, n - half, depth - 1)]


def _flatten(tree: Any, out: list[tuple[int, int]]) -> str:
    """Leaves into ``out``; returns the combining expression over ``P[r, c]`` (``{r}`` left to fill)."""
    if isinstance(tree, tuple):
        out.append(tree)
        return f"P[{{r}}, {len(out) - 1}]"
    return f"({_flatten(tree[0], out)} + {_flatten(tree[1], out)})"


class _Writer:
    """Statements of one element's work; names: v<slot> values, c<slot> cotangents, e<k> input gradients."""

    def __init__(self, region: Region, floats: Mapping[int, float], mode: Mode, scalar: bool) -> None:
        self.region, self.floats, self.mode, self.scalar = region, floats, mode, scalar
        self.members = region.members
        self.body: list[str] = []
        self.reductions: list[tuple[str, int]] = []  # what each reduction buffer holds
        self.red_exprs: list[str] = []
        self.hoisted: list[str] = []
        self.consts: dict[float, str] = {}
        self.grads: set[int] = set()  # inputs whose gradient is accumulated per element

    def const(self, value: float) -> str:
        if value not in self.consts:
            self.consts[value] = f"_k{len(self.consts)}"
            self.hoisted.append(f"{self.consts[value]} = DT({_literal(value)})")
        return self.consts[value]

    def attrs(self, node: Any) -> dict[str, Any]:
        k: dict[str, Any] = {}
        if node.op.name == "clip":
            for name in ("a_min", "a_max"):
                v = node.kwargs.get(name)
                k[name] = None if v is None else self.const(float(v))
        if node.op.name == "power":
            k["y_is_two"] = self.floats.get(node.args[1]) == 2.0
        return k

    def forward(self) -> None:
        for node in self.region.nodes:
            args = [f"v{a}" for a in node.args]
            self.body += RULES[node.op.name].forward(f"v{node.out}", args, self.attrs(node))

    def backward(self, seed: str) -> None:
        region, defined = self.region, set()
        red = region.reduce
        if red is not None:
            if red.out not in region.wanted:
                return
            defined.add(red.args[0])
            self.body.append(f"c{red.args[0]} = {seed}")
        elif region.root in region.wanted:
            defined.add(region.root)
            self.body.append(f"c{region.root} = {seed}")
        for node in reversed(region.nodes):
            if node.out not in defined or node.out not in region.wanted:
                continue
            args = [f"v{a}" for a in node.args]
            for i in region.wanted[node.out]:
                expr = RULES[node.op.name].vjp(i, f"c{node.out}", f"v{node.out}", args, self.attrs(node))
                if expr is not None:
                    self._accumulate(node.args[i], expr, defined)

    def _accumulate(self, a: int, expr: str, defined: set[int]) -> None:
        region = self.region
        if a in self.members:
            name = f"c{a}"
        elif a in region.inputs:
            k = region.inputs.index(a)
            if not (self.scalar or region.full[k]):  # a broadcast single element: its own pairwise sum
                self.reductions.append(("grad", k))
                self.red_exprs.append(expr)
                return
            name = f"e{k}"
            self.grads.add(k)
        else:
            return  # a Python-float constant: no gradient wanted
        self.body.append(f"{name} = {name} + {expr}" if a in defined else f"{name} = {expr}")
        defined.add(a)


def _literal(value: float) -> str:
    if value != value:
        return "math.nan"
    if value in (float("inf"), float("-inf")):
        return "math.inf" if value > 0 else "-math.inf"
    return repr(float(value))


def generate(region: Region, floats: Mapping[int, float], mode: Mode, *, parallel_min: int = 1 << 15,
             depth: int = 6) -> Kernel:
    """The kernel of ``region`` for ``mode``; ``floats`` are the Python-float constants it may read."""
    scalar = region.size == 1
    w = _Writer(region, floats, mode, scalar)
    params, loads = _inputs(region, floats, scalar, w)
    red = region.reduce
    if red is not None and mode != "bwd":
        w.reductions.append(("value", 0))
        w.red_exprs.append(f"v{red.args[0]}")
    w.forward()
    if mode != "fwd":
        w.backward(_seed(region, mode, scalar, params, w))
    if mode != "bwd" and red is None and not scalar:
        params.append(("array", region.dtype))  # out
    kernel = Kernel(mode, [], params, scalar=scalar)
    grads = sorted(w.grads)
    if scalar:
        _scalar_kernel(kernel, w, mode, grads)
    else:
        kernel.array_grads = grads
        params += [("array", region.dtype)] * len(grads)
        _loop_kernel(kernel, w, mode, loads, parallel_min, depth)
    return kernel


def _inputs(region: Region, floats: Mapping[int, float], scalar: bool,
            w: _Writer) -> tuple[list[tuple[str, Any]], list[str]]:
    params: list[tuple[str, Any]] = []
    loads = []
    for k, slot in enumerate(region.inputs):
        if region.full[k] and not scalar:
            params.append(("array", region.dtype))
            loads.append(f"v{slot} = a{k}[i]")
        else:
            params.append(("scalar", region.dtype))
            w.hoisted.append(f"v{slot} = a{k}")
    used = {a for n in region.nodes for a in n.args}
    w.hoisted += [f"v{s} = DT({_literal(v)})" for s, v in floats.items() if s in used]
    return params, loads


def _seed(region: Region, mode: Mode, scalar: bool, params: list[tuple[str, Any]], w: _Writer) -> str:
    red = region.reduce
    if red is not None or scalar:
        params.append(("scalar", region.dtype))
        if red is not None and red.op.name == "mean":
            w.hoisted.append(f"ge = g / DT({region.size})")
            return "ge"
        return "g"
    params.append(("array", region.dtype))
    return "g[i]"


def _header(kernel: Kernel, names: list[str], w: _Writer) -> list[str]:
    consts = ["_c0 = DT(0.0)", "_c1 = DT(1.0)", "_c2 = DT(2.0)", "_cln2 = DT(0.6931471805599453)"]
    return [f"def {kernel.name}({', '.join(names)}):", *["    " + s for s in consts + w.hoisted]]


def _param_names(kernel: Kernel, region: Region, mode: Mode) -> list[str]:
    names = [f"a{k}" for k in range(len(region.inputs))]
    if mode != "fwd":
        names.append("g")
    if mode != "bwd" and region.reduce is None and not kernel.scalar:
        names.append("out")
    return names + [f"go{k}" for k in kernel.array_grads]


def _scalar_kernel(kernel: Kernel, w: _Writer, mode: Mode, grads: list[int]) -> None:
    region = w.region
    lines = _header(kernel, _param_names(kernel, region, mode), w) + ["    " + s for s in w.body]
    results = []
    if mode != "bwd":
        total = f"(_c0 + {w.red_exprs[0]})" if region.reduce is not None else ""
        value = f"v{region.root}" if region.reduce is None else _reduce_value(region, total)
        results.append(value)
        kernel.results.append(("value", 0))
    for k in grads:
        results.append(f"e{k}")
        kernel.results.append(("grad", k))
    lines.append(f"    return ({', '.join(results)},)")
    kernel.lines = lines


def _reduce_value(region: Region, total: str) -> str:
    red = region.reduce
    return f"{total} / DT({region.size})" if red is not None and red.op.name == "mean" else total


def _loop_kernel(kernel: Kernel, w: _Writer, mode: Mode, loads: list[str], parallel_min: int, depth: int) -> None:
    region = w.region
    n = region.size
    loop = "numba.prange" if n >= parallel_min else "range"
    lines = _header(kernel, _param_names(kernel, region, mode), w)
    store = []
    if mode != "bwd" and region.reduce is None:
        store.append(f"out[i] = v{region.root}")
    store += [f"go{k}[i] = e{k}" for k in kernel.array_grads]
    body = loads + w.body + store
    if not w.reductions:
        lines += [f"    for i in {loop}({n}):", *["        " + s for s in body], "    return 0"]
        kernel.lines = lines
        return
    tree = _chunks(0, n, depth if loop != "range" else 0)
    combine = _flatten(tree, kernel.chunks)
    nr = len(w.reductions)
    lines += [f"    P = np.empty(({nr}, {len(kernel.chunks)}), DT)",
              f"    for ch in {loop}({len(kernel.chunks)}):",
              f"        lo = STARTS_{kernel.name}[ch]", f"        m = LENS_{kernel.name}[ch]",
              f"        B = np.empty(({nr}, m), DT)",
              "        for j in range(m):", "            i = lo + j",
              *["            " + s for s in body],
              *[f"            B[{r}, j] = {e}" for r, e in enumerate(w.red_exprs)],
              f"        for r in range({nr}):", "            P[r, ch] = pairwise(B[r], 0, m, _c0)"]
    results = []
    for r, what in enumerate(w.reductions):
        total = f"(_c0 + {combine.format(r=r)})"
        results.append(_reduce_value(region, total) if what[0] == "value" else total)
        kernel.results.append(what)
    lines.append(f"    return ({', '.join(results)},)")
    kernel.lines = lines


def module_source(kernels: list[Kernel], dtype: np.dtype[Any]) -> str:
    """One importable module holding a region's kernels (its text is the on-disk cache key)."""
    head = ["import math", "import numba", "import numpy as np",
            "from engine.compiled._support import pairwise", f"DT = np.{dtype.name}"]
    body: list[str] = []
    for k in kernels:
        if k.chunks:
            starts = ", ".join(str(s) for s, _ in k.chunks)
            lens = ", ".join(str(m) for _, m in k.chunks)
            body += [f"STARTS_{k.name} = np.array([{starts}], np.int64)",
                     f"LENS_{k.name} = np.array([{lens}], np.int64)"]
        body += ["", "", *k.lines]
    return "\n".join(head + body) + "\n"
