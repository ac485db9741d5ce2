"""Worker processes for evaluations: a hard deadline and a memory cap that hold when estimates are wrong.

Python threads cannot be stopped inside a NumPy call, so every evaluation
that is not tiny runs in a worker process (``app.worker``) that can be: the
calling thread waits at most ``VALGRAD_EVAL_TIMEOUT_SECONDS`` for the answer,
then kills the process (SIGKILL frees its memory at once) and the client gets
``deadline_exceeded``; the next evaluation starts a fresh worker. Each worker
limits its own address space (``RLIMIT_AS``), so an allocation past
``VALGRAD_EVAL_MEMORY_BYTES`` fails inside NumPy and the client gets
``out_of_memory``; a worker that dies anyway (the kernel's OOM killer) is
reported the same way and replaced. This is the design of gunicorn's worker
timeout, written out in ~150 lines because the libraries measured do either
more or less: ``pebble`` kills per task but pickles every job through a
pipe, ``loky`` reuses workers but cannot kill one task's worker.

Workers are forked from a forkserver that has imported NumPy and the
engine, so a replacement costs milliseconds, not an interpreter start, and
are started lazily (an app that only serves tiny evaluations starts none).
Arrays cross through two shared-memory regions per worker
(``app.transfer``), and a function's canonical JSON crosses once per worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from multiprocessing import get_context
from multiprocessing.shared_memory import SharedMemory
from typing import Any, TypeVar

from app import worker
from app.errors import ServiceError
from app.metrics import Metrics
from app.transfer import REGION_BYTES, Pipe, receive, send
from engine import Graph, Limits, compiled

__all__ = ["EvalPool"]

T = TypeVar("T")
STARTUP_SECONDS = 60.0
log = logging.getLogger("valgrad.pool")
_CONTEXT = get_context("forkserver")
_CONTEXT.set_forkserver_preload(["app.pool"])


def _worker_main(conn: Pipe, inbox: str, outbox: str, limits: Limits, memory_bytes: int,
                 tier: compiled.Settings) -> None:
    """The worker process's entry point: map the two regions, then serve jobs."""
    # Mapping them registers them again with the server's resource tracker, which holds a set: no double count.
    regions = [SharedMemory(name) for name in (inbox, outbox)]
    worker.serve(conn, _view(regions[0]), _view(regions[1]), limits, memory_bytes, tier)


def _view(region: SharedMemory) -> memoryview:
    view = region.buf
    assert view is not None  # None only after close()
    return view


class Worker:
    """One worker process, its pipe, its two regions, and the ids of the graphs it holds."""

    def __init__(self, limits: Limits, memory_bytes: int, tier: compiled.Settings) -> None:
        self.inbox = SharedMemory(create=True, size=REGION_BYTES)
        self.outbox = SharedMemory(create=True, size=REGION_BYTES)
        self.conn, child = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(target=_worker_main, daemon=True, name="valgrad-eval",
                                        args=(child, self.inbox.name, self.outbox.name, limits, memory_bytes, tier))
        try:
            self.process.start()
        except BaseException:
            self._unlink()
            raise
        finally:
            child.close()
        self.graphs = worker.LRUMirror()
        if not self.conn.poll(STARTUP_SECONDS) or self.conn.recv_bytes() != b"ready":  # before any deadline runs
            self.close(kill=True)
            raise RuntimeError(f"an evaluation worker did not start within {STARTUP_SECONDS} s")

    def submit(self, graph: Graph, kind: str, job: list[Any]) -> None:
        """Send a job about ``graph``, with its canonical JSON if this worker may not hold it."""
        canonical = None
        if self.graphs.get(graph.id) is None:
            canonical = graph.canonical.decode()
            self.graphs.put(graph.id, True)
        send(self.conn, [graph.id, canonical, kind, *job], _view(self.inbox))

    def close(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        self.conn.close()  # a live worker sees EOF and returns
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._unlink()

    def _unlink(self) -> None:
        self.conn.close()
        for region in (self.inbox, self.outbox):
            region.close()
            region.unlink()


class EvalPool:
    """At most ``size`` workers, started on demand; ``evaluate`` runs one job under the deadline."""

    def __init__(self, size: int, timeout: float, memory_bytes: int, limits: Limits, metrics: Metrics,
                 tier: compiled.Settings | None = None) -> None:
        self.size, self.timeout, self.memory_bytes, self.limits = size, timeout, memory_bytes, limits
        self.tier = tier or compiled.Settings()
        self.compiled: dict[int, dict[str, float]] = {}  # the compiled tier's counters, per worker process
        self.metrics = metrics
        self._idle: list[Worker] = []
        self._live = 0
        self._closed = False
        self._cond = threading.Condition()

    def evaluate(self, graph: Graph, job: list[Any], finish: Callable[..., T], kind: str = "gradients") -> T:
        """``finish(*results)`` of a job run in a worker, within the deadline: for the default kind the job is
        (args, positions, dy, zeros) and the results (value, grads); ``app.kinds`` lists the others.

        ``finish`` runs before the worker is released: the arrays it gets are views of the worker's region.
        """
        w = self._acquire()
        reuse = False
        try:
            answer = self._exchange(w, graph, kind, job)
            if answer[0] == "ok":
                self._count_compiled(w, dict(answer[2]))
                out = finish(*answer[1])
                reuse = True
                return out
            reuse = answer[1] != "out_of_memory"  # a worker that hit its cap starts afresh
            raise self._error(answer)
        finally:
            answer = None
            self._release(w) if reuse else self._discard(w)

    def _count_compiled(self, w: Worker, counters: dict[str, float]) -> None:
        """Each worker's compiled tier reports its counters with every answer; /metrics shows their sum."""
        with self._cond:
            self.compiled[w.process.pid or 0] = counters
            totals: dict[str, float] = {}
            for per_worker in self.compiled.values():
                for name, value in per_worker.items():
                    totals[name] = totals.get(name, 0.0) + value
        for name, value in totals.items():
            self.metrics.compiled.labels(name).set(value)

    def _exchange(self, w: Worker, graph: Graph, kind: str, job: list[Any]) -> Any:
        deadline = time.monotonic() + self.timeout
        try:
            w.submit(graph, kind, job)
            answer = self._wait(w, deadline)
            if answer[0] == "need_graph":  # it lost the graph (a failed load): send it again
                w.graphs.ids.pop(graph.id, None)
                w.submit(graph, kind, job)
                answer = self._wait(w, deadline)
        except (EOFError, OSError, ValueError) as e:
            raise self._died(w) from e
        return answer

    def _error(self, answer: list[Any]) -> Exception:
        _, code, message, pointer = answer
        if code == "out_of_memory":
            self.metrics.worker_ended("memory")
            return ServiceError(f"the evaluation needed more memory than the {self.memory_bytes} bytes one "
                                "evaluation may use (VALGRAD_EVAL_MEMORY_BYTES); send smaller tensors or a "
                                "smaller function", code="out_of_memory")
        if code == "internal_error":
            return RuntimeError("an evaluation failed in a worker process (its traceback is in the server log)")
        if pointer and pointer.startswith(("/nodes", "/inputs", "/outputs")):
            pointer = "/function" + pointer
        return ServiceError(message, pointer, code=code)

    def _wait(self, w: Worker, deadline: float) -> Any:
        if not w.conn.poll(max(0.0, deadline - time.monotonic())):
            self.metrics.worker_ended("deadline")
            raise ServiceError(f"the evaluation ran longer than the {self.timeout:g} s one evaluation may take "
                               "(VALGRAD_EVAL_TIMEOUT_SECONDS) and was stopped; send a cheaper function or "
                               "smaller tensors", code="deadline_exceeded")
        return receive(w.conn, _view(w.outbox))

    def _died(self, w: Worker) -> ServiceError:
        w.process.join(1)
        log.warning("an evaluation worker ended abruptly (exit code %s)", w.process.exitcode)
        self.metrics.worker_ended("crash")
        return ServiceError("the evaluation's worker process ended abruptly, most likely out of memory "
                            f"(each evaluation may use {self.memory_bytes} bytes); send smaller tensors",
                            code="out_of_memory")

    def _acquire(self) -> Worker:
        with self._cond:
            while not self._closed and not self._idle and self._live >= self.size:
                self._cond.wait()
            if self._closed:
                raise ServiceError("the server is shutting down", code="not_ready")
            if self._idle:
                return self._idle.pop()
            self._live += 1
        try:
            w = Worker(self.limits, self.memory_bytes, self.tier)
        except BaseException:
            self._forget()
            raise
        self.metrics.workers.inc()
        return w

    def _release(self, w: Worker) -> None:
        with self._cond:
            if not self._closed:
                self._idle.append(w)
                self._cond.notify()
                return
        self._discard(w)

    def _discard(self, w: Worker) -> None:
        w.close(kill=True)
        self.metrics.workers.dec()
        self._forget()

    def _forget(self) -> None:
        with self._cond:
            self._live -= 1
            self._cond.notify()

    def open(self) -> None:
        """Accept evaluations (again: an app's lifespan may run more than once, as tests run it); workers start
        on demand."""
        with self._cond:
            self._closed = False

    def warm(self) -> None:
        """Start one worker now (and the forkserver behind it, which loads NumPy and the engine once), so the
        first evaluation after a (re)start does not wait for them."""
        self._release(self._acquire())

    def close(self) -> None:
        """Stop the idle workers now; busy ones stop when their evaluation ends."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for w in idle:
            w.close()
            self.metrics.workers.dec()
            self._forget()
