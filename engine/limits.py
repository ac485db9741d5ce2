"""Resource limits every function and request is checked against before NumPy runs.

One frozen value object, so the service builds it once from its settings and
the engine's static checks stay pure functions of (graph, shapes, limits).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits"]


@dataclass(frozen=True)
class Limits:
    """Caps on graph size, tensor sizes and estimated work; each field is one number."""

    max_nodes: int = 200_000  # op nodes in one graph (a 200,000-node chain is allowed)
    max_inputs: int = 10_000  # declared inputs (parameters) of one function
    max_constant_elements: int = 2**22  # elements over all constants of one graph
    max_tensor_elements: int = 2**24  # elements of any single tensor (argument, constant or intermediate)
    # elements held at once: arguments, constants, every intermediate, and the largest VJP's temporaries
    max_total_elements: int = 2**27
    # estimated work of the forward and backward pass, in BLAS FLOPs (engine.costs): ~1-3 s of one core
    max_flops: int = 2 * 10**10
    max_expression_length: int = 100_000  # characters of one text expression
    max_expression_depth: int = 500  # nesting depth of a text expression's syntax tree
    max_json_depth: int = 64  # nesting of JSON arrays/objects (a tensor has at most 32 dimensions)
    # JSON arrays in one nested-list tensor, every level counted: [[], [], ...] has no elements but costs
    # memory and time per array; more rows than this go binary ({"dtype", "shape", "data"})
    max_json_lists: int = 2**20


DEFAULT_LIMITS = Limits()
