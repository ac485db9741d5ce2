"""Servers on loopback for the HTTP and SDK benchmarks: the tests' launcher, with identical uvicorn settings."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tests import support

__all__ = ["serve"]

UVICORN_FLAGS = ["--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log"]


@contextlib.contextmanager
def serve(target: str, *, factory: bool = False, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``uvicorn target`` on a free loopback port; yield its base URL; stop it afterwards.

    valgrad's app is ready when ``/readyz`` says so; a bare FastAPI baseline when it serves its schema.
    """
    ready = "/readyz" if target.startswith("app.") else "/openapi.json"
    command = ["uvicorn", target, *UVICORN_FLAGS, *(["--factory"] if factory else [])]
    with support.serve(*command, env=env, ready=ready) as server:
        yield server.url
