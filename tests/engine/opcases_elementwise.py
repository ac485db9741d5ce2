"""Op-contract rows for engine/ops/elementwise.py; tests/engine/test_ops.py runs every contract check over them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from op_support import Case

CASES: list[Case] = []
REF: dict[str, Callable[..., Any]] = {}  # reference forwards where the op's first numpy= entry is not one
BAD_SHAPES: list[tuple[str, list[tuple[int, ...]], dict[str, Any]]] = []
BAD_ATTRS: list[tuple[str, dict[str, Any]]] = []
