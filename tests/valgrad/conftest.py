"""Fixtures for SDK tests: the real app in-process and two live uvicorn servers."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import httpx
import pytest
from sdk_harness import LiveServer, make_app


@pytest.fixture
def testclient() -> Iterator[httpx.Client]:
    """The real app behind starlette's TestClient, an ``httpx.Client`` (so the sync SDK can use it)."""
    with warnings.catch_warnings():  # starlette suggests httpx2; the SDK is built on httpx, so keep it
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    with TestClient(make_app(), base_url="http://testserver") as client:
        yield client


@pytest.fixture(scope="session")
def live_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two independent service processes (separate caches), started in parallel."""
    logs = tmp_path_factory.mktemp("uvicorn")
    servers = (LiveServer(logs / "a.log"), LiveServer(logs / "b.log"))
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_healthy()
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="session")
def live(live_pair: tuple[LiveServer, LiveServer]) -> LiveServer:
    return live_pair[0]
