"""The evaluation pipeline behind the routes: parse, load, evaluate, encode — in a worker thread.

Each public method takes the raw body and returns the response body, so the
whole CPU-bound path (JSON parsing included) runs off the event loop under
``Slots``; routes only read the body and hand it over. Pointers in errors
are into the request; those under ``/function`` refer, for a registered
function, to its canonical form (``GET /v1/functions/{id}``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from app.errors import UnknownFunctionError
from app.limits import Slots
from app.metrics import Metrics
from app.registry import FunctionRegistry
from app.schemas import EvaluateRequest, RegisterRequest, ValueAndGradientsRequest
from app.settings import Settings
from app.wire import decode_args, decode_dy, dumps, encode_result, parse_envelope
from engine.api import value_and_gradients
from engine.errors import EngineError, TooLargeError
from engine.graph import load_function, to_json
from engine.ir import Graph
from engine.params import resolve_params

__all__ = ["Service", "function_info"]

T = TypeVar("T")
_GRAPH_POINTERS = ("/nodes", "/inputs", "/outputs")


def function_info(graph: Graph) -> dict[str, Any]:
    """``{id, inputs, outputs, opset}`` of a graph, as registration answers it."""
    return {"id": graph.id, "inputs": graph.input_names, "outputs": to_json(graph)["outputs"], "opset": graph.opset}


class Service:
    """Settings, limits, the function cache and the evaluation slots of one app."""

    def __init__(self, settings: Settings, registry: FunctionRegistry, metrics: Metrics) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.metrics = metrics
        self.registry = registry
        self.slots = Slots(settings.max_concurrency, settings.max_queue, settings.retry_after_seconds, metrics)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run one of the methods below in a worker thread, or refuse with 503 when all slots are busy."""
        return await self.slots.run(fn, *args)

    def one_shot(self, body: bytes) -> bytes:
        """POST /v1/value-and-gradients: load (and cache) the function, then evaluate it."""
        req = parse_envelope(body, ValueAndGradientsRequest, self.settings.max_json_depth)
        source = orjson.dumps(req.function, option=orjson.OPT_SORT_KEYS)
        graph = self.registry.by_source(source)
        if graph is None:
            graph, _ = self.registry.intern(self._load(req.function))
            self.registry.remember_source(source, graph)
            self.metrics.cache_changed()
        return self._evaluate(graph, req)

    def register(self, body: bytes) -> tuple[bool, bytes]:
        """POST /v1/functions: (whether the function is new here, its info)."""
        req = parse_envelope(body, RegisterRequest, self.settings.max_json_depth)
        graph = self._load(req.function)
        if not self.registry.fits(graph):
            raise TooLargeError(f"the function's canonical form is {len(graph.canonical)} bytes, more than the "
                                f"cache holds ({self.registry.max_bytes}); evaluate it one-shot instead", "/function")
        graph, new = self.registry.intern(graph)
        self.metrics.cache_changed()
        return new, dumps(function_info(graph))

    def evaluate(self, function_id: str, body: bytes) -> bytes:
        """POST /v1/functions/{id}/value-and-gradients."""
        graph = self.held(function_id)
        return self._evaluate(graph, parse_envelope(body, EvaluateRequest, self.settings.max_json_depth))

    def held(self, function_id: str) -> Graph:
        """The cached graph under ``function_id``; 404 ``unknown_function`` if this replica lacks it."""
        graph = self.registry.get(function_id)
        self.metrics.cache_changed()
        if graph is None:
            raise UnknownFunctionError(f"this server does not hold function {function_id[:80]!r}; register it "
                                       "(POST /v1/functions) or send it with the arguments (POST "
                                       "/v1/value-and-gradients)")
        return graph

    def _load(self, function: Any) -> Graph:
        try:
            return load_function(function, limits=self.limits)
        except EngineError as e:  # the engine points inside the function; the client sent it under /function
            raise e.at("/function") from None

    def _evaluate(self, graph: Graph, req: EvaluateRequest) -> bytes:
        positions = resolve_params(req.params, graph.input_names, len(graph.inputs))
        args, binary, budget = decode_args(req.args, self.limits, self.settings.max_request_elements)
        dy = decode_dy(req.dy, len(graph.outputs), graph.output_is_list, self.limits, budget)
        try:
            value, grads = value_and_gradients(graph, args, req.params, dy, req.unconnected_gradients,
                                               limits=self.limits)
        except EngineError as e:  # static checks point into the graph; the client knows it as /function
            if e.pointer and e.pointer.startswith(_GRAPH_POINTERS):
                e.at("/function")
            raise
        self.metrics.nodes.inc(len(graph.nodes))
        names = [graph.input_names[p] for p in positions]
        return encode_result(value, grads, names, req.encoding or ("base64" if binary else "list"))
