"""Linear algebra: matmul dot transpose trace and linalg.inv linalg.det linalg.solve linalg.norm.

Batched ops follow NumPy: the last two axes are the matrix, leading axes
broadcast. ``dot``'s VJPs are einsums, ``matmul``'s are matmuls, so the
backward pass stays inside the op set.
"""

from __future__ import annotations

import math
import string
from typing import Any

import numpy as np

from engine.attrs import axes_attr, bool_attr, int_attr, ints_attr, ord_attr
from engine.costs import ELEMENT_FLOPS, PYTHON_STEP_FLOPS, input_passes, view
from engine.errors import ShapeError
from engine.ops.reductions import cast_like, expand_reduced
from engine.registry import defop, shape_of, size_of, unbroadcast
from engine.shapes import Shape, broadcast, matmul, normalize_axis, reduce, transpose


def _rank(x: Any) -> int:
    return len(shape_of(x))


def swap_last(x: Any) -> Any:
    """Transpose of the last two axes (the matrix transpose of a batch of matrices)."""
    r = _rank(x)
    return np.transpose(x, axes=(*range(r - 2), r - 1, r - 2))


def _matmul_da(g: Any, ans: Any, a: Any, b: Any) -> Any:
    g = np.expand_dims(g, axis=-1) if _rank(b) == 1 else g
    g = np.expand_dims(g, axis=-2) if _rank(a) == 1 else g
    da = g @ swap_last(np.expand_dims(b, axis=-1) if _rank(b) == 1 else b)
    return unbroadcast(np.squeeze(da, axis=-2) if _rank(a) == 1 else da, a)


def _matmul_db(g: Any, ans: Any, a: Any, b: Any) -> Any:
    g = np.expand_dims(g, axis=-1) if _rank(b) == 1 else g
    g = np.expand_dims(g, axis=-2) if _rank(a) == 1 else g
    db = swap_last(np.expand_dims(a, axis=0) if _rank(a) == 1 else a) @ g
    return unbroadcast(np.squeeze(db, axis=-1) if _rank(b) == 1 else db, b)


def _matmul_cost(out: Shape, a: Shape, b: Shape, **_: Any) -> int:
    # BLAS FLOPs, but never less than a pass over the operands (batches of tiny matrices are memory-bound).
    return max(2 * size_of(out) * a[-1], ELEMENT_FLOPS * (size_of(out) + size_of(a) + size_of(b)))


def _dot_terms(a: Shape, b: Shape) -> tuple[str, str, str]:
    """einsum subscripts equal to np.dot on operands of these (non-scalar) shapes."""
    letters = string.ascii_letters
    if len(a) + len(b) > len(letters):
        raise ShapeError(f"dot of shapes {list(a)} and {list(b)} has too many axes; use einsum")
    ta = letters[: len(a) - 1] + "Z"
    if len(b) == 1:
        return ta, "Z", ta[:-1]
    tb = letters[len(a) - 1: len(a) + len(b) - 3] + "Z" + "Y"
    return ta, tb, ta[:-1] + tb[:-2] + "Y"


def _dot_shape(a: Shape, b: Shape, **_: Any) -> Shape:
    if not a or not b:
        return broadcast(a, b)
    inner = b[0] if len(b) == 1 else b[-2]
    if a[-1] != inner:
        raise ShapeError(
            f"dot: shapes {list(a)} and {list(b)} are not aligned: the last axis of the first ({a[-1]}) "
            f"must equal the {'only' if len(b) == 1 else 'second-to-last'} axis of the second ({inner})"
        )
    return a[:-1] + b[:-2] + b[-1:] * (len(b) > 1)


def _dot_vjp(i: int) -> Any:
    def vjp(g: Any, ans: Any, a: Any, b: Any) -> Any:
        if not _rank(a) or not _rank(b):  # np.dot with a scalar is multiply
            return unbroadcast(g * b, a) if i == 0 else unbroadcast(g * a, b)
        ta, tb, to = _dot_terms(shape_of(a), shape_of(b))
        return np.einsum(f"{to},{tb}->{ta}", g, b) if i == 0 else np.einsum(f"{ta},{to}->{tb}", a, g)

    return vjp


def _dot_cost(out: Shape, a: Shape, b: Shape, **_: Any) -> int:
    return max(2 * size_of(out) * (a[-1] if a and b else 1), ELEMENT_FLOPS * (size_of(out) + size_of(a) + size_of(b)))


def _dot_vjp_cost(out: Shape, a: Shape, b: Shape, **_: Any) -> int:
    # Its VJPs are two-operand einsums: NumPy's C loops (~0.4 ns per multiply-add), not BLAS (~0.02 ns).
    return 16 * _dot_cost(out, a, b)


def _transpose_vjp(g: Any, ans: Any, x: Any, axes: tuple[int, ...] | None = None) -> Any:
    if axes is None:
        return np.transpose(g)
    r = _rank(x)
    return np.transpose(g, axes=tuple(int(k) for k in np.argsort([normalize_axis(a, r) for a in axes])))


def _trace_axes(x: Shape, axis1: int, axis2: int) -> tuple[int, int]:
    if len(x) < 2:
        raise ShapeError(f"trace needs an array of rank >= 2, got shape {list(x)}")
    a1, a2 = normalize_axis(axis1, len(x)), normalize_axis(axis2, len(x))
    if a1 == a2:
        raise ShapeError(f"trace: axis1 and axis2 must differ, both are {a1}")
    return a1, a2


def _trace_shape(x: Shape, *, offset: int = 0, axis1: int = 0, axis2: int = 1, **_: Any) -> Shape:
    a1, a2 = _trace_axes(x, axis1, axis2)
    return tuple(n for k, n in enumerate(x) if k not in (a1, a2))


def _trace_vjp(g: Any, ans: Any, x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    shape = shape_of(x)
    a1, a2 = _trace_axes(shape, axis1, axis2)
    mask = np.eye(shape[a1], shape[a2], k=offset, dtype=bool)  # a constant: where the diagonal lies
    mask = mask if a1 < a2 else mask.T
    mask = mask.reshape([n if k in (a1, a2) else 1 for k, n in enumerate(shape)])
    return np.where(mask, np.expand_dims(g, axis=(min(a1, a2), max(a1, a2))), 0)


def _square(x: Shape, what: str) -> int:
    if len(x) < 2 or x[-1] != x[-2]:
        raise ShapeError(f"{what} needs square matrices in the last two axes, got shape {list(x)}")
    return x[-1]


# LAPACK's inv/det/solve measured 0.2-3.4 ns per n**3 (n = 8..256) and ~0.2-0.5 us per matrix of a batch.
CUBIC_FLOPS = 8
LAPACK_CALL_FLOPS = 4 * PYTHON_STEP_FLOPS


def _cubic_cost(out: Shape, x: Shape, *rest: Shape, **_: Any) -> int:
    n = x[-1]
    return (size_of(x[:-2]) * (CUBIC_FLOPS * n**3 + LAPACK_CALL_FLOPS)
            + CUBIC_FLOPS * sum(size_of(r) * n for r in rest))


def _solve_shape(a: Shape, b: Shape, **_: Any) -> Shape:
    m = _square(a, "linalg.solve")
    # NumPy >= 2: b is one vector only when 1-D; otherwise a stack of (M, K) matrices.
    if len(b) == 1:
        if b[0] != m:
            raise ShapeError(f"linalg.solve: a has shape {list(a)} but b has {b[0]} rows, not {m}")
        return a[:-1]
    if len(b) < 2 or b[-2] != m:
        raise ShapeError(f"linalg.solve: b of shape {list(b)} must have {m} rows in its second-to-last axis")
    return broadcast(a[:-2], b[:-2]) + b[-2:]


def _solve_db(g: Any, ans: Any, a: Any, b: Any) -> Any:
    g = np.expand_dims(g, axis=-1) if _rank(b) == 1 else g
    db = np.linalg.solve(swap_last(a), g)
    return unbroadcast(np.squeeze(db, axis=-1) if _rank(b) == 1 else db, b)


def _solve_da(g: Any, ans: Any, a: Any, b: Any) -> Any:
    vector = _rank(b) == 1
    db = np.linalg.solve(swap_last(a), np.expand_dims(g, axis=-1) if vector else g)
    x = np.expand_dims(ans, axis=-1) if vector else ans
    return unbroadcast(-(db @ swap_last(x)), a)


_MATRIX_ORDS = (None, "fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf)
_PICKING = (2, -2, 1, -1, math.inf, -math.inf)  # orders that take a max or a min (not of an empty axis)


def _norm_axes(x: Shape, ord: Any, axis: Any) -> tuple[tuple[int, ...], bool]:
    """NumPy's reading of (ord, axis): the axes reduced, in the order given, and whether it is a matrix norm."""
    if axis is None and ord is None:
        return tuple(range(len(x))), False  # the 2-norm of the flattened array, any rank
    axes = tuple(range(len(x))) if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
    if len(axes) not in (1, 2):
        raise ShapeError(f"linalg.norm: a norm is over 1 axis (vector) or 2 (matrix), not {len(axes)} of {list(x)}")
    out = tuple(normalize_axis(a, len(x)) for a in axes)
    if len(set(out)) != len(out):
        raise ShapeError(f"linalg.norm: the two axes of a matrix norm must differ, got {list(axes)}")
    return out, len(out) == 2


def _norm_shape(x: Shape, *, ord: Any = None, axis: Any = None, keepdims: bool = False, **_: Any) -> Shape:
    axes, matrix = _norm_axes(x, ord, axis)
    if isinstance(ord, str) and not matrix:
        raise ShapeError(f"linalg.norm: ord={ord!r} is a matrix norm and needs exactly two axes")
    if matrix and ord not in _MATRIX_ORDS:
        raise ShapeError(f"linalg.norm: ord={ord} is not a matrix norm (null, 'fro', 'nuc', 2, -2, 1, -1, 'inf', "
                         "'-inf'); give one axis for a vector p-norm")
    if ord in _PICKING and (matrix or ord not in (1, -1, 2, -2)) and any(x[a] == 0 for a in axes):
        raise ShapeError(f"linalg.norm: ord={ord} takes a max or min over axes {list(axes)} of {list(x)}: one is empty")
    return reduce(x, axis=axes, keepdims=keepdims)


def _norm_vjp(g: Any, ans: Any, x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    axes, matrix = _norm_axes(shape_of(x), ord, axis)
    g, a = expand_reduced(g, x, axes, keepdims), expand_reduced(ans, x, axes, keepdims)
    if ord is None or ord == "fro" or (ord == 2 and not matrix):
        return g * x / a  # x / norm, NaN at 0 (0/0, as TensorFlow's tf.norm)
    if ord == 0:  # a count
        return _zero_like(x)
    if ord == 1 and not matrix:
        return g * np.sign(x)
    if not matrix:
        if math.isinf(ord):  # max/min |x|: ties share the gradient equally (TensorFlow's reduce_max)
            hit = cast_like(np.absolute(x) == a, x)
            return g * np.sign(x) * hit / np.sum(hit, axis=axes, keepdims=True)
        return g * np.sign(x) * (np.absolute(x) / a) ** (ord - 1)  # NaN at 0 for p < 1 (TensorFlow)
    if ord in (1, -1, math.inf, -math.inf):  # max/min over one axis of abs sums over the other
        summed, picked = axes if ord in (1, -1) else axes[::-1]
        sums = np.sum(np.absolute(x), axis=summed, keepdims=True)
        hit = cast_like(sums == (np.max if ord > 0 else np.min)(sums, axis=picked, keepdims=True), x)
        return g * np.sign(x) * hit / np.sum(hit, axis=picked, keepdims=True)
    return g * _singular_grad(x, ord, axes)


def _zero_like(x: Any) -> Any:
    """A zero gradient of x's shape and dtype, built from x so that a recorded backward pass stays on the tape."""
    return np.where(False, x, 0)


def _singular_grad(x: Any, ord: Any, axes: tuple[int, ...]) -> Any:
    """d/dx of the nuclear norm (U Vh) or of the largest/smallest singular value (u vᵀ; ties share equally)."""
    rank = _rank(x)
    perm = [k for k in range(rank) if k not in axes] + list(axes)
    u, s, vh = np.linalg.svd(np.transpose(x, axes=perm), full_matrices=False)
    if ord == "nuc":
        grad = u @ vh
    else:
        hit = cast_like(s == (np.max if ord > 0 else np.min)(s, axis=-1, keepdims=True), s)
        grad = (u * np.expand_dims(hit / np.sum(hit, axis=-1, keepdims=True), axis=-2)) @ vh
    return np.transpose(grad, axes=tuple(perm.index(k) for k in range(rank)))


def _norm_cost(out: Shape, x: Shape, *, ord: Any = None, axis: Any = None, **_: Any) -> int:
    axes, matrix = _norm_axes(x, ord, axis)
    if matrix and ord in (2, -2, "nuc"):  # an SVD per matrix
        m, n = x[axes[0]], x[axes[1]]
        return CUBIC_FLOPS * size_of(x) * min(m, n)
    return 2 * ELEMENT_FLOPS * size_of(x)


defop("matmul", np.matmul, (_matmul_da, _matmul_db), shape=matmul,
      cost=_matmul_cost, numpy=(np.matmul,), operators=("matmul",),
      doc="matrix product with NumPy's 1-D and batch rules; bilinear, so smooth everywhere")
defop("dot", np.dot, (_dot_vjp(0), _dot_vjp(1)), shape=_dot_shape, cost=_dot_cost, vjp_cost=_dot_vjp_cost,
      numpy=(np.dot,), methods=("dot",),
      doc="np.dot (sum over the last axis of x and the second-to-last of y); bilinear, smooth")
defop("transpose", np.transpose, (_transpose_vjp,), shape=transpose,
      attrs=(ints_attr("axes", None, optional=True, doc="a permutation of the axes; null reverses them"),),
      numpy=(np.transpose,), methods=("transpose",), cost=view, vjp_cost=view, temporaries=0, pack_args=True,
      doc="permute axes (null: reverse); linear")
defop("trace", np.trace, (_trace_vjp,), shape=_trace_shape,
      attrs=(int_attr("offset", 0, doc="diagonal offset: > 0 above the main diagonal, < 0 below"),
             int_attr("axis1", 0, doc="first axis of the matrices"), int_attr("axis2", 1, doc="second axis")),
      numpy=(np.trace,),
      cost=input_passes(1), vjp_cost=input_passes(5), doc="sum of a diagonal (NumPy's offset/axis1/axis2); linear")
defop("linalg.inv", np.linalg.inv,
      (lambda g, ans, x: -(swap_last(ans) @ g @ swap_last(ans)),),
      shape=lambda x, **_: (_square(x, "linalg.inv"), x)[1], cost=_cubic_cost, numpy=(np.linalg.inv,),
      doc="matrix inverse; singular matrices are an error, as in NumPy and TensorFlow")
defop("linalg.det", np.linalg.det,
      (lambda g, ans, x: np.expand_dims(g * ans, axis=(-2, -1)) * swap_last(np.linalg.inv(x)),),
      shape=lambda x, **_: (_square(x, "linalg.det"), x[:-2])[1], cost=_cubic_cost, numpy=(np.linalg.det,),
      doc="determinant; gradient det * inv(x).T, so a singular matrix is an error (TensorFlow)")
defop("linalg.solve", np.linalg.solve, (_solve_da, _solve_db), shape=_solve_shape, cost=_cubic_cost,
      numpy=(np.linalg.solve,),
      doc="x with a @ x = b (b 1-D: a vector, else stacked matrices); smooth where a is regular")
defop("linalg.norm", np.linalg.norm, (_norm_vjp,), shape=_norm_shape,
      attrs=(ord_attr(), axes_attr("axis", doc="null (all), one axis (vector norm) or two (matrix norm)"),
             bool_attr("keepdims", False, doc="keep reduced axes with size 1")),
      cost=_norm_cost, numpy=(np.linalg.norm,),
      doc="NumPy's vector/matrix norms; 2/'fro': x/norm, NaN at 0 (TF); 1: sign(x), 0 at 0; max/min orders "
          "(inf, matrix 1, 2, ...) split ties equally (TF reduce_max); 'nuc': U Vh; 0 (a count): zero")
