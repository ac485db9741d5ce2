"""NEP 18 dispatch for ops that have no NumPy function (sigmoid, softmax, internal gradient ops).

``dispatched(forward)`` returns a function that behaves like a NumPy
function: called with plain arrays it computes ``forward``; called with an
argument whose type defines ``__array_function__`` (a ``Tensor``), it hands
the call to that type exactly as NumPy does for ``np.sum``. Ops list the
returned function in ``numpy=`` so a ``Tensor`` routes it like any other.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["dispatched"]

_NDARRAY_HOOK = np.ndarray.__array_function__


def _overrides(x: Any) -> bool:
    hook = getattr(type(x), "__array_function__", None)
    return hook is not None and hook is not _NDARRAY_HOOK


def dispatched(forward: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``forward`` so that array-like arguments with ``__array_function__`` take the call (NEP 18)."""

    @functools.wraps(forward)
    def public(*args: Any, **kwargs: Any) -> Any:
        relevant = [a for a in args if _overrides(a)]
        if not relevant:
            return forward(*args, **kwargs)
        types = tuple(dict.fromkeys(type(a) for a in relevant))
        for a in relevant:
            result = type(a).__array_function__(a, public, types, args, kwargs)
            if result is not NotImplemented:
                return result
        raise TypeError(f"no implementation of {forward.__name__} for argument types {[t.__name__ for t in types]}")

    return public
