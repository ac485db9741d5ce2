"""Fixtures for SDK tests: the real app in-process and two live uvicorn servers."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import httpx
import pytest
from sdk_harness import make_app

from tests.support import LiveServer


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
    """Two independent service processes (separate caches) under plain uvicorn, started in parallel."""
    logs = tmp_path_factory.mktemp("uvicorn")
    servers = tuple(LiveServer("uvicorn", "app.main:create_app", "--factory", "--log-level", "warning",
                               env={"VALGRAD_ACCESS_LOG": "false"}, log=logs / f"{name}.log") for name in "ab")
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_ready()
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.close()


@pytest.fixture(scope="session")
def live(live_pair: tuple[LiveServer, LiveServer]) -> LiveServer:
    return live_pair[0]
