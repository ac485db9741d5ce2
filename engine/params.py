"""Resolve ``params`` (names, indices, one of either, or None) to argument positions.

One resolver serves the local API, the graph API and the service, so all
three raise the same errors. The rules follow TF r1.15's ``_get_arg_spec``:
None means every named positional parameter; names and integers may not mix.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.errors import ParamsError

__all__ = ["positional_names", "resolve_params"]


def resolve_params(params: Any, names: Sequence[str] | None, n_args: int) -> list[int]:
    """Positions of ``params`` among ``n_args`` arguments whose names are ``names`` (None: unknown)."""
    if params is None:
        # TF: every named positional parameter; a parameter left to its default has no argument to differentiate.
        return list(range(min(len(names), n_args) if names else n_args))
    items = [params] if isinstance(params, str | int | np.integer) else params
    if not isinstance(items, list | tuple):
        raise ParamsError(f"params must be a list of names or of integer indices, got {params!r:.80}")
    if all(isinstance(p, str) for p in items):
        return [_by_name(p, names, n_args, i) for i, p in enumerate(items)]
    if all(isinstance(p, int | np.integer) and not isinstance(p, bool) for p in items):
        return [_by_index(int(p), names, n_args, i) for i, p in enumerate(items)]
    raise ParamsError(f"params must be all strings or all integers; got {params!r}.")


def _by_name(name: str, names: Sequence[str] | None, n_args: int, i: int) -> int:
    if not names:
        raise ParamsError("params are given by name but the function's parameter names are unknown; "
                          "give integer indices instead", pointer=f"/params/{i}")
    if name not in names:
        raise ParamsError(f"unknown parameter {name!r}; valid names: {', '.join(names)}", pointer=f"/params/{i}")
    position = list(names).index(name)
    if position >= n_args:
        raise ParamsError(f"parameter {name!r} has no argument to differentiate: the call passed {n_args} "
                          f"argument(s) ({', '.join(names[:n_args]) or 'none'})", pointer=f"/params/{i}")
    return position


def _by_index(index: int, names: Sequence[str] | None, n_args: int, i: int) -> int:
    if not -n_args <= index < n_args:
        valid = f"0..{n_args - 1} (or -{n_args}..-1)" if n_args else "none: the function takes no arguments"
        listed = f" for parameters {', '.join(names)}" if names else ""
        raise ParamsError(f"parameter index {index} is out of range; valid indices: {valid}{listed}",
                          pointer=f"/params/{i}")
    return index % n_args


def positional_names(f: Callable[..., Any]) -> list[str] | None:
    """Names of ``f``'s positional parameters (TF's getfullargspec(f).args); None if not inspectable."""
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in sig.parameters.values() if p.kind in kinds]
