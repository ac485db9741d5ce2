"""Every endpoint over real HTTP: uvicorn (uvloop, httptools) started by ``valgrad serve``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pybase64
import pytest
from app_support import assert_problem

from tests.support import ROOT, SEED, SEED_ANSWER, SEED_ARGS, SEED_GRADIENTS, LiveServer, serve

pytestmark = pytest.mark.slow  # every test talks to a uvicorn subprocess


@pytest.fixture
def http(live: LiveServer) -> Any:
    with httpx.Client(base_url=live.url, timeout=30) as c:
        yield c


def test_seed_over_http(http: httpx.Client) -> None:
    r = http.post("/v1/value-and-gradients", json={"function": SEED, "args": SEED_ARGS})
    assert r.json() == SEED_ANSWER
    for params in ([1], ["y"]):
        r = http.post("/v1/value-and-gradients", json={"function": SEED, "args": SEED_ARGS, "params": params})
        assert r.json()["gradients"] == SEED_GRADIENTS[1:]
    r = http.post("/v1/value-and-gradients", json={"function": SEED, "args": SEED_ARGS, "params": [0, "y"]})
    assert assert_problem(r, 422, "invalid_params")["detail"] == \
        "params must be all strings or all integers; got [0, 'y']."


def test_registered_function_round_trip_over_http(http: httpx.Client) -> None:
    created = http.post("/v1/functions", json={"function": {"inputs": ["w"], "expression": "sum(w * w)"}})
    assert created.status_code in (200, 201)
    fid = created.json()["id"]
    assert http.get(f"/v1/functions/{fid}").json()["version"] == 1
    r = http.post(f"/v1/functions/{fid}/value-and-gradients", json={"args": [[1.0, 2.0]]})
    assert r.json() == {"value": 5.0, "gradients": [[2.0, 4.0]], "params": ["w"]}


def test_probes_ops_and_metrics_over_http(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/readyz").json() == {"status": "ready"}
    ops = http.get("/v1/ops").json()
    names = {op["name"] for op in ops["ops"]}
    assert {"add", "multiply", "matmul", "sum"} <= names and not any(n.startswith("_") for n in names)
    assert "valgrad_http_requests_total" in http.get("/metrics").text


def test_million_element_base64_round_trip_over_http(http: httpx.Client) -> None:
    x = np.random.default_rng(0).standard_normal(10**6)
    arg = {"dtype": "float64", "shape": [10**6], "data": pybase64.b64encode(x.tobytes()).decode()}
    body = orjson.dumps({"function": {"inputs": ["x"], "expression": "x * x"}, "args": [arg]})
    r = http.post("/v1/value-and-gradients", content=body, headers={"content-type": "application/json"})
    out = orjson.loads(r.content)
    value = np.frombuffer(pybase64.b64decode(out["value"]["data"]), dtype="<f8")
    grad = np.frombuffer(pybase64.b64decode(out["gradients"][0]["data"]), dtype="<f8")
    assert value.tobytes() == (x * x).tobytes() and grad.tobytes() == (2 * x).tobytes()


def test_two_workers_serve_and_report_metrics_together(tmp_path: Path) -> None:
    with serve("app.cli", "serve", "--workers", "2", env={"VALGRAD_ACCESS_LOG": "false"},
               log=tmp_path / "server.log") as server, httpx.Client(base_url=server.url, timeout=30) as c:
        for _ in range(8):  # new connections spread over both workers
            assert httpx.post(server.url + "/v1/value-and-gradients", timeout=30,
                              json={"function": SEED, "args": SEED_ARGS}).status_code == 200
        text = c.get("/metrics").text
    line = next(x for x in text.splitlines() if x.startswith("valgrad_http_requests_total{")
                and 'route="/v1/value-and-gradients"' in x)
    assert float(line.rsplit(" ", 1)[1]) == 8.0  # summed over workers whichever one answered the scrape


def test_cli_help_lists_serve_options() -> None:
    out = subprocess.run([sys.executable, "-m", "app.cli", "serve", "--help"], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60).stdout
    assert all(flag in out for flag in ("--host", "--port", "--workers"))
