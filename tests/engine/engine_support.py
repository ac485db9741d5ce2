"""Shared by the engine tests: TF's seed function as a JSON graph, one node per operation."""

from __future__ import annotations

from typing import Any

__all__ = ["SEED_GRAPH"]

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
