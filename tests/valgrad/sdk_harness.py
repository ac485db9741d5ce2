"""Test harness for the SDK: fresh in-process apps, round-robin balancers, comparisons (live servers and the seed:
tests.support)."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import numpy as np

import valgrad

__all__ = ["AsyncRoundRobin", "Retarget", "RoundRobin", "assert_same", "make_app"]


def make_app() -> Any:
    """A fresh app with its own function cache, as a separate replica would have; its evaluation workers start on
    demand, so a test pays for none it does not use."""
    from app.main import create_app
    from app.settings import Settings

    return create_app(Settings(access_log=False, eval_warm_start=False))


class RoundRobin(httpx.BaseTransport):
    """A strict per-request round-robin balancer: request n goes to server n mod k, whatever it is."""

    def __init__(self, urls: list[str]) -> None:
        self.targets = [httpx.URL(u) for u in urls]
        self.counter = itertools.count()
        self.log: list[tuple[int, str, str, int]] = []  # (server, method, path, status)
        self.inner = httpx.HTTPTransport()

    def pick(self, request: httpx.Request) -> int:
        i = next(self.counter) % len(self.targets)
        request.url = request.url.copy_with(host=self.targets[i].host, port=self.targets[i].port)
        return i

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        i = self.pick(request)
        try:
            response = self.inner.handle_request(request)
        except httpx.TransportError:
            self.log.append((i, request.method, request.url.path, 0))
            raise
        self.log.append((i, request.method, request.url.path, response.status_code))
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncRoundRobin(httpx.AsyncBaseTransport):
    """``RoundRobin`` over async transports (live servers or in-process ASGI apps)."""

    def __init__(self, transports: list[httpx.AsyncBaseTransport]) -> None:
        self.transports = transports
        self.counter = itertools.count()
        self.log: list[tuple[int, str, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        i = next(self.counter) % len(self.transports)
        response = await self.transports[i].handle_async_request(request)
        self.log.append((i, request.method, request.url.path, response.status_code))
        return response

    async def aclose(self) -> None:
        for t in self.transports:
            await t.aclose()


class Retarget(httpx.AsyncBaseTransport):
    """Send every request to one live server (used under ``AsyncRoundRobin``)."""

    def __init__(self, url: str) -> None:
        self.target = httpx.URL(url)
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(host=self.target.host, port=self.target.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def assert_same(local: Any, remote: Any) -> None:
    """Same structure, same shapes and dtypes, close values; Arrays with .numpy() on both sides."""
    assert type(local) is type(remote)
    if isinstance(local, dict):
        assert list(local) == list(remote)
        for k in local:
            assert_same(local[k], remote[k])
    elif isinstance(local, list | tuple):
        assert len(local) == len(remote)
        for a, b in zip(local, remote, strict=True):
            assert_same(a, b)
    elif local is None:
        assert remote is None
    else:
        assert isinstance(remote, valgrad.Array) and isinstance(remote.numpy(), np.ndarray)
        assert remote.shape == local.shape and remote.dtype == local.dtype
        rtol = 1e-5 if local.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(remote.numpy(), local.numpy(), rtol=rtol, atol=rtol)
