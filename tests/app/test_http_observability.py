"""Metrics, request ids, JSON logs and CORS."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from app_support import TestClient
from fastapi import FastAPI

from app.access import JSONFormatter
from tests.support import SEED, SEED_ARGS, LiveServer, serve


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123.x"}).headers["x-request-id"] == "abc-123.x"
    generated = client.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    unsafe = client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe)


def test_errors_carry_the_request_id(client: TestClient) -> None:
    r = client.post("/v1/value-and-gradients", json={"args": [1]}, headers={"X-Request-ID": "req-7"})
    assert r.status_code == 422 and r.headers["x-request-id"] == "req-7"


def test_metrics_count_requests_by_route_template_and_status(client_with: Callable[..., TestClient]) -> None:
    c = client_with()
    fid = c.post("/v1/functions", json={"function": SEED}).json()["id"]
    c.post(f"/v1/functions/{fid}/value-and-gradients", json={"args": SEED_ARGS})
    c.get("/v1/functions/sha256:" + "1" * 64)
    r = c.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    for line in [
        'valgrad_http_requests_total{method="POST",route="/v1/functions",status="201"} 1.0',
        'valgrad_http_requests_total{method="POST",route="/v1/functions/{function_id}/value-and-gradients",'
        'status="200"} 1.0',
        'valgrad_http_requests_total{method="GET",route="/v1/functions/{function_id}",status="404"} 1.0',
        "valgrad_registry_functions 1.0", "valgrad_registry_hits_total 1.0", "valgrad_registry_misses_total 1.0",
        "valgrad_nodes_evaluated_total 6.0",
        'valgrad_evaluation_seconds_count{endpoint="evaluate"} 1.0',
    ]:
        assert line in text, line
    assert "valgrad_http_request_duration_seconds_bucket" in text


def test_access_log_is_one_json_line_with_request_id(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="valgrad.access"):
        client.post("/v1/value-and-gradients", json={"function": SEED, "args": SEED_ARGS},
                    headers={"X-Request-ID": "r1"})
    record = next(r for r in caplog.records if r.name == "valgrad.access")
    line = json.loads(JSONFormatter().format(record))
    assert line["request_id"] == "r1" and line["status"] == 200 and line["route"] == "/v1/value-and-gradients"
    assert line["method"] == "POST" and line["duration_ms"] >= 0 and "\n" not in JSONFormatter().format(record)


def test_access_log_can_be_switched_off(client_with: Callable[..., TestClient],
                                          caplog: pytest.LogCaptureFixture) -> None:
    c = client_with(access_log=False)
    with caplog.at_level(logging.INFO, logger="valgrad.access"):
        c.get("/healthz")
    assert not [r for r in caplog.records if r.name == "valgrad.access"]


def test_cors_allows_configured_origins_only(client_with: Callable[..., TestClient]) -> None:
    c = client_with(cors_origins=["https://app.example"])
    ok = c.options("/v1/value-and-gradients", headers={"Origin": "https://app.example",
                                                       "Access-Control-Request-Method": "POST"})
    other = c.get("/healthz", headers={"Origin": "https://evil.example"})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in other.headers


def test_no_cors_headers_by_default(client: TestClient) -> None:
    r = client.get("/healthz", headers={"Origin": "https://app.example"})
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.slow
def test_live_server_writes_json_logs(live: LiveServer) -> None:
    httpx.get(live.url + "/healthz", headers={"X-Request-ID": "live-log-1"}, timeout=10)
    deadline = time.monotonic() + 10  # the line is written just after the response is sent
    while '"live-log-1"' not in live.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [json.loads(line) for line in live.log().splitlines() if line.strip()]  # every line is JSON
    assert any(entry.get("request_id") == "live-log-1" and entry["status"] == 200 for entry in lines)


@pytest.mark.slow
@pytest.mark.parametrize("target", [["app.main:app"], ["app.main:create_app", "--factory"]], ids=["app", "factory"])
def test_plain_uvicorn_writes_json_access_logs(tmp_path: Path, target: list[str]) -> None:
    """Logging is configured where the app is built, so any ASGI server gets access lines with request ids."""
    with serve("uvicorn", *target, log=tmp_path / "server.log") as server:
        httpx.get(server.url + "/healthz", headers={"X-Request-ID": "plain-uvicorn-1"}, timeout=10)
        deadline = time.monotonic() + 10  # the line is written just after the response is sent
        while '"plain-uvicorn-1"' not in server.log() and time.monotonic() < deadline:
            time.sleep(0.05)
    lines = [json.loads(line) for line in server.log().splitlines() if line.strip()]  # every line is JSON
    assert any(entry.get("request_id") == "plain-uvicorn-1" and entry["logger"] == "valgrad.access"
               and entry["status"] == 200 for entry in lines), server.log()


def test_module_app_is_built_on_first_access_and_listed() -> None:
    import app.main

    assert "app" in dir(app.main)  # what ``fastapi run`` looks for
    assert isinstance(app.main.app, FastAPI) and app.main.app is app.main.app
    with pytest.raises(AttributeError):
        app.main.not_there
