"""Shared by the app tests: clients in-process and over uvicorn, the seed, and the problem-body check."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

with warnings.catch_warnings():  # Starlette suggests httpx2 for its TestClient; httpx is what we ship
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from app import Settings, create_app

__all__ = ["ROOT", "SEED", "LiveServer", "TestClient", "assert_problem", "free_port", "make_client", "start_server",
           "stop_server"]

SEED = {"inputs": ["x", "y"], "expression": "x*x*x*y - x*y*y"}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_client(**settings: Any) -> TestClient:
    """A TestClient over a fresh app with ``settings`` (not yet entered: use it in a ``with``); its evaluation
    workers start on demand, so an in-process test pays for none it does not use."""
    settings.setdefault("eval_warm_start", False)
    return TestClient(create_app(Settings(**settings)), raise_server_exceptions=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: str

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()


def start_server(tmp_dir: str, env: dict[str, str] | None = None, workers: int = 1,
                 uvicorn_args: Sequence[str] | None = None) -> LiveServer:
    """``valgrad serve`` (or plain ``uvicorn <uvicorn_args>``) on a free port of 127.0.0.1, ready on /readyz."""
    port = free_port()
    log_path = os.path.join(tmp_dir, f"server-{port}.log")
    full_env = {**{k: v for k, v in os.environ.items() if not k.startswith("VALGRAD_")}, **(env or {})}
    command = ["app.cli", "serve"] if uvicorn_args is None else ["uvicorn", *uvicorn_args]
    log = open(log_path, "wb")  # noqa: SIM115 - the server writes to it until teardown
    process = subprocess.Popen(
        [sys.executable, "-m", *command, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    server = LiveServer(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(server.url + "/readyz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_server(server)
    raise RuntimeError(f"server did not become ready:\n{server.log()}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def assert_problem(response: httpx.Response, status: int, code: str, pointer: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status`` and ``code`` (and ``pointer`` when given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:valgrad:problem:{code}"
    assert body["status"] == status and body["code"] == code
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in response.text
    if pointer is not None:
        assert body.get("pointer") == pointer, body
    return body
