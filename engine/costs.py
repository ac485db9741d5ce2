"""Cost-rule building blocks: the unit, measured weights, and rules for forward work, VJP work and temporaries.

The unit is one FLOP of NumPy's BLAS kernels (matmul counts ``2*m*n*k`` of
them), the fastest work an evaluation does; everything else is priced in the
BLAS FLOPs the same time buys. One elementwise pass of ``add`` over a float64
element costs about as much as ``ELEMENT_FLOPS`` of them, and each ufunc is
weighted by its measured time relative to ``add`` (``sin`` is ~9 adds,
``logaddexp`` ~19). ``python -m bench.calibrate`` measures every op's seconds
per estimated FLOP (forward and backward) and reports the ops whose ratio
strays from the median; the numbers below come from it.

A rule's signature is ``rule(out_shape, *input_shapes, **attrs) -> int``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "DEFAULT_TEMPORARIES",
    "ELEMENT_FLOPS",
    "PYTHON_STEP_FLOPS",
    "VJP_FACTOR",
    "elementwise",
    "input_passes",
    "largest",
    "largest_passes",
    "output_passes",
    "view",
]

Shape = tuple[int, ...]
CostRule = Callable[..., int]

# One pass of add over one float64 element (1.5-1.8 ns with its allocation, at 2**19-2**20 elements) against
# one matmul FLOP (~0.03 ns with OpenBLAS on two cores): about 50; 16 keeps BLAS work within the 10x band of
# the calibration's median while pricing elementwise work at ~0.1 ns per FLOP.
ELEMENT_FLOPS = 16
# One Python-level step of the engine (a VJP call on a small tensor, one greedy-path candidate): 100-200 ns.
PYTHON_STEP_FLOPS = 1000
# A VJP without its own rule costs this multiple of the forward: one pass for g times a local derivative,
# one for its unbroadcast or accumulation into the input's cotangent.
VJP_FACTOR = 2
# Full-size arrays a VJP without its own count holds at its peak: the cotangent of each of two operands.
DEFAULT_TEMPORARIES = 2


def size_of(shape: Sequence[int]) -> int:
    """Elements of ``shape`` as an exact Python int."""
    return math.prod(shape)


def largest(out: Shape, *ins: Shape) -> int:
    """Elements of the largest of the output and inputs: the size a VJP's full-size temporaries have."""
    return max(size_of(out), *(size_of(s) for s in ins))


def _flops(passes: float, elements: int) -> int:
    return math.ceil(passes * ELEMENT_FLOPS * elements)


def elementwise(passes: float = 1.0) -> CostRule:
    """``passes`` add-equivalent passes over the output (a ufunc weighted by its measured time)."""

    def cost(out: Shape, *ins: Shape, **_: Any) -> int:
        return _flops(passes, size_of(out))

    return cost


def output_passes(passes: float) -> CostRule:
    """Alias of ``elementwise`` for VJP rules: ``passes`` add-equivalent passes over the output."""
    return elementwise(passes)


def input_passes(passes: float) -> CostRule:
    """``passes`` add-equivalent passes over the first input (reductions read their whole input)."""

    def cost(out: Shape, x: Shape, *rest: Shape, **_: Any) -> int:
        return _flops(passes, size_of(x))

    return cost


def largest_passes(passes: float) -> CostRule:
    """``passes`` add-equivalent passes over the largest of output and inputs."""

    def cost(out: Shape, *ins: Shape, **_: Any) -> int:
        return _flops(passes, largest(out, *ins))

    return cost


def view(out: Shape, *ins: Shape, **_: Any) -> int:
    """A view (transpose, flip, reshape of a contiguous array) costs a call, not a pass over the data."""
    return PYTHON_STEP_FLOPS
