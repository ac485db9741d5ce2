"""Kernel helpers, compiled by numba: NumPy's pairwise summation, so a fused reduction rounds as ``np.sum`` does.

Imported only by generated kernels (so only when numba is installed).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

__all__ = ["pairwise"]

_BLOCK = 128  # NumPy's PW_BLOCKSIZE


@numba.njit(nogil=True, cache=True)
def _leaf(a: Any, lo: int, n: int, zero: Any) -> Any:
    """A range NumPy does not split (n <= 128): eight accumulators, or a plain loop below eight."""
    if n < 8:
        res = zero
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - n % 8:
        k = lo + i
        r0 += a[k]
        r1 += a[k + 1]
        r2 += a[k + 2]
        r3 += a[k + 3]
        r4 += a[k + 4]
        r5 += a[k + 5]
        r6 += a[k + 6]
        r7 += a[k + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@numba.njit(nogil=True, cache=True)
def pairwise(a: Any, lo: int, n: int, zero: Any) -> Any:
    """``_pairwise_sum`` of numpy/_core/src/umath/loops_utils.h over ``a[lo:lo+n]``, in a's dtype.

    The recursion (halves rounded to multiples of 8 until 128 or fewer) runs on an explicit stack: numba
    cannot link a self-recursive function into a parallel kernel.
    """
    if n <= _BLOCK:
        return _leaf(a, lo, n, zero)
    los = np.empty(64, np.int64)
    ns = np.empty(64, np.int64)
    state = np.zeros(64, np.int64)
    vals = np.empty(64, a.dtype)
    top, nv = 0, 0
    los[0], ns[0] = lo, n
    while top >= 0:
        m = ns[top]
        half = m // 2
        half -= half % 8
        if m <= _BLOCK:
            vals[nv] = _leaf(a, los[top], m, zero)
            nv += 1
            top -= 1
        elif state[top] == 0:
            state[top] = 1
            los[top + 1], ns[top + 1], state[top + 1] = los[top], half, 0
            top += 1
        elif state[top] == 1:
            state[top] = 2
            los[top + 1], ns[top + 1], state[top + 1] = los[top] + half, m - half, 0
            top += 1
        else:
            vals[nv - 2] = vals[nv - 2] + vals[nv - 1]
            nv -= 1
            top -= 1
    return vals[0]
