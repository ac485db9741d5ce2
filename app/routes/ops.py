"""GET /v1/ops: the op set a function may use."""

from __future__ import annotations

from functools import cache
from typing import Any

from fastapi import APIRouter

from app.openapi import operation, responses
from app.schemas import OpSet
from app.wire import JSONBytes, dumps
from engine import ALIASES, NEWEST_OPSET, OPS, REQUIRED, Op

router = APIRouter(tags=["ops"])


def _describe(op: Op) -> dict[str, Any]:
    low, high = op.arity
    return {
        "name": op.name,
        "opset": op.opset,
        "aliases": sorted(alias for alias, name in ALIASES.items() if name == op.name),
        "min_args": low,
        "max_args": high,
        "attrs": [{"name": a.name, "required": a.default is REQUIRED,
                   "default": None if a.default is REQUIRED else a.default, "doc": a.doc} for a in op.attrs],
        "doc": op.doc,
    }


@cache
def op_set() -> bytes:
    """The op set as JSON, built once (ops are registered at import and never change)."""
    ops = [_describe(op) for name, op in sorted(OPS.items()) if not name.startswith("_")]
    return dumps({"opset": NEWEST_OPSET, "ops": ops})


@router.get("/v1/ops", operation_id="listOps", summary="List the op set", response_model=OpSet,
            openapi_extra=operation(),
            responses=responses(OpSet, 401, description="Every op: arity, attributes and gradient convention"))
async def list_ops() -> JSONBytes:
    """Every op a function may use: name, aliases, arity, attributes with defaults, and a one-line doc."""
    return JSONBytes(op_set())
