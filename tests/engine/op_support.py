"""Shared by the op-contract tables: argument generators and the ``Case`` row type."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["M", "N", "P", "R", "U", "Case", "case"]

R = np.random.default_rng(1234)


def N(*s: int) -> np.ndarray:
    return R.standard_normal(s)


def P(*s: int) -> np.ndarray:
    return R.uniform(0.5, 2.0, s)


def U(*s: int) -> np.ndarray:
    return R.uniform(-0.9, 0.9, s)


def M(*s: int) -> np.ndarray:
    """Well-conditioned (batches of) square matrices."""
    return R.standard_normal(s) * 0.2 + 2 * np.eye(s[-1])


class Case(NamedTuple):
    op: str
    args: tuple[Any, ...]
    attrs: dict[str, Any]

    def __repr__(self) -> str:
        shapes = ",".join(str(list(np.shape(a))) for a in self.args)
        return f"{self.op}({shapes}){self.attrs or ''}"


def case(op: str, *args: Any, **attrs: Any) -> Case:
    return Case(op, args, attrs)


