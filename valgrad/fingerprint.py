"""What a traced function reads besides its arguments, as a digest: a change means a retrace, never a stale value.

A trace bakes the numbers and arrays ``f`` reads from outside into the graph
as constants (as ``jax.jit`` does). So that a remote function never keeps
sending an old value after the Python variable changed, its trace-cache key
includes a digest (BLAKE2b) of:

* the contents of ``f``'s closure cells and the globals its code (and the code
  of functions and lambdas defined inside it) names;
* followed transitively into the Python functions found there (helpers);
* for a bound method, the attributes of its ``self``;

of which numbers (``int``, ``float``, ``bool``, NumPy scalars), NumPy arrays
(dtype, shape and every byte), and lists and tuples holding only such values
(up to 1,024 of them) count. Anything else (modules, classes, dicts, other
objects and their attributes, lists of other things) is not looked into:
keep such state in arguments, or in arrays and numbers held directly. The
digest is taken on every call (about 10 µs, plus about 1 ms per MB of
arrays).
"""

from __future__ import annotations

import hashlib
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["fingerprint"]

_MAX_ITEMS = 1024  # elements of a list or tuple looked into; longer ones are not
_NUMBERS = (int, float, bool, complex, np.generic)
_LIBRARIES = frozenset(("numpy", "scipy", "engine", "valgrad", "app"))
_names: dict[types.CodeType, tuple[str, ...]] = {}


def _code_names(code: types.CodeType) -> tuple[str, ...]:
    """The global names ``code`` and the code objects nested in it may read (cached: code is immutable)."""
    names = _names.get(code)
    if names is None:
        found: set[str] = set()
        stack = [code]
        while stack:
            c = stack.pop()
            found.update(c.co_names)
            stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        names = _names[code] = tuple(sorted(found))
    return names


def _outside(fn: Any) -> Iterator[tuple[str, Any]]:
    """(name, value) pairs a function reads from outside its arguments."""
    if isinstance(fn, types.MethodType):
        owner = fn.__self__
        if hasattr(owner, "__dict__"):
            yield from ((f"self.{k}", v) for k, v in sorted(vars(owner).items()))
        fn = fn.__func__
    code = getattr(fn, "__code__", None)
    if not isinstance(code, types.CodeType):
        return
    for name, cell in zip(code.co_freevars, fn.__closure__ or (), strict=False):
        try:
            yield name, cell.cell_contents
        except ValueError:  # a cell not yet bound
            continue
    env = getattr(fn, "__globals__", {})
    for name in _code_names(code):
        if name in env:
            yield name, env[name]


def _feed(h: Any, value: Any, pending: list[Any], depth: int = 0) -> None:
    if isinstance(value, np.ndarray):
        a = np.ascontiguousarray(value)
        h.update(f"a{a.dtype.str}{a.shape}".encode())
        if a.dtype.kind != "O":
            h.update(a.view(np.uint8).reshape(-1) if a.ndim else a.reshape(1).view(np.uint8))
    elif isinstance(value, _NUMBERS):
        h.update(f"n{type(value).__name__}{value!r}".encode())
    elif isinstance(value, list | tuple) and depth < 8 and _numeric(value):
        h.update(f"l{len(value)}".encode())
        for v in value:
            _feed(h, v, pending, depth + 1)
    elif isinstance(value, types.FunctionType | types.MethodType) and _users(value):
        pending.append(value)


def _numeric(seq: list[Any] | tuple[Any, ...]) -> bool:
    """A list or tuple of numbers and arrays (nested), short enough to look into: the only containers that count."""
    return len(seq) <= _MAX_ITEMS and all(
        isinstance(v, (np.ndarray, *_NUMBERS)) or (isinstance(v, list | tuple) and _numeric(v)) for v in seq)


def _users(fn: Any) -> bool:
    """Whether ``fn`` is user code (libraries' functions are not followed: their state is not the user's)."""
    top = str(getattr(fn, "__module__", None) or "").split(".", 1)[0]
    return top not in _LIBRARIES and top not in sys.stdlib_module_names


def fingerprint(f: Callable[..., Any]) -> bytes:
    """The digest of the numbers and arrays ``f`` reads from its closure and globals (see the module doc)."""
    h = hashlib.blake2b(digest_size=16)
    pending: list[Any] = [f]
    seen: set[int] = set()
    while pending:
        fn = pending.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        h.update(b"|")
        for name, value in _outside(fn):
            h.update(name.encode())
            _feed(h, value, pending)
    return h.digest()
