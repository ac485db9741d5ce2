"""Version 2's endpoints behind the routes: parse, price, run where the price says, encode.

Every path (``value-and-jvp``, ``value-and-jacobian``, ``hessian``, ``hvp``,
``abstract-eval``, ``check-gradients``, ``batch/value-and-gradients``) exists
one-shot and registered; both reach ``answer``. In a thread (``Slots.run``)
the body is parsed once, the tensors decoded, and the engine prepares and
prices the request before any NumPy call, so ``too_expensive`` costs nothing.
A priced job at or under ``VALGRAD_INLINE_MAX_FLOPS`` runs in that thread;
anything bigger runs in a worker process (``app.pool``, the job's ``kind``
in ``app.kinds``) under the deadline and memory cap that value-and-gradients
has. ``abstract-eval`` is the static pass alone and never leaves the thread.
A batch is one admission decision (its total cost), one job, and per item
either a result or ``{"error": <problem object>}``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from app import kinds
from app.bodies import MODELS
from app.errors import RequestShapeError, ServiceError, problem_body
from app.service import Service, _at_function
from app.wire import Encoding, decode_args, decode_dy, decode_vectors, dumps, encode_tree, parse_envelope
from engine import EngineError, Graph, TooExpensiveError, abstract_eval, prepare_batch, prepare_check, resolve_params

__all__ = ["BATCH_MAX_ITEMS", "PATHS", "answer"]

T = TypeVar("T")
PATHS = tuple(MODELS)
BATCH_MAX_ITEMS = 10_000
_KIND = {"value-and-jvp": "jvp", "value-and-jacobian": "jacobian", "hessian": "hessian", "hvp": "hvp"}
_VECTORS = {"jvp": "tangents", "hvp": "vectors"}
_FIELDS = {"jvp": ("jvp",), "jacobian": ("jacobian",), "hessian": ("gradients", "hessian"),
           "hvp": ("gradients", "hvp")}
_ITEM_KEYS = frozenset(("args", "params", "dy"))


async def answer(service: Service, path: str, function_id: str | None, body: bytes) -> bytes:
    """``POST /v1/<path>`` (``function_id`` None: the function is in the body) or ``/v1/functions/{id}/<path>``."""
    graph = None if function_id is None else await service.find(function_id)
    return await service.slots.run(path, _answer, service, path, graph, body)


def _answer(service: Service, path: str, graph: Graph | None, body: bytes) -> bytes:
    registered, one_shot, _ = MODELS[path]
    req: Any = parse_envelope(body, one_shot if graph is None else registered, service.limits.max_json_depth)
    if graph is None:
        graph = service.graph_of(req.function)
    try:
        if path in _KIND:
            return _derivative(service, _KIND[path], graph, req)
        if path == "abstract-eval":
            return dumps(abstract_eval(graph, req.args, req.params, limits=service.limits))
        if path == "check-gradients":
            return _check(service, graph, req)
        return _batch(service, graph, req)
    except EngineError as e:
        raise _at_function(e) from None


def _run(service: Service, graph: Graph, kind: str, payload: list[Any], flops: int, finish: Callable[..., T],
         local: Callable[[], list[Any]]) -> T:
    """``finish(*results)``: here when the job is tiny (or refused by its price), else in a worker process."""
    if _local(service, flops):
        return finish(*local())
    assert service.pool is not None
    return service.pool.evaluate(graph, payload, finish, kind)


def _local(service: Service, flops: int) -> bool:
    """Whether a job runs in this thread: no worker processes, tiny, or refused by its price before it runs."""
    return service.pool is None or flops <= service.settings.inline_max_flops or flops > service.limits.max_flops


def _derivative(service: Service, kind: str, graph: Graph, req: Any) -> bytes:
    limits = service.limits
    args, binary, budget = decode_args(req.args, limits, service.settings.max_request_elements)
    vectors = None
    if kind in _VECTORS:
        field = _VECTORS[kind]
        n = len(resolve_params(req.params, graph.input_names, len(graph.inputs)))
        vectors = decode_vectors(getattr(req, field), n, field, limits, budget)
    prepared = kinds.prepare_kind(kind, graph, args, req.params, vectors, req.unconnected_gradients, limits)
    names = [graph.input_names[p] for p in prepared.target.positions]
    encoding: Encoding = req.encoding or ("base64" if binary else "list")

    def finish(value: Any, *blocks: Any) -> bytes:
        fields = {f: encode_tree(b, encoding) for f, b in zip(_FIELDS[kind], blocks, strict=True)}
        return dumps({"value": encode_tree(value, encoding), **fields, "params": names})

    target = prepared.target
    payload = [target.args, target.positions, vectors, prepared.zeros]
    return _run(service, graph, kind, payload, prepared.cost.flops, finish, lambda: list(prepared.run()))


def _check(service: Service, graph: Graph, req: Any) -> bytes:
    limits = service.limits
    args, _, _ = decode_args(req.args, limits, service.settings.max_request_elements)
    check = prepare_check(graph, args, req.params, req.eps, req.rtol, req.atol, req.directions, limits=limits)
    ev = check.evaluation
    payload = [ev.xs, ev.positions, req.eps, req.rtol, req.atol, req.directions]
    names = [graph.input_names[p] for p in ev.positions]

    def finish(ok: bool, abs_err: list[float], rel_err: list[float]) -> bytes:
        return dumps({"ok": ok, "params": names, "max_abs_error": _numbers(abs_err),
                      "max_rel_error": _numbers(rel_err), "directions": req.directions})

    return _run(service, graph, "check", payload, check.flops, finish, lambda: kinds.run("check", graph, payload))


def _numbers(xs: list[float]) -> list[Any]:
    """Floats as JSON: non-finite ones as the strings tensors use (RFC 8259 has no NaN)."""
    return [x if math.isfinite(x) else "NaN" if math.isnan(x) else "Infinity" if x > 0 else "-Infinity" for x in xs]


# -- batches ------------------------------------------------------------------------------------------


def _batch(service: Service, graph: Graph, req: Any) -> bytes:
    """Decode every item (a bad one becomes its own error), admit the rest by total cost, run them as one job."""
    if len(req.requests) > BATCH_MAX_ITEMS:
        raise TooExpensiveError(f"a batch holds at most {BATCH_MAX_ITEMS} requests, got {len(req.requests)}; "
                                "send several batches", "/requests")
    results: list[Any] = [None] * len(req.requests)
    decoded, where, binary = _decode_items(service, graph, req.requests, results)
    prepared = prepare_batch(graph, decoded, req.params, req.unconnected_gradients, limits=service.limits,
                             max_items=BATCH_MAX_ITEMS)
    ok = []
    for i, item in zip(where, prepared.items, strict=True):
        if item.evaluation is None:
            results[i] = _item_problem(kinds.item_error(item.error or ValueError("")), i)
        else:
            ok.append((i, item.evaluation))
    encoding: Encoding = req.encoding or ("base64" if binary else "list")

    def finish(*records: Any) -> bytes:
        for (i, ev), record in zip(ok, records, strict=True):
            if record[0] == "ok":
                names = [graph.input_names[p] for p in ev.positions]
                results[i] = {"value": encode_tree(record[1], encoding), "gradients": encode_tree(record[2], encoding),
                              "params": names}
            else:
                results[i] = _item_problem(record, i)
        return dumps({"results": results})

    def local() -> list[Any]:
        return [r for r, item in zip(kinds.batch_results(prepared.run()), prepared.items, strict=True)
                if item.evaluation is not None]

    payload = kinds.pack([[[ev.xs, ev.positions, ev.dy] for _, ev in ok], req.unconnected_gradients == "zero"])
    if _local(service, prepared.flops):
        return finish(*local())
    assert service.pool is not None
    return service.pool.evaluate(graph, payload, lambda *packed: finish(*kinds.unpack(packed)), "batch")


def _decode_items(service: Service, graph: Graph, items: list[Any],
                  results: list[Any]) -> tuple[list[dict[str, Any]], list[int], bool]:
    """Each item's tensors decoded (all of them under the request's element budget); failures go to results."""
    limits, budget = service.limits, service.settings.max_request_elements
    decoded: list[dict[str, Any]] = []
    where: list[int] = []
    binary = False
    for i, item in enumerate(items):
        try:
            _check_item(item)
            args, is_binary, budget = decode_args(item["args"], limits, budget)
            dy = decode_dy(item.get("dy"), len(graph.outputs), graph.output_is_list, limits, budget)
        except (EngineError, ServiceError) as e:
            results[i] = _item_problem(kinds.item_error(e) if isinstance(e, EngineError) else
                                       ["error", e.code, e.message, e.pointer], i)
            continue
        binary = binary or is_binary
        decoded.append({"args": args, "dy": dy, **({"params": item["params"]} if "params" in item else {})})
        where.append(i)
    return decoded, where, binary


def _check_item(item: Any) -> None:
    if not isinstance(item, Mapping) or "args" not in item:
        raise RequestShapeError('a batch request is an object {"args", "params"?, "dy"?}')
    extra = sorted(set(item) - _ITEM_KEYS)
    if extra:
        raise RequestShapeError(f"unknown field {extra[0]!r} (fields: args, params, dy)", "/" + extra[0])
    if not isinstance(item["args"], list | dict):
        raise RequestShapeError("args must be a list (by position) or an object (by input name)", "/args",
                                code="invalid_args")


def _item_problem(record: list[Any], i: int) -> dict[str, Any]:
    """``{"error": <problem>}`` for item ``i``, its pointer made absolute (graph pointers are ``/function``)."""
    _, code, message, pointer = record
    if pointer and pointer.startswith(("/nodes", "/inputs", "/outputs")):
        pointer = "/function" + pointer
    elif pointer is not None or code != "too_expensive":
        pointer = f"/requests/{i}{pointer or ''}"
    return {"error": problem_body(code, message, pointer)}
