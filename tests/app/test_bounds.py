"""Bounded by construction (issue 10): deadlines and memory caps per evaluation, protocol bounds, probes, disconnects.

Each test pins a defect of the issue and failed before its fix: an evaluation
ran as long and as large as it liked, bodies were buffered without a shared
bound or a deadline, half-sent request heads held their connections forever,
and a client that left mid-body was counted as a 500 with a traceback.
Deadlines and limits are small here so every test takes seconds.
"""

from __future__ import annotations

import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from app_support import assert_problem, make_client

from tests.support import ROOT, SEED, SEED_ARGS, SEED_VALUE, LiveServer, serve, slowdown, time_budget

URL = "/v1/value-and-gradients"
# Legitimate and statically cheap enough (well under the FLOP limit), but a second or more of NumPy work.
SLOW = {"function": {"inputs": ["x"], "expression": "sum(tanh(broadcast_to(x, shape=[4000, 4000])))"},
        "args": [[0.5] * 4000]}
BIG = {"function": {"inputs": ["x"], "expression": "sum(exp(broadcast_to(x, shape=[4000, 4000])))"},
       "args": [[0.5] * 4000]}  # a 128 MB intermediate, and its gradient's


def seed_ok(http: httpx.Client | object) -> bool:
    r = http.post(URL, json={"function": SEED, "args": SEED_ARGS})  # type: ignore[attr-defined]
    return bool(r.status_code == 200 and r.json()["value"] == SEED_VALUE)


def metric(text: str, name: str) -> float:
    return sum(float(v) for v in re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M))


# -- defects 1, 2, 5 (the service's backstop): deadline and memory cap -----------------------------------


@pytest.mark.slow  # kills an evaluation worker past its deadline and starts another: `make test`
def test_an_evaluation_past_its_deadline_is_stopped_and_the_server_goes_on() -> None:
    with make_client(eval_timeout_seconds=0.3) as c:
        with time_budget(10):  # the deadline plus starting a worker, not the evaluation's seconds
            r = c.post(URL, json=SLOW)
        assert_problem(r, 422, "deadline_exceeded")
        assert "VALGRAD_EVAL_TIMEOUT_SECONDS" in r.json()["detail"]
        assert seed_ok(c)
        small = c.post(URL, json={"function": {"inputs": ["x"], "expression": "sum(x * x)"}, "args": [[1.0] * 5000]})
        assert small.status_code == 200 and small.json()["value"] == 5000.0  # in a fresh worker
        text = c.get("/metrics").text
    assert metric(text, 'valgrad_eval_workers_ended_total{reason="deadline"}') == 1.0


@pytest.mark.slow  # an evaluation worker runs into its memory cap and another starts: `make test`
def test_an_evaluation_past_its_memory_cap_is_out_of_memory_and_the_server_goes_on() -> None:
    with make_client(eval_memory_bytes=64 << 20) as c:
        r = c.post(URL, json=BIG)
        assert_problem(r, 422, "out_of_memory")
        assert "VALGRAD_EVAL_MEMORY_BYTES" in r.json()["detail"]
        ok = c.post(URL, json={"function": {"inputs": ["x"], "expression": "sum(x * x)"}, "args": [[1.0] * 5000]})
        assert ok.status_code == 200 and ok.json()["gradients"] == [[2.0] * 5000]
        assert seed_ok(c)


def test_worker_answers_equal_in_process_answers() -> None:
    """The process hop changes nothing: list and base64 answers, params, dy and list outputs."""
    body = {"function": {"inputs": ["x", "y"], "expression": ["sum(x * y)", "x * 2"]},
            "args": [[1.5] * 3000, [2.0] * 3000], "dy": [1.0, [0.5] * 3000], "params": ["y", "x"]}
    with make_client() as pooled, make_client(eval_processes=False) as threaded:
        for encoding in ("list", "base64"):
            a = pooled.post(URL, json={**body, "encoding": encoding})
            b = threaded.post(URL, json={**body, "encoding": encoding})
            assert a.status_code == 200 and a.content == b.content


# -- defects 3, 7, 9: protocol bounds over a live server ------------------------------------------------------


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {"VALGRAD_HEADER_TIMEOUT_SECONDS": "1", "VALGRAD_BODY_TIMEOUT_SECONDS": "1",
           "VALGRAD_MAX_INFLIGHT_BODY_BYTES": "1000000", "VALGRAD_MAX_CONNECTIONS": "32"}
    with serve(env=env, log=tmp_path_factory.mktemp("bounded") / "server.log") as server:
        yield server


def connect(server: LiveServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    return s


def head(length: int, path: str = URL) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def closed_within(s: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing ``s`` within ``seconds`` (None if it is still open)."""
    s.settimeout(seconds)
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return data


@pytest.mark.slow
def test_half_sent_request_heads_and_silent_connections_are_closed(bounded: LiveServer) -> None:
    half, silent = connect(bounded), connect(bounded)
    half.sendall(b"POST /v1/value-and-gradients HTTP/1.1\r\nHost: t\r\n")
    assert closed_within(half, 8) == b""
    assert closed_within(silent, 8) == b""


@pytest.mark.slow
def test_connections_past_the_cap_evict_the_oldest_half_sent_heads(bounded: LiveServer) -> None:
    sockets = [connect(bounded) for _ in range(60)]
    for s in sockets:
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
    with time_budget(2):
        assert httpx.get(bounded.url + "/healthz", timeout=10).status_code == 200
    gone = sum(closed_within(s, 0.2) is not None for s in sockets[:20])
    assert gone == 20  # the oldest half-sent heads made room
    for s in sockets:
        s.close()


@pytest.mark.slow
def test_a_body_that_does_not_arrive_in_time_is_408(bounded: LiveServer) -> None:
    s = connect(bounded)
    s.sendall(head(100) + b'{"function"')
    answer = closed_within(s, 8)
    assert answer is not None and answer.startswith(b"HTTP/1.1 408"), answer
    assert b"request_timeout" in answer


@pytest.mark.slow
def test_bodies_in_flight_share_a_budget_503_before_reading(bounded: LiveServer) -> None:
    holder = connect(bounded)
    holder.sendall(head(900_000) + b"{")
    time.sleep(0.2)
    second = connect(bounded)
    second.sendall(head(200_000))  # the body is never sent: the answer must not wait for it
    answer = closed_within(second, 5)
    assert answer is not None and answer.startswith(b"HTTP/1.1 503"), answer
    assert b"retry-after" in answer.lower()
    holder.close()
    time.sleep(0.3)
    with httpx.Client(base_url=bounded.url, timeout=10) as http:
        assert seed_ok(http)


@pytest.mark.slow
def test_a_client_that_leaves_mid_body_is_logged_as_such_not_as_500(bounded: LiveServer) -> None:
    s = connect(bounded)
    s.sendall(head(1000) + b'{"function": ')
    time.sleep(0.3)
    s.close()
    time.sleep(0.5)
    text = httpx.get(bounded.url + "/metrics", timeout=10).text
    assert metric(text, 'valgrad_http_requests_total{method="POST",route="/v1/value-and-gradients",status="500"}') == 0
    assert metric(text, "valgrad_client_disconnects_total") >= 1
    assert metric(text, 'valgrad_http_requests_total{method="POST",route="/v1/value-and-gradients",status="499"}') >= 1
    log = bounded.log()
    assert "client disconnected" in log and "Traceback" not in log and "unhandled error" not in log


# -- defect 8: probes stay prompt under many small-evaluation clients -----------------------------------------


def probe_latencies(url: str, seconds: float) -> list[float]:
    """``/healthz`` on a fresh bare connection every 100 ms, from a process of its own (``bench.soak_hostile``),
    so neither the load's threads nor httpx's per-client TLS set-up are timed."""
    out = subprocess.run([sys.executable, "-m", "bench.soak_hostile", url, str(seconds)], cwd=ROOT,
                         capture_output=True, check=True, timeout=seconds + 60).stdout
    return [float(x) for x in out.split()]


@pytest.mark.slow
def test_health_answers_promptly_while_sixty_clients_send_small_evaluations(tmp_path: Path) -> None:
    """Probes used to queue behind every small evaluation: as slow as the clients' own requests."""
    stop = threading.Event()
    requests: list[float] = []

    def client(url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while not stop.is_set():
                start = time.perf_counter()
                http.post(URL, json={"function": SEED, "args": SEED_ARGS})
                requests.append(time.perf_counter() - start)

    with serve(env={"VALGRAD_ACCESS_LOG": "false"}, log=tmp_path / "server.log") as server:
        threads = [threading.Thread(target=client, args=(server.url,)) for _ in range(60)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)
            busy = probe_latencies(server.url, 4.0)
        finally:
            stop.set()
            for t in threads:
                t.join()
    p99 = sorted(busy)[int(0.99 * len(busy))]
    # 100 ms on a quiet machine, stretched by the machine's slowdown now; the clients share the cores here, so the
    # bound is at least twice the median latency of their own requests (before the fix, probes queued behind those
    # requests: 2-3 times it).
    assert p99 < max(0.1 * slowdown(), 2 * statistics.median(requests)), (p99, statistics.median(requests))
