"""Jobs and results across the process boundary: a JSON header, array bytes through shared memory.

``send`` writes a message of plain JSON values and NumPy arrays: each array
becomes ``{"$a": i}`` in an orjson header and its bytes are copied once into
a shared-memory region the other side has mapped, so the reader's arrays are
views of the region, not copies. Arrays too large for the region go through
the pipe after the header. Nothing is pickled: a worker that evaluated
hostile input can hand the server only JSON and floating-point bytes. The
reader must drop its views before the writer reuses the region, which the
pool's one-job-at-a-time protocol guarantees.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import orjson

__all__ = ["REGION_BYTES", "Pipe", "receive", "send"]

REGION_BYTES = 32 << 20  # per direction per worker: a 1e6-element array and its gradient fit with room
_ALIGN = 64
_DTYPES = frozenset(("<f8", "<f4"))  # all the engine computes in


class Pipe(Protocol):
    """The part of ``multiprocessing.connection.Connection`` used here."""

    def send_bytes(self, buf: Any) -> None: ...
    def recv_bytes(self) -> bytes: ...


def send(conn: Pipe, obj: Any, region: memoryview) -> None:
    """Write ``obj`` (JSON values and arrays) to ``conn``; array bytes into ``region`` when they all fit."""
    arrays: list[np.ndarray] = []
    tree = _flatten(obj, arrays)
    metas = [(a.dtype.str, a.shape) for a in arrays]
    starts = _layout([a.nbytes for a in arrays], len(region))
    if starts is not None:  # the bytes first: the header tells the reader they are there
        for a, start in zip(arrays, starts, strict=True):
            np.frombuffer(region, np.uint8, a.nbytes, start)[:] = a.reshape(-1).view(np.uint8)
    conn.send_bytes(orjson.dumps([tree, metas, starts]))
    if starts is None:
        for a in arrays:
            conn.send_bytes(a.reshape(-1).view(np.uint8))


def receive(conn: Pipe, region: memoryview) -> Any:
    """The object ``send`` wrote; its arrays are read-only views of ``region`` (or of the pipe's bytes)."""
    tree, metas, starts = orjson.loads(conn.recv_bytes())
    arrays = []
    for i, (dtype, shape) in enumerate(metas):
        if dtype not in _DTYPES:
            raise ValueError(f"unexpected dtype {dtype!r} across the process boundary")
        count = int(np.prod(shape, dtype=np.int64))
        if starts is None:
            a = np.frombuffer(conn.recv_bytes(), dtype, count)
        else:
            a = np.frombuffer(region, dtype, count, starts[i])
            a.flags.writeable = False
        arrays.append(a.reshape(tuple(shape)))
    return _unflatten(tree, arrays)


def _flatten(obj: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(obj, np.ndarray):
        arrays.append(obj if obj.flags.c_contiguous else obj.copy())  # (ascontiguousarray makes 0-d 1-d)
        return {"$a": len(arrays) - 1}
    if isinstance(obj, list | tuple):
        return [_flatten(x, arrays) for x in obj]
    if isinstance(obj, np.generic):
        return _flatten(np.asarray(obj), arrays)
    return obj  # None, numbers, strings: JSON as they are


def _unflatten(tree: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(tree, dict):
        return arrays[tree["$a"]]
    if isinstance(tree, list):
        return [_unflatten(x, arrays) for x in tree]
    return tree


def _layout(sizes: list[int], capacity: int) -> list[int] | None:
    """Aligned start offsets of the arrays in the region, or None when they do not all fit."""
    starts, at = [], 0
    for size in sizes:
        starts.append(at)
        at += -(-size // _ALIGN) * _ALIGN
    return starts if at <= capacity else None
