"""The graph IR: a tape of nodes over numbered value slots.

Every value a function computes lives in a *slot*. A ``Graph`` numbers its
slots as: inputs first (``0 .. n_inputs-1``), then constants, then one slot
per node in order, so a node's arguments always name earlier slots and the
node order is a topological order. An eager ``Tape`` uses the same ``Node``
with slots allocated as values appear. ``tape.backward`` runs on either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from engine.registry import Op

__all__ = ["FLOAT_DTYPES", "NEWEST_OPSET", "OPSETS", "VERSION", "Abstract", "Graph", "Input", "Node", "fresh_prefix"]

FLOAT_DTYPES = ("float64", "float32")
VERSION = 1  # of the JSON envelope
OPSETS = (1, 2)  # an op's meaning never changes within an opset (ONNX's rule)
NEWEST_OPSET = OPSETS[-1]


def fresh_prefix(names: Sequence[str], base: str) -> str:
    """An id prefix such that ``prefix + digits`` never equals one of ``names`` (generated node ids)."""
    prefix = base
    while any(n.startswith(prefix) and n[len(prefix):].isdigit() for n in names):
        prefix = "_" + prefix
    return prefix


class Node(NamedTuple):
    """One op application: reads ``args`` slots, writes slot ``out``."""

    op: Op
    args: tuple[int, ...]
    kwargs: Mapping[str, Any]
    out: int
    attrs: Mapping[str, Any]
    id: str


@dataclass(frozen=True)
class Abstract:
    """A value known by shape and dtype only, as a symbolic trace with a signature holds it (jax.ShapeDtypeStruct)."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]


@dataclass(frozen=True)
class Input:
    """A declared parameter; ``dtype``/``shape`` None mean "any" (``None`` dims: any size)."""

    name: str
    dtype: str | None = None
    shape: tuple[int | None, ...] | None = None


@dataclass(frozen=True, eq=False)
class Graph:
    """A validated function. ``id`` is ``sha256:<hex>`` of ``canonical`` (sorted, compact JSON).

    ``cache`` holds per-graph memos (backward plans per params, static checks per
    argument signature); it is bounded by the code that fills it.
    """

    inputs: tuple[Input, ...]
    constants: tuple[Any, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[int, ...]
    output_is_list: bool
    opset: int
    canonical: bytes
    id: str
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    def constant_values(self) -> list[Any]:
        """Constants as forward-ready values (Python floats stay weakly typed under NEP 50)."""
        return [c if isinstance(c, float) else np.asarray(c) for c in self.constants]
