"""einsum: Einstein summation over any number of operands, with NumPy's full subscript language.

Subscripts are checked for syntax when the graph is built (``subscripts_attr``)
and against the operands' shapes by the shape rule. ``plan`` rewrites them
with every ellipsis spelled out as letters, which is what the VJP works on:
the cotangent of operand ``i`` is another einsum of ``g`` with the other
operands, broadcast over letters only ``i`` has, summed where ``i`` was
broadcast (size 1), and put back on the diagonal where ``i`` repeats a letter.

Every einsum here, forward and VJP, runs ``contract``: NumPy's greedy
contraction path (``optimize=True``) for three operands or more. The cost
rule prices exactly those paths with ``np.einsum_path`` on shape-only views,
so a chain ``ab,bc,cd,...->`` costs what it runs (microseconds), not the
product of every index size.
"""

from __future__ import annotations

import functools
import math
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.attrs import subscripts_attr
from engine.costs import ELEMENT_FLOPS, PYTHON_STEP_FLOPS
from engine.errors import ArityError, ShapeError
from engine.ops.dispatched import dispatched
from engine.registry import VJP, defop, shape_of, size_of
from engine.shapes import Shape

__all__ = ["MAX_OPERANDS", "contract", "plan"]

# NumPy's einsum refuses 32 operands or more on NumPy 1.x (NPY_MAXARGS) and 64 on 2.x, raising a bare
# ValueError at run time; a VJP passes the cotangent plus the other operands, as many again. One fixed
# bound, checked by the shape rule before anything runs, keeps the op set the same on every NumPy.
MAX_OPERANDS = 31


def _expand(terms: list[str], shapes: Sequence[Shape], fresh: str) -> tuple[list[str], str]:
    """Replace each ellipsis by letters for the broadcast axes (right-aligned); return the terms and those letters."""
    ranks = [len(s) - (len(t) - 3) for t, s in zip(terms, shapes, strict=True) if "..." in t]
    n_ell = max(ranks, default=0)
    if n_ell > len(fresh):
        raise ShapeError("einsum: too many axes under '...' (letters exhausted)")
    ell = fresh[:n_ell]
    out = []
    for i, (t, s) in enumerate(zip(terms, shapes, strict=True)):
        k = len(s) - (len(t) - 3) if "..." in t else 0
        if k < 0 or ("..." not in t and len(t) != len(s)):
            named = len(t) - 3 * ("..." in t)
            raise ShapeError(f"einsum: operand {i} has shape {list(s)} but subscripts {t!r} name {named} axes")
        out.append(t.replace("...", ell[n_ell - k:]))
    return out, ell


def _sizes(terms: list[str], shapes: Sequence[Shape]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for i, (t, s) in enumerate(zip(terms, shapes, strict=True)):
        own: dict[str, int] = {}
        for c, n in zip(t, s, strict=True):
            if own.setdefault(c, n) != n:
                raise ShapeError(f"einsum: operand {i} repeats index '{c}' over axes of sizes {own[c]} and {n}")
            if sizes.get(c, 1) == 1:
                sizes[c] = n
            elif n not in (1, sizes[c]):
                raise ShapeError(f"einsum: index '{c}' has size {sizes[c]} in one operand and {n} in operand {i}")
    return sizes


def plan(subscripts: str, shapes: Sequence[Shape]) -> tuple[list[str], str, dict[str, int]]:
    """Explicit per-operand letters, output letters and each letter's size; ``ShapeError`` if they do not fit."""
    if len(shapes) > MAX_OPERANDS:
        raise ArityError(f"einsum takes at most {MAX_OPERANDS} operands (NumPy's limit), got {len(shapes)}")
    lhs, arrow, out = subscripts.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ShapeError(f"einsum: subscripts {subscripts!r} name {len(terms)} operand(s), got {len(shapes)}")
    fresh = "".join(c for c in string.ascii_letters if c not in subscripts)
    terms, ell = _expand(terms, shapes, fresh)
    if not arrow:  # NumPy's implicit mode: broadcast axes, then the letters used once, in ASCII order
        counts = Counter(lhs.replace("...", "").replace(",", ""))
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1))
    elif "..." in out:
        out = out.replace("...", ell)
    elif any(c not in out for c in ell):
        raise ShapeError("einsum: the operands have axes under '...' but the output has no '...'")
    letters = set("".join(terms))
    for c in out:
        if c not in letters or out.count(c) > 1:
            raise ShapeError(f"einsum: output index '{c}' must appear once in the output and in some operand")
    return terms, out, _sizes(terms, shapes)


def _einsum(subscripts: str, *operands: Any) -> Any:
    return np.einsum(subscripts, *operands, optimize=len(operands) > 2)


contract = dispatched(_einsum)  # np.einsum with the greedy path; a Tensor routes it to the einsum op


def _forward(*operands: Any, subscripts: str) -> Any:
    return _einsum(subscripts, *operands)


def _shape(*shapes: Shape, subscripts: str) -> Shape:
    _, out, sizes = plan(subscripts, shapes)
    return tuple(sizes[c] for c in out)


# One multiply-add of NumPy's einsum loops (0.4-1 ns), which einsum_path counts as about two FLOPs.
EINSUM_FLOP = ELEMENT_FLOPS // 4


@functools.lru_cache(maxsize=4096)
def path_cost(terms: tuple[str, ...], out: str, sizes: tuple[tuple[str, int], ...]) -> tuple[int, int]:
    """FLOPs and largest intermediate (elements) of the contraction ``contract`` runs for these terms.

    The path is NumPy's own (``np.einsum_path``, greedy, as ``optimize=True`` runs it), found on
    zero-stride views so nothing proportional to the shapes is allocated; its steps are then priced
    exactly, with Python ints. Finding the path is itself priced: ~n**3 Python steps for n operands.
    """
    size = dict(sizes)
    views = [np.broadcast_to(np.empty(()), [size[c] for c in t]) for t in terms]
    subscripts = ",".join(terms) + "->" + out
    path = np.einsum_path(subscripts, *views, optimize=len(terms) > 2)[0][1:]
    live, flops, biggest = list(terms), 0, 0
    for step in path:
        picked = [live[k] for k in step]
        live = [t for k, t in enumerate(live) if k not in step]
        rest = set(out).union(*live)
        letters = set("".join(picked))
        result = "".join(sorted(c for c in letters if c in rest))
        flops += math.prod(size[c] for c in letters) * (max(1, len(picked) - 1) + (letters != set(result)))
        biggest = max(biggest, math.prod(size[c] for c in result))
        live.append(result)
    return EINSUM_FLOP * flops + PYTHON_STEP_FLOPS * len(terms) ** 3 * (len(terms) > 2), biggest


def _vjp_terms(i: int, terms: list[str], out: str) -> tuple[tuple[str, ...], str]:
    """The operands' terms and output of the einsum that operand ``i``'s VJP runs."""
    term, others = terms[i], [t for j, t in enumerate(terms) if j != i]
    present = set(out).union(*others)
    kept = "".join(c for c in dict.fromkeys(term) if c in present)
    return (out, *others), kept


def _cost(out: Shape, *shapes: Shape, subscripts: str) -> int:
    terms, outs, sizes = plan(subscripts, shapes)
    return max(1, path_cost(tuple(terms), outs, tuple(sorted(sizes.items())))[0])


def _vjp_cost(out: Shape, *shapes: Shape, subscripts: str) -> int:
    """Each operand's VJP einsum on its own path, plus a few full-size passes over the operand."""
    terms, outs, sizes = plan(subscripts, shapes)
    key = tuple(sorted(sizes.items()))
    total = 0
    for i, shape in enumerate(shapes):
        vjp_terms, kept = _vjp_terms(i, terms, outs)
        total += path_cost(vjp_terms, kept, key)[0] + 3 * ELEMENT_FLOPS * size_of(shape)
    return total


def _temporaries(out: Shape, *shapes: Shape, subscripts: str) -> int:
    """The largest intermediate of any path, plus four operand-sized arrays: the VJP's result and its
    broadcast, and the transposed copies NumPy's tensordot makes of a pair it hands to BLAS."""
    terms, outs, sizes = plan(subscripts, shapes)
    key = tuple(sorted(sizes.items()))
    paths = [path_cost(tuple(terms), outs, key)] + [path_cost(*_vjp_terms(i, terms, outs), key)
                                                     for i in range(len(terms))]
    return max(biggest for _, biggest in paths) + 4 * max(size_of(s) for s in (out, *shapes))


def _diagonal(r: Any, term: str, unique: str, own: dict[str, int]) -> Any:
    """Put ``r`` (one axis per distinct letter) on the diagonal of a term that repeats letters."""
    spare = iter(c for c in string.ascii_letters if c not in unique)
    seen: set[str] = set()
    target, eyes, eye_terms = "", [], []
    for c in term:
        if c in seen:
            f = next(spare)
            target += f
            eye_terms.append(c + f)
            eyes.append(np.eye(own[c], dtype=bool))
        else:
            seen.add(c)
            target += c
    return np.einsum(",".join([unique, *eye_terms]) + "->" + target, r, *eyes)


def _vjp(i: int) -> VJP:
    def vjp(g: Any, ans: Any, *operands: Any, subscripts: str) -> Any:
        shapes = [shape_of(x) for x in operands]
        terms, out, sizes = plan(subscripts, shapes)
        term, others = terms[i], [x for j, x in enumerate(operands) if j != i]
        unique = "".join(dict.fromkeys(term))
        vjp_terms, kept = _vjp_terms(i, terms, out)
        present = set(out).union(*vjp_terms[1:])
        r = contract(",".join(vjp_terms) + "->" + kept, g, *others)
        missing = tuple(k for k, c in enumerate(unique) if c not in present)
        if missing:
            r = np.expand_dims(r, axis=missing)
        full = tuple(sizes[c] for c in unique)
        if shape_of(r) != full:
            r = np.broadcast_to(r, full)
        own = {c: shapes[i][term.index(c)] for c in unique}
        squash = tuple(k for k, c in enumerate(unique) if own[c] == 1 and sizes[c] != 1)
        if squash:
            r = np.sum(r, axis=squash, keepdims=True)
        return _diagonal(r, term, unique, own) if len(unique) != len(term) else r

    return vjp


defop("einsum", _forward, shape=_shape, cost=_cost, attrs=(subscripts_attr(),), arity=(1, None),
      variadic_vjp=_vjp, numpy=(np.einsum, contract), vjp_cost=_vjp_cost, temporaries=_temporaries,
      doc="Einstein summation (NumPy's subscripts, '...' included); multilinear, so smooth everywhere")
