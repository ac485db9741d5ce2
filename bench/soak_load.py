"""The soak test's load: the request mix and its checks (``Generator``), and the SDK's loop (``sdk_loop``).

Every valid answer is compared with the engine's own result in-process;
every invalid request must get its exact problem code; a 503 must carry
Retry-After; a connection failure counts as an error unless it happened
in a fault window (a killed worker, a restarting server).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import orjson

from engine.codec import decode_tensor, encode_tensor
from engine.evaluation import value_and_gradients
from engine.graph import load_function
from tests.support import SEED, SEED_ARGS

__all__ = ["REGISTRY", "Stats", "generate", "sdk_loop"]

URL = "/v1/value-and-gradients"
VEC = {"inputs": ["w", "x"], "expression": "sum(tanh(x @ w))"}
HEAVY = {"inputs": ["x"], "expression": "sum(tanh(broadcast_to(x, shape=[500, 1000])) * x)"}
REGISTRY = 16  # VALGRAD_REGISTRY_MAX_FUNCTIONS for the run: far fewer than the functions registered
INVALID: list[tuple[bytes, int, str]] = [  # (body, status, code)
    (b'{"function": {"inputs": ["x"], ', 400, "invalid_json"),
    (b'{"function": {"inputs": ["x"], "expression": "x"}, "args": [NaN]}', 400, "invalid_json"),
    (orjson.dumps({"function": {"inputs": ["x"], "nodes": [{"id": "a", "op": "nope", "args": ["x"]}],
                                "outputs": "a"}, "args": [1]}), 422, "unknown_op"),
    (orjson.dumps({"function": {"inputs": ["x", "y"], "expression": "x @ y"}, "args": [[1, 2], [1, 2, 3]]}),
     422, "shape_mismatch"),
    (orjson.dumps({"function": SEED, "args": SEED_ARGS, "params": [0, "y"]}), 422, "invalid_params"),
    (orjson.dumps({"function": SEED, "args": SEED_ARGS[:1]}), 422, "invalid_args"),
    (orjson.dumps({"function": {"inputs": ["x"], "expression": "__import__('os')"}, "args": [1]}),
     422, "invalid_expression"),
    (orjson.dumps({"function": {"inputs": ["x"], "expression": "sum(broadcast_to(x, shape=[100000, 100000]))"},
                   "args": [1]}), 413, "payload_too_large"),
    (b"[" * 5000 + b"]" * 5000, 413, "json_too_deep"),
]


def expected(function: dict[str, Any], args: list[Any], params: Any = None) -> tuple[Any, list[Any]]:
    """The engine's answer in-process, for comparison with the server's."""
    return value_and_gradients(load_function(function), [decode_tensor(a) for a in args], params)


def close(got: Any, want: Any) -> bool:
    if want is None or got is None:
        return got is None and want is None
    return bool(np.allclose(decode_tensor(got), want, rtol=1e-12, atol=1e-12, equal_nan=True))


@dataclass
class Stats:
    """Everything the generator and the SDK threads observed."""

    outcomes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # of valid answers
    problems: list[str] = field(default_factory=list)  # first examples of each failure
    faults: list[list[float]] = field(default_factory=list)  # [start, end] of fault windows (monotonic)
    kill_time: float | None = None
    first_answer_after_kill: float | None = None

    def fail(self, kind: str, detail: str) -> None:
        self.outcomes[kind] += 1
        if sum(p.startswith(kind) for p in self.problems) < 3:
            self.problems.append(f"{kind}: {detail[:300]}")

    def in_fault(self, t: float) -> bool:
        return any(start <= t <= end for start, end in self.faults)


class Generator:
    """The request mix; each ``one`` call sends one request (two for a fallback) and checks the answer."""

    def __init__(self, http: httpx.AsyncClient, stats: Stats, rng: random.Random) -> None:
        self.http, self.stats, self.rng = http, stats, rng
        self.ids: deque[tuple[str, dict[str, Any]]] = deque(maxlen=4 * REGISTRY)  # recent: many evicted
        self.next_c = 0
        self.expect: dict[bytes, tuple[Any, list[Any]]] = {}

    def args_for(self, function: dict[str, Any]) -> list[Any]:
        r = self.rng
        if function is VEC:
            w, x = np.round(np.linspace(-1, 1, 4) * r.randint(1, 8), 3), np.arange(32.0).reshape(8, 4) / 32
            return [encode_tensor(w, "base64"), x.tolist()] if r.random() < 0.5 else [w.tolist(), x.tolist()]
        if function is HEAVY:
            return [r.randint(1, 8) / 8]
        return [r.randint(-8, 8) / 2 for _ in function["inputs"]]

    def check(self, function: dict[str, Any], args: list[Any], params: Any, answer: httpx.Response) -> None:
        key = orjson.dumps([function, args, params], option=orjson.OPT_SORT_KEYS)
        if key not in self.expect:
            self.expect[key] = expected(function, args, params)
        value, grads = self.expect[key]
        body = answer.json()
        ok = close(body["value"], value) and len(body["gradients"]) == len(grads) and all(
            close(g, w) for g, w in zip(body["gradients"], grads, strict=True))
        if not ok:
            self.stats.fail("wrong answer", f"{function} {args} -> {answer.text}")

    async def send(self, method: str, path: str, body: bytes | None = None) -> httpx.Response | None:
        start = time.monotonic()
        self.stats.outcomes["requests"] += 1
        try:
            r = await self.http.request(method, path, content=body, headers={"content-type": "application/json"})
        except httpx.TimeoutException as e:
            self.stats.fail("timeout", f"{method} {path}: {e!r}")
            return None
        except httpx.TransportError as e:
            if self.stats.in_fault(start) or self.stats.in_fault(time.monotonic()):
                self.stats.outcomes["connection failed in a fault window"] += 1
            else:
                self.stats.fail("connection error", f"{method} {path}: {e!r}")
            await asyncio.sleep(0.05)  # as a client would, rather than spin on a refused port
            return None
        if r.status_code >= 500 and r.status_code != 503:
            self.stats.fail("5xx", f"{method} {path}: {r.status_code} {r.text}")
        elif r.status_code == 503:
            self.stats.outcomes["503 shed"] += 1
            if not r.headers.get("retry-after"):
                self.stats.fail("503 without Retry-After", r.text)
        elif r.status_code < 300:
            self.stats.latencies.append(time.monotonic() - start)
            if self.stats.kill_time is not None and self.stats.first_answer_after_kill is None:
                self.stats.first_answer_after_kill = time.monotonic() - self.stats.kill_time
        return r

    async def evaluate(self, function: dict[str, Any], function_id: str | None = None) -> None:
        args = self.args_for(function)
        params = self.rng.choice([None, None, [0], [-1]])
        body = {"args": args, **({"params": params} if params is not None else {})}
        if function_id is not None:
            r = await self.send("POST", f"/v1/functions/{function_id}/value-and-gradients", orjson.dumps(body))
            if r is None or r.status_code != 404:
                self.account(r, function, args, params, "by id")
                return
            if r.json().get("code") != "unknown_function":
                self.stats.fail("unexpected status", r.text)
                return
            self.stats.outcomes["404 unknown_function, resent whole"] += 1
        r = await self.send("POST", URL, orjson.dumps({"function": function, **body}))
        self.account(r, function, args, params, "one-shot")

    def account(self, r: httpx.Response | None, function: dict[str, Any], args: list[Any], params: Any,
                kind: str) -> None:
        if r is None or r.status_code == 503 or r.status_code >= 500:
            return
        if r.status_code != 200:
            self.stats.fail("unexpected status", f"{kind} {r.status_code} {r.text}")
            return
        self.stats.outcomes[f"200 {kind}"] += 1
        self.check(function, args, params, r)

    async def register(self) -> None:
        self.next_c += 1
        function = {"inputs": ["x", "y"], "expression": f"x*x*x*y - x*y*y + {self.next_c}*x"}
        r = await self.send("POST", "/v1/functions", orjson.dumps({"function": function}))
        if r is not None and r.status_code in (200, 201):
            self.stats.outcomes["201/200 registered"] += 1
            self.ids.append((r.json()["id"], function))
            await self.evaluate(function, r.json()["id"])
        elif r is not None and r.status_code < 500 and r.status_code != 503:
            self.stats.fail("unexpected status", f"register {r.status_code} {r.text}")

    async def invalid(self) -> None:
        body, status, code = self.rng.choice(INVALID)
        r = await self.send("POST", URL, body)
        if r is None or r.status_code == 503:
            return
        if r.status_code != status or r.json().get("code") != code:
            self.stats.fail("wrong problem", f"{body[:60]!r}: {r.status_code} {r.text}")
        else:
            self.stats.outcomes["4xx as expected"] += 1

    async def one(self) -> None:
        roll = self.rng.random()
        if roll < 0.30:
            await self.evaluate(self.rng.choice([SEED, SEED, VEC, HEAVY]))
        elif roll < 0.42:
            await self.register()
        elif roll < 0.75 and self.ids:
            function_id, function = self.rng.choice(self.ids)
            await self.evaluate(function, function_id)
        elif roll < 0.80 and self.ids:
            r = await self.send("GET", f"/v1/functions/{self.rng.choice(self.ids)[0]}")
            if r is not None and r.status_code in (200, 404):
                self.stats.outcomes[f"{r.status_code} get function"] += 1
        else:
            await self.invalid()


async def generate(url: str, stats: Stats, until: float, connections: int, seed: int) -> None:
    """``connections`` loops of requests until the monotonic time ``until``."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        gen = Generator(http, stats, random.Random(seed))

        async def worker() -> None:
            while time.monotonic() < until:
                await gen.one()

        await asyncio.gather(*(worker() for _ in range(connections)))


class _CountingTransport(httpx.HTTPTransport):
    """What the SDK's HTTP client went through: statuses, and connection errors (which it retried)."""

    def __init__(self, seen: Counter[str]) -> None:
        super().__init__()
        self.seen = seen

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = super().handle_request(request)
        except httpx.TransportError:
            self.seen["connection errors retried"] += 1
            raise
        self.seen[str(response.status_code)] += 1
        return response


def sdk_loop(url: str, stats: Stats, stop: threading.Event, seed: int) -> None:
    """A user's program: a remote function called in a loop; every call must complete and be right."""
    import valgrad
    from valgrad._base import Backoff

    seen: Counter[str] = Counter()
    http = httpx.Client(timeout=30, transport=_CountingTransport(seen))
    client = valgrad.Client(url, http_client=http, max_retries=60, backoff=Backoff(base=0.05, cap=0.5))
    f = lambda w, x: np.sum(np.tanh(x @ w))
    remote, local = client.value_and_gradients_function(f, params=[0]), valgrad.value_and_gradients_function(f, [0])
    rng = np.random.default_rng(seed)
    while not stop.is_set():
        w, x = rng.normal(size=3), rng.normal(size=(4, 3))
        try:
            value, (dw,) = remote(w, x)
        except Exception as e:  # any failure of a call is what this loop exists to catch
            stats.fail("SDK call failed", repr(e))
            continue
        want_value, (want_dw,) = local(w, x)
        time.sleep(0.01)  # a program that does other work between calls: the generator is the load
        stats.outcomes["SDK calls completed"] += 1
        if not (np.allclose(value, want_value, rtol=1e-12) and np.allclose(dw, want_dw, rtol=1e-12)):
            stats.fail("SDK wrong answer", f"{value} {dw}")
    http.close()
    stats.outcomes["SDK: 404 unknown_function, resent whole"] += seen["404"]
    stats.outcomes["SDK: 503 shed, retried"] += seen["503"]
    stats.outcomes["SDK: connection errors retried"] += seen["connection errors retried"]
