"""The evaluation worker process: a loop that evaluates jobs under an address-space limit.

A worker is forked from the forkserver (``app.pool``), caps its own address
space at what it had after start-up plus ``VALGRAD_EVAL_MEMORY_BYTES``
(``RLIMIT_AS``: an allocation past it raises ``MemoryError`` inside NumPy
instead of growing the machine), and then answers one job at a time. Graphs
arrive as canonical JSON the first time a worker sees their id and are kept
in an LRU with the same bounds the pool mirrors, so a function crosses the
process boundary once per worker. A job that runs past its deadline is not
this module's concern: the pool kills the whole process.

A worker checks nothing its server already checked: graphs are rebuilt from
their canonical form without validation (``engine.load_checked``) and jobs
run with ``app.kinds.run``, which calls the engine's ``*_checked`` entry
points. The server is the one boundary where a request is validated.
"""

from __future__ import annotations

import dataclasses
import logging
import resource
import sys
from collections import OrderedDict
from typing import Any

import numpy as np
import orjson

from app import kinds
from app.allocator import tune_allocator
from app.transfer import Pipe, receive, send
from engine import EngineError, Graph, Limits, compiled, load_checked

__all__ = ["GRAPHS_HELD", "LRUMirror", "serve"]

GRAPHS_HELD = 256  # parsed graphs kept per worker (the pool mirrors this bound to know what a worker holds)
log = logging.getLogger("valgrad.worker")


class LRUMirror:
    """An LRU of ids bounded by count; the pool and the worker apply the same operations in the same order."""

    def __init__(self, size: int = GRAPHS_HELD) -> None:
        self.size = size
        self.ids: OrderedDict[str, Any] = OrderedDict()

    def get(self, key: str) -> Any:
        value = self.ids.get(key)
        if value is not None:
            self.ids.move_to_end(key)
        return value

    def put(self, key: str, value: Any) -> None:
        self.ids[key] = value
        self.ids.move_to_end(key)
        while len(self.ids) > self.size:
            self.ids.popitem(last=False)


def _vm_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))


def limit_memory(extra: int) -> None:
    """Cap this process's address space at its size now plus ``extra`` bytes (Linux; a no-op elsewhere)."""
    if extra <= 0 or not sys.platform.startswith("linux"):
        return
    cap = _vm_bytes() + extra
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def serve(conn: Pipe, inbox: memoryview, outbox: memoryview, limits: Limits, memory_bytes: int,
          tier: compiled.Settings) -> None:
    """Answer jobs from ``conn`` until it closes: ``["ok", results, counters]`` or ``["error", ...]``.

    A job is ``[function_id, canonical or None, kind, *payload]``; ``app.kinds`` says what each kind computes.
    """
    tune_allocator()
    compiled.configure(**dataclasses.asdict(tier))  # hot plans compile here, off the server's event loop
    np.add(np.ones(4), 1.0)  # touch NumPy's lazy state before the limit counts the baseline
    limit_memory(memory_bytes)
    graphs = LRUMirror()
    conn.send_bytes(b"ready")
    while True:
        try:
            job = receive(conn, inbox)
        except (EOFError, OSError):
            return
        answer = _answer(job, graphs, limits)
        del job
        send(conn, answer, outbox)
        del answer


def _answer(job: list[Any], graphs: LRUMirror, limits: Limits) -> list[Any]:
    function_id, canonical, kind, *payload = job
    try:
        graph: Graph | None = graphs.get(function_id)
        if graph is None:
            if canonical is None:
                return ["need_graph"]
            graph = load_checked(orjson.loads(canonical), canonical.encode(), function_id, limits=limits)
            graphs.put(function_id, graph)
        results = kinds.run(kind, graph, payload)
        return ["ok", results, sorted(compiled.counters().items())]  # pairs: the header is JSON
    except EngineError as e:
        return ["error", e.code, e.message, e.pointer]
    except np.linalg.LinAlgError as e:
        return ["error", "linalg_error", f"linear algebra failed on the arguments: {e}", None]
    except MemoryError:
        return ["error", "out_of_memory", "", None]
    except Exception:  # a bug: logged here with its traceback, reported to the server as internal
        log.exception("evaluation failed in a worker process")
        return ["error", "internal_error", "", None]
