"""The shared function store against a real redis-server: register on one replica, call another; outages.

Each test starts Debian's ``redis-server`` on a free port of 127.0.0.1 (no
persistence) and stops it by PID. The store is an accelerator: with Redis
gone, held functions are served, unknown ones are 404 and nothing is a 5xx;
when it is back, sharing resumes without a restart.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from app_support import TestClient, assert_problem

from app.store import KEY_PREFIX
from tests.support import SEED, SEED_ARGS, SEED_GRADIENTS, SEED_VALUE, free_port, serve, time_budget

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")
EVAL = "/v1/functions/{}/value-and-gradients"
OTHER = {"inputs": ["x"], "expression": "x * x * 7"}


class RedisServer:
    """One ``redis-server`` process on a fixed free port, restartable (empty after a restart: no persistence)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--protected-mode", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


@pytest.fixture
def store() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def replicas(store: RedisServer, client_with: Callable[..., TestClient]) -> tuple[TestClient, TestClient]:
    """Two apps (separate caches) sharing one store."""
    def one() -> TestClient:
        return client_with(function_store=store.url, function_store_timeout_seconds=0.2)
    return one(), one()


def register(c: TestClient, function: Any = SEED) -> str:
    r = c.post("/v1/functions", json={"function": function})
    assert r.status_code in (200, 201), r.text
    fid: str = r.json()["id"]
    return fid


def store_metrics(c: TestClient) -> dict[str, float]:
    out = {}
    for line in c.get("/metrics").text.splitlines():
        if line.startswith("valgrad_function_store"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_register_on_one_replica_call_on_another(replicas: tuple[TestClient, TestClient], store: RedisServer) -> None:
    a, b = replicas
    fid = register(a)
    assert store.client().ttl(KEY_PREFIX + fid) > 0
    r = b.post(EVAL.format(fid), json={"args": SEED_ARGS})
    assert r.status_code == 200 and r.json()["gradients"] == SEED_GRADIENTS
    assert b.get(f"/v1/functions/{fid}").json() == a.get(f"/v1/functions/{fid}").json()
    assert_problem(b.post(EVAL.format("sha256:" + "1" * 64), json={"args": [1]}), 404, "unknown_function")
    metrics = store_metrics(b)
    assert metrics['valgrad_function_store_operations_total{operation="get",result="hit"}'] == 1
    assert metrics['valgrad_function_store_operations_total{operation="get",result="miss"}'] == 1
    assert metrics["valgrad_function_store_up"] == 1


@pytest.mark.slow  # restarts redis-server and waits out the store's backoff: `make test`
def test_an_outage_is_never_a_server_error_and_heals(replicas: tuple[TestClient, TestClient],
                                                     store: RedisServer) -> None:
    a, b = replicas
    held = register(a)
    assert b.post(EVAL.format(held), json={"args": SEED_ARGS}).status_code == 200  # now held by b too
    store.stop()
    during = register(a, OTHER)  # registration works; sharing is deferred
    with time_budget(2):  # during the backoff the store is skipped at once
        assert b.post(EVAL.format(held), json={"args": SEED_ARGS}).status_code == 200
        assert_problem(b.post(EVAL.format(during), json={"args": [2]}), 404, "unknown_function")
        for _ in range(20):
            assert b.post(EVAL.format("sha256:" + "2" * 64), json={"args": [1]}).status_code == 404
    assert store_metrics(b)["valgrad_function_store_up"] == 0
    store.start()  # empty: no persistence
    deadline = time.monotonic() + 15
    while b.post(EVAL.format(during), json={"args": [2]}).status_code != 200:  # a's deferred write, then b's read
        assert time.monotonic() < deadline, "sharing did not resume"
        register(a, {"inputs": ["x"], "expression": "x + 1"})  # a notices the store is back and flushes
        time.sleep(0.2)
    fresh = register(a, {"inputs": ["x"], "expression": "x * 3"})
    assert b.post(EVAL.format(fresh), json={"args": [2]}).json()["gradients"] == [3.0]
    assert store_metrics(b)["valgrad_function_store_up"] == 1


def test_corrupt_and_foreign_entries_are_ignored(replicas: tuple[TestClient, TestClient],
                                                 store: RedisServer) -> None:
    a, b = replicas
    fid, other = register(a), register(a, OTHER)
    r = store.client()
    r.set(KEY_PREFIX + other, a.get(f"/v1/functions/{fid}").content)  # a valid function, but not this id's
    r.set(KEY_PREFIX + fid, b'{"inputs": ["x"], "nodes": [')  # truncated
    for bad in (fid, other):
        assert_problem(b.post(EVAL.format(bad), json={"args": SEED_ARGS}), 404, "unknown_function")
    assert store_metrics(b)['valgrad_function_store_operations_total{operation="get",result="invalid"}'] == 2
    assert a.post(EVAL.format(fid), json={"args": SEED_ARGS}).status_code == 200  # a's own cache is unaffected


def test_no_store_configured_means_no_store_metrics(client: TestClient) -> None:
    assert "valgrad_function_store" not in client.get("/metrics").text


def test_unreachable_store_from_the_start(client_with: Callable[..., TestClient]) -> None:
    c = client_with(function_store=f"redis://127.0.0.1:{free_port()}/0", function_store_timeout_seconds=0.2)
    fid = register(c)
    assert c.post(EVAL.format(fid), json={"args": SEED_ARGS}).status_code == 200
    assert_problem(c.post(EVAL.format("sha256:" + "3" * 64), json={"args": [1]}), 404, "unknown_function")


@pytest.mark.slow
def test_live_replicas_share_over_raw_http(store: RedisServer, tmp_path: Path) -> None:
    env = {"VALGRAD_FUNCTION_STORE": store.url, "VALGRAD_ACCESS_LOG": "false"}
    with serve(env=env, log=tmp_path / "a.log") as a, serve(env=env, log=tmp_path / "b.log") as b:
        fid = httpx.post(a.url + "/v1/functions", json={"function": SEED}).json()["id"]
        r = httpx.post(b.url + EVAL.format(fid), json={"args": SEED_ARGS})
        assert r.status_code == 200 and r.json()["value"] == SEED_VALUE
