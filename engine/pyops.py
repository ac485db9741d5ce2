"""Python's operators as the op registry names them (``defop(..., operators=("add",))``).

This is knowledge of Python, not of any op: the dunder stem, whether the
operator has a reflected form (``__radd__``), and the ``ast`` node a text
expression spells it with. ``Tensor`` and the expression parser both read
it, together with each op's ``operators``, so an op's spelling lives once.
"""

from __future__ import annotations

import ast
from typing import NamedTuple

__all__ = ["PYTHON_OPERATORS", "PyOperator"]


class PyOperator(NamedTuple):
    """One Python operator: its ``ast`` node class, arity, and whether ``__r<stem>__`` exists."""

    node: type[ast.AST]
    arity: int
    reflected: bool
    symbol: str


PYTHON_OPERATORS: dict[str, PyOperator] = {
    "add": PyOperator(ast.Add, 2, True, "+"),
    "sub": PyOperator(ast.Sub, 2, True, "-"),
    "mul": PyOperator(ast.Mult, 2, True, "*"),
    "truediv": PyOperator(ast.Div, 2, True, "/"),
    "floordiv": PyOperator(ast.FloorDiv, 2, True, "//"),
    "mod": PyOperator(ast.Mod, 2, True, "%"),
    "pow": PyOperator(ast.Pow, 2, True, "**"),
    "matmul": PyOperator(ast.MatMult, 2, True, "@"),
    "lt": PyOperator(ast.Lt, 2, False, "<"),
    "le": PyOperator(ast.LtE, 2, False, "<="),
    "gt": PyOperator(ast.Gt, 2, False, ">"),
    "ge": PyOperator(ast.GtE, 2, False, ">="),
    "eq": PyOperator(ast.Eq, 2, False, "=="),
    "ne": PyOperator(ast.NotEq, 2, False, "!="),
    "neg": PyOperator(ast.USub, 1, False, "-"),
    "abs": PyOperator(ast.AST, 1, False, "abs()"),  # no syntax of its own: abs(x) is a call
}
