"""The kinds of remote function, one row each: path, keyword argument, local twin, and how answers read back.

A row ties ``Client.<kind>_function`` to its endpoint (``/v1/<path>``, and
``/v1/functions/{id}/<path>``), to the keyword its calls take (``dy``,
``tangents``, ``vectors``), to the local function that runs when the call
is traced by an enclosing derivative (nesting), and to the decoder that
rebuilds the response as the local function returns it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine import (
    Array,
    EngineError,
    Limits,
    decode_tensor,
    hessian_function,
    hvp_function,
    value_and_gradients_function,
    value_and_jacobian_function,
    value_and_jvp_function,
)
from valgrad.errors import APIResponseError

if TYPE_CHECKING:
    from valgrad.remote import Spec

__all__ = ["KINDS", "Kind", "decode_answer", "decode_blocks", "decode_optional"]

_KEYWORDS = "Functions to be differentiated cannot receive keyword arguments."
_MISSING: Any = object()
_UNBOUNDED = Limits(max_json_lists=sys.maxsize)


@dataclass(frozen=True)
class Kind:
    """One kind of remote function."""

    path: str
    vector: str | None  # the keyword argument of a call: optional dy, required tangents/vectors
    local: Callable[..., Callable[..., Any]]
    read: Callable[[Spec, Any], Any]

    def take(self, kwargs: dict[str, Any]) -> Any:
        """The call's keyword argument (None if absent and optional); other keywords are refused as locally."""
        extra = kwargs.pop(self.vector, _MISSING) if self.vector else _MISSING
        if kwargs:
            raise ValueError(_KEYWORDS)
        if extra is _MISSING:
            if self.vector in ("tangents", "vectors"):
                raise TypeError(f"missing the keyword argument {self.vector}=: one array per param")
            return None
        return extra

    def decode(self, spec: Spec, payload: Any) -> Any:
        try:
            return self.read(spec, payload)
        except (KeyError, TypeError, EngineError) as e:
            raise APIResponseError(f"unexpected response body: {e!r}") from None


def decode_answer(obj: Any, pointer: str) -> Any:
    """A tensor of a response; the server bounded it already, so no request-side limit applies."""
    return decode_tensor(obj, pointer, limits=_UNBOUNDED, max_elements=sys.maxsize).view(Array)


def decode_optional(obj: Any, pointer: str) -> Any:
    """A tensor of a response, or None for null (an unconnected block)."""
    return None if obj is None else decode_answer(obj, pointer)


def decode_blocks(raw: Any, pointer: str) -> list[Any]:
    """A list of optional tensors (gradients, HVPs, a Jacobian's blocks per param)."""
    if not isinstance(raw, list):
        raise APIResponseError(f"expected a list at {pointer}, got {raw!r:.80}")
    return [decode_optional(v, f"{pointer}/{i}") for i, v in enumerate(raw)]


def _jvp(spec: Spec, p: Any) -> Any:
    return spec.value(p["value"]), spec.like_value(p["jvp"], "/jvp", decode_optional)


def _jacobian(spec: Spec, p: Any) -> Any:
    return spec.value(p["value"]), spec.like_value(p["jacobian"], "/jacobian", decode_blocks)


def _hessian(spec: Spec, p: Any) -> Any:
    rows = p["hessian"]
    if not isinstance(rows, list):
        raise TypeError(f"hessian must be a list of rows, got {rows!r:.80}")
    return (spec.value(p["value"]), decode_blocks(p["gradients"], "/gradients"),
            [decode_blocks(r, f"/hessian/{i}") for i, r in enumerate(rows)])


def _hvp(spec: Spec, p: Any) -> Any:
    return spec.value(p["value"]), decode_blocks(p["gradients"], "/gradients"), decode_blocks(p["hvp"], "/hvp")


KINDS: dict[str, Kind] = {
    "gradients": Kind("value-and-gradients", "dy", value_and_gradients_function, lambda spec, p: spec.decode(p)),
    "jvp": Kind("value-and-jvp", "tangents", value_and_jvp_function, _jvp),
    "jacobian": Kind("value-and-jacobian", None, value_and_jacobian_function, _jacobian),
    "hessian": Kind("hessian", None, hessian_function, _hessian),
    "hvp": Kind("hvp", "vectors", hvp_function, _hvp),
}
