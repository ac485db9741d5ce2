"""Prices of the derivative kinds on top of the static pass's value-and-gradients estimate.

``infer`` prices one forward and one backward pass. A tangent sweep costs
about what a backward pass does (one rule per node, the same local
derivatives), so each kind is ``passes x per-pass cost`` on top of it:

* JVP: forward + one sweep (the VJP estimate itself).
* Jacobian: forward + ``n_in`` sweeps (forward mode) or forward + backward +
  ``n_out`` sweeps of the backward pass (reverse mode), whichever is smaller,
  as ``engine.kinds`` chooses; tangents are batched, so memory grows with the
  batch, and the Jacobian itself must fit.
* HVP: forward + backward, then one sweep over both (about 3x).
* Hessian: forward + backward, then ``n_in`` sweeps over both.

Elements are the static peak plus the live tangents (batch x intermediates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import TooExpensiveError
from engine.ir import Graph
from engine.limits import Limits
from engine.registry import shape_of, size_of
from engine.static import StaticInfo

__all__ = ["Cost", "price", "scaled"]


@dataclass(frozen=True)
class Cost:
    """Estimated BLAS FLOPs, elements held at the peak, and those elements' bytes."""

    flops: int
    elements: int
    bytes: int

    def as_json(self) -> dict[str, int]:
        return {"flops": self.flops, "elements": self.elements, "bytes": self.bytes}


def _itemsize(xs: Sequence[Any]) -> int:
    sizes = [np.result_type(x).itemsize for x in xs if hasattr(x, "dtype")]
    return max(sizes, default=8)


def scaled(info: StaticInfo, kind: str, n_in: int, n_out: int) -> tuple[int, int, int]:
    """(flops, elements, result elements) of ``kind`` given the value-and-gradients estimate ``info``."""
    fwd, both = info.forward_flops, info.flops
    sweep = max(both - fwd, fwd)  # a tangent pass costs about a backward pass, never less than a forward
    tangents = info.total_elements
    if kind == "jvp":
        return fwd + sweep, info.peak_elements + tangents, n_out
    if kind == "hvp":
        return both + 2 * sweep, info.peak_elements + 2 * tangents, 2 * n_in
    if kind == "hessian":
        return both + 2 * n_in * sweep, info.peak_elements + 2 * n_in * tangents, n_in * n_in + n_in
    if kind == "jacobian":
        batch = min(n_in, n_out)
        flops = fwd + n_in * sweep if n_out >= n_in else both + n_out * sweep
        return flops, info.peak_elements + batch * tangents, n_in * n_out
    raise ValueError(f"unknown derivative kind {kind!r}")


_NAMES = {"jvp": "a JVP", "hvp": "a Hessian-vector product", "hessian": "a Hessian", "jacobian": "a Jacobian"}


def price(kind: str, info: StaticInfo, graph: Graph, xs: Sequence[Any], positions: Sequence[int],
          limits: Limits) -> Cost:
    """This kind's cost; ``TooExpensiveError`` when it exceeds ``limits`` (checked before anything runs)."""
    params = list(dict.fromkeys(positions))
    n_in = sum(size_of(shape_of(xs[p])) for p in params)
    n_out = sum(size_of(s) for s in info.output_shapes)
    flops, elements, result = scaled(info, kind, n_in, n_out)
    what = f"{_NAMES[kind]} of {n_out} output element(s) by {n_in} param element(s)"
    if result > limits.max_tensor_elements:
        raise TooExpensiveError(f"{what} has {result} elements, more than the {limits.max_tensor_elements} "
                                "a result may hold; ask for fewer params or a JVP/VJP instead", "/params")
    if flops > limits.max_flops:
        raise TooExpensiveError(f"{what} needs about {flops} FLOPs, more than the limit of {limits.max_flops}",
                                "/params")
    if elements + result > limits.max_total_elements:
        raise TooExpensiveError(f"{what} holds about {elements + result} elements at its peak, more than "
                                f"{limits.max_total_elements}", "/params")
    return Cost(flops, elements + result, (elements + result) * _itemsize(xs))
