"""Literals of a text expression: numbers, keyword values, constant tensors and index items, read from ``ast``.

Nothing is evaluated: each reader accepts only the literal forms it names and
raises ``UnplacedError`` (placed at the expression and column by ``engine.expr``)
for anything else.
"""

from __future__ import annotations

import ast
import math
from typing import Any

from engine.errors import EngineError, ExpressionError

__all__ = ["MAX_LITERAL_DEPTH", "UnplacedError", "all_ints", "index_item", "literal", "number", "tensor_literal"]

MAX_LITERAL_DEPTH = 32  # nested list literals: a tensor has at most 32 dimensions


class UnplacedError(Exception):
    """Internal: a rejection not yet placed (``_parse_one`` adds the pointer and column)."""

    def __init__(self, cls: type[EngineError], message: str, node: ast.AST | None) -> None:
        super().__init__(message)
        self.cls, self.message, self.node = cls, message, node


def number(node: ast.AST) -> float | int | None:
    """The value of a (possibly signed) int or float literal, else None; bool and complex are not numbers."""
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        sign, node = (-1 if isinstance(node.op, ast.USub) else 1), node.operand
    if not isinstance(node, ast.Constant) or type(node.value) not in (int, float):
        return None
    value: Any = node.value
    try:
        finite = math.isfinite(float(value))
    except OverflowError:
        finite = False
    if not finite:
        raise UnplacedError(ExpressionError, "number literal is too large (float64 stops at 1.8e308)", node)
    number: int | float = sign * value
    return number


def literal(node: ast.AST, depth: int = 0) -> Any:
    """A keyword value: numbers (ints stay ints), strings, True/False/None, and lists/tuples of them."""
    value = number(node)
    if value is not None:
        return value
    if isinstance(node, ast.Constant) and (node.value is None or type(node.value) in (str, bool)):
        return node.value
    if isinstance(node, ast.List | ast.Tuple) and depth < MAX_LITERAL_DEPTH:
        return [literal(e, depth + 1) for e in node.elts]
    raise UnplacedError(ExpressionError, "keyword values must be literals: numbers, strings, True/False/None, "
                                 "or lists of them", node)


def tensor_literal(node: ast.AST, depth: int = 0) -> Any:
    """A nested list of number literals (a constant tensor), else None."""
    value = number(node)
    if value is not None:
        return float(value)
    if isinstance(node, ast.List | ast.Tuple) and depth < MAX_LITERAL_DEPTH:
        items = [tensor_literal(e, depth + 1) for e in node.elts]
        return None if any(v is None for v in items) else items
    return None


def index_item(node: ast.expr) -> Any:
    """One ``getitem`` index item: int, slice object, None (new axis) or "..."."""
    value = number(node)
    if isinstance(value, int):
        return value
    if isinstance(node, ast.Constant) and node.value is None:
        return None
    if isinstance(node, ast.Constant) and node.value is Ellipsis:
        return "..."
    if isinstance(node, ast.Slice):
        parts = {"start": node.lower, "stop": node.upper, "step": node.step}
        out = {}
        for key, part in parts.items():
            if part is not None and not (isinstance(part, ast.Constant) and part.value is None):
                bound = number(part)
                if not isinstance(bound, int):
                    raise UnplacedError(ExpressionError, "slice bounds must be integer literals", part)
                out[key] = bound
        return out
    if isinstance(node, ast.List | ast.Tuple):  # an integer array: x[[0, 2, 2]], NumPy's advanced indexing
        items = literal(node)
        if all_ints(items):
            return items
    if isinstance(node, ast.Compare):
        raise UnplacedError(ExpressionError, "indexing by a mask (x[x > 0]) has a shape that depends on the "
                             "values, so a function cannot hold it: write where(x > 0, x, 0) instead", node)
    raise UnplacedError(ExpressionError, "indices must be integer literals, lists of them, slices, None or ...; "
                                 "for positions computed by argmax/argsort use x[argmax(x)] only in Python, or "
                                 "take_along_axis(x, indices, axis=...)", node)


def all_ints(v: Any) -> bool:
    if isinstance(v, list):
        return all(all_ints(i) for i in v)
    return isinstance(v, int) and not isinstance(v, bool)
