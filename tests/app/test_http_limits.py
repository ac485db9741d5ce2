"""Load limits: a saturated evaluation bound sheds with 503 + Retry-After; bodies are capped before parsing."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from app_support import assert_problem, make_client

from app.body_limit import BodyLimitMiddleware
from app.errors import problem_response
from app.service import Service
from tests.support import SEED, SEED_ARGS, SEED_VALUE, LiveServer, serve, time_budget

URL = "/v1/value-and-gradients"
SEED_REQUEST = {"function": SEED, "args": SEED_ARGS}
# Work the static pass admits (under max_flops, backward pass included) that still holds a slot for a while.
HEAVY = {"inputs": ["x"], "expression": "sum(broadcast_to(x, shape=[1000, 1000]) @ broadcast_to(x, shape=[1000, 1000]) "
                                        "@ broadcast_to(x, shape=[1000, 1000]))"}


class GatedService(Service):
    """Evaluations wait at a gate, so a test decides when a slot frees up."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.entered = threading.Event()
        self.gate = threading.Event()

    def one_shot(self, body: bytes) -> bytes:
        self.entered.set()
        assert self.gate.wait(10)
        return super().one_shot(body)


def test_full_slots_and_queue_answer_503_with_retry_after_at_once() -> None:
    # inline_max_flops=0: every request takes a slot (a held small function would otherwise run on the loop)
    with make_client(max_concurrency=1, max_queue=1, retry_after_seconds=3, inline_max_flops=0) as c, \
            ThreadPoolExecutor(2) as pool:
        state = c.app.state  # type: ignore[attr-defined]
        gated = GatedService(state.settings, state.service.functions, state.metrics)
        state.service = gated
        running = pool.submit(c.post, URL, json=SEED_REQUEST)
        assert gated.entered.wait(10)
        queued = pool.submit(c.post, URL, json=SEED_REQUEST)
        deadline = time.monotonic() + 10
        while gated.slots.admitted < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        with time_budget(2):  # refused at once, not queued behind the gate
            shed = c.post(URL, json=SEED_REQUEST)
        gated.gate.set()
        assert running.result(10).json()["value"] == SEED_VALUE and queued.result(10).json()["value"] == SEED_VALUE
        after = c.post(URL, json=SEED_REQUEST)
        metrics = c.get("/metrics").text
    assert_problem(shed, 503, "overloaded")
    assert shed.headers["retry-after"] == "3"
    assert after.status_code == 200
    assert "valgrad_shed_requests_total 1.0" in metrics


@pytest.mark.slow
def test_live_server_sheds_load_beyond_its_single_slot(live_strict: LiveServer) -> None:
    headers = {"Authorization": "Bearer k-two"}
    shed: list[httpx.Response] = []
    answered: list[httpx.Response] = []
    fresh = itertools.count()
    with httpx.Client(base_url=live_strict.url, headers=headers, timeout=30) as http, ThreadPoolExecutor(1) as pool:
        assert http.post(URL, json=SEED_REQUEST).status_code == 200  # now held
        for _ in range(3):  # the heavy request must win the slot; on a busy machine give it a few chances
            heavy = pool.submit(http.post, URL, json={"function": HEAVY, "args": [1.0]})
            time.sleep(0.05)
            while not heavy.done() and not shed:
                # A function new to the server needs a slot to be parsed; the seed, held already, does not.
                r = http.post(URL, json={"function": {"inputs": ["x"], "expression": f"x*{next(fresh)}"}, "args": [2]})
                cheap = http.post(URL, json=SEED_REQUEST)
                shed += [r] if r.status_code == 503 else []
                answered += [cheap] if not heavy.done() else []
            if heavy.result().status_code == 200 and shed:
                break
    assert shed, "no request was shed while the only slot was busy"
    assert_problem(shed[0], 503, "overloaded")
    assert shed[0].headers["retry-after"] == "2"
    # Small evaluations of held functions run on the event loop: no slot needed, so never shed.
    assert answered and all(r.status_code == 200 and r.json()["value"] == SEED_VALUE for r in answered)


@pytest.mark.slow
def test_live_server_refuses_oversized_and_chunked_bodies(tmp_path: Path) -> None:
    with serve(env={"VALGRAD_MAX_BODY_BYTES": "100000"}, log=tmp_path / "server.log") as server, \
            httpx.Client(base_url=server.url, timeout=30) as http:
        declared = http.post(URL, content=b" " * 200_000, headers={"content-type": "application/json"})
        chunked = http.post(URL, content=iter([b" " * 60_000] * 3), headers={"content-type": "application/json"})
        fine = http.post(URL, json=SEED_REQUEST)
    assert_problem(declared, 413, "payload_too_large")
    assert_problem(chunked, 413, "payload_too_large")
    assert fine.status_code == 200


async def _call(max_bytes: int, headers: list[tuple[bytes, bytes]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await problem_response("not_found", "reached the app")(scope, receive, send)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": URL, "headers": headers}
    await BodyLimitMiddleware(app, max_bytes)(scope, receive, send)
    return sent


def test_body_limit_checks_declared_length_before_the_app() -> None:
    import anyio

    cases = [([(b"content-length", b"abc")], 400), ([(b"content-length", b"11")], 413),
             ([(b"content-length", b"2")], 404), ([], 404)]
    for headers, status in cases:
        sent = anyio.run(_call, 10, headers)
        assert sent[0]["status"] == status, headers
        if status == 400:
            assert b'"code":"bad_request"' in sent[1]["body"]
