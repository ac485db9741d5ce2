"""The soak test's hostile mix (issue 10), run alongside the valid traffic, and its health probe.

Each loop sends one kind of attack again and again: einsum chains whose
gradient costs far more than its forward pass, reduction fan-outs over a
broadcast view, bodies sent a byte at a time, half-open connections that
never finish their request head, and clients that leave mid-body. Every
answer must be a 4xx problem or a 503 with Retry-After (never another 5xx);
the server may close slow and half-open connections. The probe opens a fresh
connection to ``/healthz`` every 100 ms, from a process of its own.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import httpx
import orjson

from bench.soak_load import Stats

__all__ = ["HOSTILE_OK", "hostile", "probe", "probed"]

URL = "/v1/value-and-gradients"
HOSTILE_OK = {408, 413, 422, 503}


def _einsum_chain(n: int) -> bytes:
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ"
    subs = ",".join(letters[i] + letters[i + 1] for i in range(n)) + "->"
    args = ", ".join(f"x{i}" for i in range(n))
    return orjson.dumps({"function": {"inputs": [f"x{i}" for i in range(n)], "expression": f"einsum('{subs}', {args})"},
                         "args": [[[1.0, 0.5], [0.25, 1.0]]] * n})


def _fan_out(n: int) -> bytes:
    nodes = [{"id": "b", "op": "broadcast_to", "args": ["x"], "attrs": {"shape": [2**24]}}]
    nodes += [{"id": f"m{i}", "op": "max", "args": ["b"]} for i in range(n)]
    nodes += [{"id": "s", "op": "stack", "args": [f"m{i}" for i in range(n)]}, {"id": "t", "op": "sum", "args": ["s"]}]
    return orjson.dumps({"function": {"inputs": ["x"], "nodes": nodes, "outputs": "t"}, "args": [1.0]})


BODIES = [_einsum_chain(30), _fan_out(1100)]  # an hour and 314 s of CPU before issue 10


class Hostile:
    """The attack loops; outcomes go to ``stats`` under "hostile ..." names."""

    def __init__(self, url: str, stats: Stats) -> None:
        self.url, self.stats = url, stats
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)

    def count(self, status: int, headers: httpx.Headers | None = None, evaluates: bool = False) -> None:
        o = self.stats.outcomes
        if evaluates and status == 200:  # priced right and cheap to run after all: an answer is fine
            o["hostile evaluated (200)"] += 1
        elif status in HOSTILE_OK:
            o[f"hostile {status}"] += 1
            if status == 503 and headers is not None and not headers.get("retry-after"):
                self.stats.fail("503 without Retry-After", "hostile request")
        elif status >= 500:
            self.stats.fail("5xx", f"hostile request answered {status}")
        else:
            self.stats.fail("hostile request not refused", f"answered {status}")

    async def expensive(self, http: httpx.AsyncClient, body: bytes) -> None:
        try:
            r = await http.post(URL, content=body, headers={"content-type": "application/json"})
        except httpx.TransportError:
            self.stats.outcomes["hostile connection closed"] += 1
            return
        self.count(r.status_code, r.headers, evaluates=True)

    async def raw(self, data: bytes, then: float, close_early: bool) -> None:
        """Send ``data`` then wait ``then`` seconds (or just close, for a disconnect) and read what comes back."""
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            self.stats.outcomes["hostile connect refused"] += 1
            return
        try:
            writer.write(data)
            await writer.drain()
            if close_early:
                await asyncio.sleep(0.05)
                self.stats.outcomes["hostile disconnects mid-body"] += 1
                return
            answer = await asyncio.wait_for(reader.read(200), then)
            if answer.startswith(b"HTTP/1.1 "):
                self.count(int(answer[9:12]))
            else:
                self.stats.outcomes["hostile connection closed"] += 1
        except (TimeoutError, OSError):
            self.stats.outcomes["hostile connection still open"] += 1
        finally:
            writer.close()

    def head(self, length: int) -> bytes:
        return (f"POST {URL} HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n"
                f"Content-Length: {length}\r\n\r\n").encode()


async def hostile(url: str, stats: Stats, until: float) -> None:
    """Every attack loop until the monotonic time ``until``."""
    h = Hostile(url, stats)
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        loops: list[Callable[[], Awaitable[None]]] = [
            lambda: h.expensive(http, BODIES[0]),
            lambda: h.expensive(http, BODIES[1]),
            lambda: h.raw(h.head(10_000) + b'{"function": ', 30, False),  # a slow body: 408
            lambda: h.raw(b"POST /v1/value-and-gradients HTTP/1.1\r\nHost: soak\r\n", 30, False),  # half-open
            lambda: h.raw(h.head(10_000) + b'{"function": ', 0, True),  # leaves mid-body
        ]

        async def loop(step: Callable[[], Awaitable[None]], copies: int) -> None:
            async def one() -> None:
                while time.monotonic() < until:
                    await step()
                    await asyncio.sleep(0.05)
            await asyncio.gather(*(one() for _ in range(copies)))

        await asyncio.gather(loop(loops[0], 1), loop(loops[1], 1), loop(loops[2], 4), loop(loops[3], 50),
                             loop(loops[4], 2))


def probe(url: str, seconds: float) -> subprocess.Popen[bytes]:
    """Start the probe in a process of its own (so the load's event loops do not delay it); see ``probed``."""
    return subprocess.Popen([sys.executable, "-m", "bench.soak_hostile", url, str(seconds)], stdout=subprocess.PIPE)


def probed(proc: subprocess.Popen[bytes]) -> list[float]:
    """The probe's latencies in seconds (99 for a failed probe)."""
    out, _ = proc.communicate(timeout=120)
    return [float(x) for x in out.split()]


def _probe_loop(url: str, seconds: float) -> None:
    """``/healthz`` on a fresh connection every 100 ms; one latency per line."""
    host, port = url.removeprefix("http://").split(":")
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        start = time.perf_counter()
        try:  # a bare socket: httpx builds a TLS context per client, ~10 ms that are not the server's
            with socket.create_connection((host, int(port)), timeout=10) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
                ok = s.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            ok = False
        print(time.perf_counter() - start if ok else 99.0, flush=True)
        time.sleep(0.1)


if __name__ == "__main__":
    _probe_loop(sys.argv[1], float(sys.argv[2]))
