"""The graph IR: a tape of nodes over numbered value slots.

Every value a function computes lives in a *slot*. A ``Graph`` numbers its
slots as: inputs first (``0 .. n_inputs-1``), then constants, then one slot
per node in order, so a node's arguments always name earlier slots and the
node order is a topological order. An eager ``Tape`` uses the same ``Node``
with slots allocated as values appear. ``tape.backward`` runs on either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from engine.memo import Memo
from engine.registry import Op

if TYPE_CHECKING:  # annotations only: both modules import this one
    from engine.static import StaticInfo
    from engine.tape import Plan

__all__ = [
    "FLOAT_DTYPES", "FUNCTION_ID_PATTERN", "ID_PATTERN", "MAX_ID_LENGTH", "NEWEST_OPSET", "OPSETS", "VERSION",
    "Abstract", "Graph", "Input", "Node", "fresh_prefix", "function_id", "is_id",
]

FLOAT_DTYPES = ("float64", "float32")
VERSION = 1  # of the JSON envelope
OPSETS = (1, 2)  # an op's meaning never changes within an opset (ONNX's rule)
NEWEST_OPSET = OPSETS[-1]
MAX_ID_LENGTH = 128
ID_PATTERN = f"^[A-Za-z_][A-Za-z0-9_]{{0,{MAX_ID_LENGTH - 1}}}$"  # input names and node ids: ASCII identifiers
FUNCTION_ID_PATTERN = r"^sha256:[0-9a-f]{64}$"  # a function's id: ``function_id`` of its canonical form


def function_id(canonical: bytes) -> str:
    """A function's content address: the SHA-256 of its canonical form, so every replica computes the same."""
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def is_id(s: str) -> bool:
    """Whether ``s`` is an input name or node id: an ASCII identifier of at most ``MAX_ID_LENGTH`` characters
    (``ID_PATTERN``, checked without a regex: ``str.isidentifier`` is several times faster)."""
    return s.isascii() and s.isidentifier() and len(s) <= MAX_ID_LENGTH


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


CheckKey = tuple[Any, ...]  # (limits, then each argument's (shape, dtype char))


@dataclass(frozen=True, eq=False)
class Graph:
    """A validated function. ``id`` is ``sha256:<hex>`` of ``canonical`` (sorted, compact JSON).

    Two memos make a held function cost one loop per call: ``plans`` (param positions -> backward plan) and
    ``checks`` ((limits, argument signature) -> the static pass's result).
    """

    inputs: tuple[Input, ...]
    constants: tuple[Any, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[int, ...]
    output_is_list: bool
    opset: int
    canonical: bytes
    id: str
    plans: Memo[tuple[int, ...], Plan] = field(default_factory=Memo, repr=False)
    checks: Memo[CheckKey, StaticInfo] = field(default_factory=Memo, repr=False)

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    @cached_property
    def every_input(self) -> tuple[int, ...]:
        """The param positions of ``params=None``: every input, as TF differentiates by default."""
        return tuple(range(len(self.inputs)))

    @cached_property
    def output_names(self) -> str | list[str]:
        """The outputs as the canonical form names them: the ids of inputs and nodes (a list if a list)."""
        base = len(self.inputs) + len(self.constants)
        names = [self.inputs[s].name if s < len(self.inputs) else self.nodes[s - base].id for s in self.outputs]
        return names if self.output_is_list else names[0]

    @cached_property
    def env_tail(self) -> tuple[Any, ...]:
        """The slots after the inputs, as an evaluation starts them: constants, then one empty slot per node."""
        return (*self.constant_values(), *([None] * len(self.nodes)))

    def constant_values(self) -> list[Any]:
        """Constants as forward-ready values (Python floats stay weakly typed under NEP 50)."""
        return [c if isinstance(c, float) else np.asarray(c) for c in self.constants]
