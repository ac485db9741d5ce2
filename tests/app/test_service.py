"""Where evaluations run: small ones of held functions on the event loop, everything else in a worker thread."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import pytest

import app.service
import engine.evaluation
from app.function_cache import FunctionCache
from app.metrics import Metrics
from app.service import INLINE_MAX_BODY, INLINE_MAX_NODES, Service
from app.settings import Settings
from engine.errors import TooExpensiveError
from tests.support import SEED, SEED_ANSWER, SEED_ARGS, SEED_GRADIENTS

BIG = {"inputs": ["x"], "expression": "sum(broadcast_to(x, shape=[1000, 1000]))"}  # 1e6 elements from a scalar
LONG = {"inputs": ["x"], "expression": "+".join(["sin(x)"] * (INLINE_MAX_NODES + 1))}


def make_service(**settings: Any) -> tuple[Service, list[str]]:
    """A service that records, per evaluation, the thread it ran on ('loop' or 'worker')."""
    registry = FunctionCache(64, 1 << 20)
    service = Service(Settings(**settings), registry, Metrics(registry))
    where: list[str] = []
    loop_thread = threading.get_ident()
    real_inline, real_run = service.slots.inline, service.slots.run

    def inline(endpoint: str, fn: Callable[[], Any]) -> Any:
        where.append("loop" if threading.get_ident() == loop_thread else "elsewhere")
        return real_inline(endpoint, fn)

    async def run(endpoint: str, fn: Callable[..., Any], *args: Any) -> Any:
        where.append("worker")
        return await real_run(endpoint, fn, *args)

    service.slots.inline = inline  # type: ignore[method-assign]
    service.slots.run = run  # type: ignore[method-assign]
    return service, where


def one_shot(service: Service, function: dict[str, Any], args: list[Any]) -> dict[str, Any]:
    body = orjson.dumps({"function": function, "args": args})
    result: dict[str, Any] = orjson.loads(asyncio.run(service.answer_one_shot(body)))
    return result


def test_a_held_small_function_runs_on_the_loop_after_its_first_call() -> None:
    service, where = make_service()
    first, second = one_shot(service, SEED, SEED_ARGS), one_shot(service, SEED, SEED_ARGS)
    assert first == second == SEED_ANSWER
    assert where == ["worker", "loop"]  # the first call parses the function, in a thread


def test_registered_calls_run_on_the_loop_and_count_their_work() -> None:
    service, where = make_service()
    _, info = service.register(orjson.dumps({"function": SEED}))
    function_id = orjson.loads(info)["id"]
    body = orjson.dumps({"args": SEED_ARGS, "params": [1]})
    answer = orjson.loads(asyncio.run(service.answer_registered(function_id, body)))
    assert answer["gradients"] == [SEED_GRADIENTS[1]]
    assert where == ["loop"]
    assert service.metrics.nodes._value.get() == 6  # type: ignore[attr-defined]


@pytest.mark.parametrize(("function", "args", "why"), [
    (BIG, [1.0], "estimated work over the inline budget"),
    (LONG, [0.5], "more nodes than the inline bound"),
    (SEED, [[1.0] * (INLINE_MAX_BODY // 4), 3.0], "a body over the inline bound"),
])
def test_costly_evaluations_go_to_a_worker_thread(function: dict[str, Any], args: list[Any], why: str) -> None:
    service, where = make_service()
    one_shot(service, function, args)  # held from now on
    where.clear()
    one_shot(service, function, args)
    assert where == ["worker"], why


def test_inline_can_be_switched_off() -> None:
    service, where = make_service(inline_max_flops=0)
    one_shot(service, SEED, SEED_ARGS)
    one_shot(service, SEED, SEED_ARGS)
    assert where == ["worker", "worker"]


def test_static_limits_still_refuse_before_any_evaluation() -> None:
    service, where = make_service(max_flops=10_000)
    with pytest.raises(TooExpensiveError):
        one_shot(service, BIG, [1.0])  # parsed and held in a thread, then refused by the static check
    with pytest.raises(TooExpensiveError):
        one_shot(service, BIG, [1.0])  # held: refused on the loop, before anything is scheduled
    assert where == ["worker"]


@pytest.mark.parametrize("args", [SEED_ARGS, [[1.0] * (INLINE_MAX_BODY // 4), 3.0]], ids=["small body", "large body"])
def test_a_one_shot_miss_touches_each_check_once(monkeypatch: pytest.MonkeyPatch, args: list[Any]) -> None:
    service, _ = make_service(eval_processes=False)
    calls: Counter[str] = Counter()

    def count(owner: Any, name: str) -> None:
        real = getattr(owner, name)
        monkeypatch.setattr(owner, name, lambda *a, **k: calls.update([name]) or real(*a, **k))

    for owner, name in [(app.service, "parse_envelope"), (app.service, "_source"), (app.service, "load_function"),
                        (service.functions, "by_source"), (engine.evaluation, "infer"),
                        (engine.evaluation, "_bind_args")]:
        count(owner, name)
    one_shot(service, SEED, args)
    assert calls == dict.fromkeys(
        ["parse_envelope", "_source", "load_function", "by_source", "infer", "_bind_args"], 1)
