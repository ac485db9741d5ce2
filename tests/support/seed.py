"""The seed: TensorFlow's example f(x, y) = x³y - xy², whose value at (2, 3) is 6 and gradients [27, -4].

Every form the tests send it in, once. Shared objects: read them, never mutate them.
"""

from __future__ import annotations

from typing import Any

SEED: dict[str, Any] = {"inputs": ["x", "y"], "expression": "x*x*x*y - x*y*y"}
"""The seed as a text function, as the service and ``engine.load_function`` take it."""

SEED_GRAPH: dict[str, Any] = {
    "version": 1, "opset": 1, "inputs": ["x", "y"],
    "nodes": [
        {"id": "a", "op": "mul", "args": ["x", "x"]},
        {"id": "b", "op": "mul", "args": ["a", "x"]},
        {"id": "c", "op": "mul", "args": ["b", "y"]},
        {"id": "d", "op": "mul", "args": ["x", "y"]},
        {"id": "e", "op": "mul", "args": ["d", "y"]},
        {"id": "f", "op": "sub", "args": ["c", "e"]},
    ],
    "outputs": "f",
}
"""The seed as a JSON graph, one node per operation (DESIGN.md's example)."""

SEED_ARGS: list[int] = [2, 3]
SEED_VALUE = 6.0
SEED_GRADIENTS: list[float] = [27.0, -4.0]
SEED_ANSWER: dict[str, Any] = {"value": SEED_VALUE, "gradients": SEED_GRADIENTS, "params": ["x", "y"]}
"""The service's JSON answer for the seed at ``SEED_ARGS`` with every param."""


def seed(x: Any, y: Any) -> Any:
    """The seed as Python, for the local API and the SDK's tracer (as TF's documentation writes it)."""
    return x * x * x * y - x * y * y
