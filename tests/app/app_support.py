"""Shared by the app tests: the app in-process (TestClient) and the problem-body check.

Live servers and the seed are not here: they come from ``tests.support``, shared with the SDK tests and bench/.
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx

with warnings.catch_warnings():  # Starlette suggests httpx2 for its TestClient; httpx is what we ship
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from app import Settings, create_app

__all__ = ["TestClient", "assert_problem", "make_client"]


def make_client(**settings: Any) -> TestClient:
    """A TestClient over a fresh app with ``settings`` (not yet entered: use it in a ``with``); its evaluation
    workers start on demand, so an in-process test pays for none it does not use."""
    settings.setdefault("eval_warm_start", False)
    return TestClient(create_app(Settings(**settings)), raise_server_exceptions=False)


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
