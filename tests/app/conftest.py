"""Fixtures: the app in-process (TestClient) and served by uvicorn on 127.0.0.1 (``valgrad serve``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from app_support import TestClient, make_client

from tests.support import LiveServer, serve


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with make_client() as c:
        yield c


@pytest.fixture
def client_with() -> Iterator[Callable[..., TestClient]]:
    """A factory of entered TestClients with given settings, all closed after the test."""
    opened: list[TestClient] = []

    def factory(**settings: Any) -> TestClient:
        c = make_client(**settings)
        c.__enter__()
        opened.append(c)
        return c

    yield factory
    for c in opened:
        c.__exit__(None, None, None)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The service with default settings, served by uvicorn (uvloop, httptools) in a subprocess."""
    with serve(log=tmp_path_factory.mktemp("live") / "server.log") as server:
        yield server


@pytest.fixture(scope="session")
def live_strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A served app with API keys, a single evaluation slot and no queue."""
    env = {"VALGRAD_API_KEYS": "k-one,k-two", "VALGRAD_MAX_CONCURRENCY": "1", "VALGRAD_MAX_QUEUE": "0",
           "VALGRAD_RETRY_AFTER_SECONDS": "2"}
    with serve(env=env, log=tmp_path_factory.mktemp("strict") / "server.log") as server:
        yield server


