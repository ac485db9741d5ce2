"""The evaluation pipeline behind the routes: parse, load, evaluate, encode.

Routes hand the raw body to one of the ``async`` entry points here. Parsing,
decoding and the static checks (linear in the body, bounded by its limits)
run in a thread under ``Slots``; the evaluation itself then runs in a worker
process of ``app.pool`` under a hard deadline and memory cap, and the thread
encodes the answer. The common small case skips both hops: a body under
8 KiB for a function already held with at most 64 nodes (so its static
checks are cheap too), whose static estimate is under
``VALGRAD_INLINE_MAX_FLOPS``, takes tens of microseconds, less than a thread
hop, so it runs on the event loop, within a budget per loop iteration
(``Slots.inline``) so that probes and other requests keep their turn. The
estimate is from the static checks, made before any NumPy call, so an
expensive request never gets there. Pointers in errors are into the request;
those under ``/function`` refer, for a registered function, to its canonical
form (``GET /v1/functions/{id}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from app.admission import Slots
from app.errors import UnknownFunctionError
from app.function_cache import FunctionCache
from app.metrics import Metrics
from app.pool import EvalPool
from app.schemas import EvaluateRequest, RegisterRequest, ValueAndGradientsRequest
from app.settings import Settings
from app.wire import Encoding, decode_args, decode_dy, dumps, encode_result, parse_envelope
from engine import EngineError, Evaluation, Graph, TooLargeError, load_function, prepare

__all__ = ["Service", "function_info"]

_GRAPH_POINTERS = ("/nodes", "/inputs", "/outputs")
INLINE_MAX_BODY = 8 * 1024  # bytes: parsing and decoding such a body takes microseconds
INLINE_MAX_NODES = 64  # so the static check of a new argument signature stays cheap too


def function_info(graph: Graph) -> dict[str, Any]:
    """``{id, inputs, outputs, opset}`` of a graph, as registration answers it."""
    return {"id": graph.id, "inputs": graph.input_names, "outputs": graph.output_names, "opset": graph.opset}


@dataclass(slots=True)
class Job:
    """One request's evaluation, decoded and statically checked: ``run()`` computes and encodes it."""

    evaluation: Evaluation
    encoding: Encoding
    metrics: Metrics

    def run(self) -> bytes:
        """Evaluate in this thread (tiny evaluations, or no worker processes)."""
        try:
            value, grads = self.evaluation.run()
        except EngineError as e:
            raise _at_function(e) from None
        return self.encode(value, grads)

    def run_in(self, pool: EvalPool) -> bytes:
        """Evaluate in a worker process, under its deadline and memory cap; encode here. The worker runs what was
        checked here, without checking it again (``app.kinds``)."""
        e = self.evaluation
        return pool.evaluate(e.graph, [e.xs, e.positions, e.dy, e.zeros], self.encode)

    def encode(self, value: Any, grads: list[Any]) -> bytes:
        graph = self.evaluation.graph
        self.metrics.nodes.inc(len(graph.nodes))
        names = [graph.input_names[p] for p in self.evaluation.positions]
        return encode_result(value, grads, names, self.encoding)


def _at_function(e: EngineError) -> EngineError:
    """Static checks point into the graph; the client knows it as ``/function``."""
    if e.pointer and e.pointer.startswith(_GRAPH_POINTERS):
        return e.at("/function")
    return e


class Service:
    """Settings, limits, the function cache and the evaluation slots of one app."""

    def __init__(self, settings: Settings, functions: FunctionCache, metrics: Metrics) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.metrics = metrics
        self.functions = functions
        self.slots = Slots(settings.max_concurrency, settings.max_queue, settings.retry_after_seconds, metrics,
                           settings.inline_budget_seconds)
        self.pool = EvalPool(settings.max_concurrency, settings.eval_timeout_seconds, settings.eval_memory_bytes,
                             self.limits, metrics, settings.tier) if settings.eval_processes else None

    def open(self, warm: bool = False) -> None:
        """Start accepting evaluations (at startup); ``warm`` starts a first worker process too."""
        if self.pool is not None:
            self.pool.open()
            if warm:
                self.pool.warm()

    def close(self) -> None:
        """Stop the worker processes (at shutdown)."""
        if self.pool is not None:
            self.pool.close()

    # -- the routes' entry points ----------------------------------------------------------

    async def answer_one_shot(self, body: bytes) -> bytes:
        """POST /v1/value-and-gradients: parsed once, here when the body is small, else in a thread."""
        if not self._small(body):
            return await self.slots.run("one_shot", self.one_shot, body)
        req = self._parse(body, ValueAndGradientsRequest)
        source = _source(req.function)
        graph = self.functions.by_source(source)
        if graph is None:
            return await self.slots.run("one_shot", self._one_shot_miss, req, source)
        if len(graph.nodes) <= INLINE_MAX_NODES:  # its static checks are cheap enough for the loop too
            return await self._finish("one_shot", self._job(graph, req))
        return await self.slots.run("one_shot", self._evaluate_parsed, graph, req)

    async def answer_registered(self, function_id: str, body: bytes) -> bytes:
        """POST /v1/functions/{id}/value-and-gradients."""
        graph = await self.find(function_id)
        if self._small(body) and len(graph.nodes) <= INLINE_MAX_NODES:
            return await self._finish("evaluate", self._job(graph, self._parse(body, EvaluateRequest)))
        return await self.slots.run("evaluate", self.evaluate, graph, body)

    async def answer_register(self, body: bytes) -> tuple[bool, bytes]:
        """POST /v1/functions: (whether the function is new here, its info)."""
        return await self.slots.run("register", self.register, body)

    # -- the work, in whichever thread runs it ---------------------------------------------

    def one_shot(self, body: bytes) -> bytes:
        """Parse, load (and cache) the function, evaluate it."""
        req = self._parse(body, ValueAndGradientsRequest)
        return self._execute(self._job(self.graph_of(req.function), req))

    def _one_shot_miss(self, req: ValueAndGradientsRequest, source: bytes) -> bytes:
        """A request parsed on the event loop whose function is not cached: load it, evaluate."""
        return self._evaluate_parsed(self._remember(req.function, source), req)

    def _evaluate_parsed(self, graph: Graph, req: EvaluateRequest) -> bytes:
        return self._execute(self._job(graph, req))

    def graph_of(self, function: Any) -> Graph:
        """The graph of a function sent whole: from the source cache, else loaded and cached."""
        source = _source(function)
        return self.functions.by_source(source) or self._remember(function, source)

    def _remember(self, function: Any, source: bytes) -> Graph:
        """Load a function sent whole and cache it under its id and its source."""
        graph, _ = self.functions.intern(self._load(function))
        self.functions.remember_source(source, graph)
        self.metrics.cache_changed()
        return graph

    def evaluate(self, graph: Graph, body: bytes) -> bytes:
        """Parse the arguments and evaluate a held function."""
        return self._evaluate_parsed(graph, self._parse(body, EvaluateRequest))

    def register(self, body: bytes) -> tuple[bool, bytes]:
        """Parse and hold a function."""
        req = self._parse(body, RegisterRequest)
        graph = self._load(req.function)
        if not self.functions.fits(graph):
            raise TooLargeError(f"the function's canonical form is {len(graph.canonical)} bytes, more than the "
                                f"cache holds ({self.functions.max_bytes}); evaluate it one-shot instead", "/function")
        graph, new = self.functions.intern(graph)
        self.functions.share(graph)  # to the shared function store, when one is configured
        self.metrics.cache_changed()
        return new, dumps(function_info(graph))

    async def find(self, function_id: str) -> Graph:
        """``held``, after looking in the shared function store (off the event loop) if this replica lacks it."""
        await self.functions.recall(function_id, self.limits)
        return self.held(function_id)

    def held(self, function_id: str) -> Graph:
        """The cached graph under ``function_id``; 404 ``unknown_function`` if this replica lacks it."""
        graph = self.functions.get(function_id)
        self.metrics.cache_changed()
        if graph is None:
            raise UnknownFunctionError(f"this server does not hold function {function_id[:80]!r}; register it "
                                       "(POST /v1/functions) or send it with the arguments (POST "
                                       "/v1/value-and-gradients)")
        return graph

    # -- helpers ---------------------------------------------------------------------------

    def _small(self, body: bytes) -> bool:
        return self.settings.inline_max_flops > 0 and len(body) <= INLINE_MAX_BODY

    async def _finish(self, endpoint: str, job: Job) -> bytes:
        """Run a prepared job on the event loop when it is tiny and the loop has time, else off it."""
        if job.evaluation.info.flops <= self.settings.inline_max_flops and self.slots.inline_open():
            return self.slots.inline(endpoint, job.run)
        return await self.slots.run(endpoint, self._execute, job)

    def _execute(self, job: Job) -> bytes:
        """In a thread: tiny evaluations right here, the rest in a worker process."""
        if self.pool is None or job.evaluation.info.flops <= self.settings.inline_max_flops:
            return job.run()
        return job.run_in(self.pool)

    def _parse(self, body: bytes, model: type[Any]) -> Any:
        return parse_envelope(body, model, self.limits.max_json_depth)

    def _job(self, graph: Graph, req: EvaluateRequest) -> Job:
        """Decode the tensors and prepare the evaluation (params, static checks: cached per signature)."""
        args, binary, budget = decode_args(req.args, self.limits, self.settings.max_request_elements)
        dy = decode_dy(req.dy, len(graph.outputs), graph.output_is_list, self.limits, budget)
        try:
            evaluation = prepare(graph, args, req.params, dy, req.unconnected_gradients, limits=self.limits)
        except EngineError as e:
            raise _at_function(e) from None
        return Job(evaluation, req.encoding or ("base64" if binary else "list"), self.metrics)

    def _load(self, function: Any) -> Graph:
        try:
            return load_function(function, limits=self.limits)
        except EngineError as e:  # the engine points inside the function; the client sent it under /function
            raise e.at("/function") from None


def _source(function: Any) -> bytes:
    """The function as sent, in a canonical byte form: the key of the source cache."""
    return orjson.dumps(function, option=orjson.OPT_SORT_KEYS)
