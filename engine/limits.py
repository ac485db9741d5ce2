"""Resource limits every function and request is checked against before NumPy runs.

One frozen value object, so the service builds it once from its settings and
the engine's static checks stay pure functions of (graph, shapes, limits).
Each field is spelled once, here, with its meaning and lowest sensible value
(``limit``'s metadata), and the service derives its ``VALGRAD_*`` settings
from these fields (``app.settings``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_LIMITS", "Limits", "limit"]


def limit(default: int, doc: str, minimum: int = 1) -> Any:
    """A ``Limits`` field: its default, what it bounds (for settings and docs) and its lowest allowed value."""
    return field(default=default, metadata={"doc": doc, "min": minimum})


@dataclass(frozen=True)
class Limits:
    """Caps on graph size, tensor sizes and estimated work; each field is one number."""

    max_nodes: int = limit(200_000, "op nodes in one function (a 200,000-node chain is allowed)")
    max_inputs: int = limit(10_000, "inputs (parameters) of one function")
    max_constant_elements: int = limit(2**22, "elements over all constants of one function", minimum=0)
    max_tensor_elements: int = limit(2**24, "elements of any one tensor (argument, constant or intermediate), and "
                                            "of any one of its dimensions")
    max_total_elements: int = limit(2**27, "peak elements of one evaluation: arguments, constants, every "
                                           "intermediate and the gradient pass's largest temporaries")
    max_flops: int = limit(2 * 10**10, "estimated work of one evaluation, forward and gradients, in BLAS FLOPs "
                                       "(calibrated by engine.costs: about 1-3 s of one core)")
    max_expression_length: int = limit(100_000, "characters of one text expression")
    max_expression_depth: int = limit(500, "nesting depth of one text expression's syntax tree")
    max_json_depth: int = limit(64, "nesting of JSON arrays and objects (a tensor has at most 32 dimensions)")
    max_json_lists: int = limit(2**20, "JSON arrays in one nested-list tensor, counted over every level (bounds "
                                       "work on [[], [], ...] bodies whatever their shape; more rows go binary)")


DEFAULT_LIMITS = Limits()
