"""Flatten a function's output (a tensor, or nested lists/tuples/dicts of them) and rebuild it.

Dicts flatten in sorted key order, as TensorFlow's ``nest`` does, so ``dy``
lists line up with outputs the same way in TF and in valgrad.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["flatten"]

Rebuild = Callable[[list[Any]], Any]


def flatten(tree: Any) -> tuple[list[Any], Rebuild, bool]:
    """Return (leaves, rebuild, is_structured); ``rebuild(new_leaves)`` restores the structure."""
    if isinstance(tree, list | tuple | dict):
        leaves: list[Any] = []
        shape = _walk(tree, leaves)
        return leaves, lambda new: _build(shape, iter(new)), True
    return [tree], lambda new: new[0], False


def _walk(tree: Any, leaves: list[Any]) -> Any:
    if isinstance(tree, dict):
        keys = sorted(tree)
        return (dict, keys, [_walk(tree[k], leaves) for k in keys])
    if isinstance(tree, list | tuple):
        return (type(tree), None, [_walk(t, leaves) for t in tree])
    leaves.append(tree)
    return None


def _build(shape: Any, leaves: Any) -> Any:
    if shape is None:
        return next(leaves)
    kind, keys, children = shape
    items = [_build(c, leaves) for c in children]
    if kind is dict:
        return dict(zip(keys, items, strict=True))
    return kind(items) if kind in (list, tuple) else kind(*items)  # namedtuples take fields
