"""Service benchmarks (issue 3) on loopback, against a bare FastAPI endpoint served the same way.

Throughput and latency come from wrk (Debian's ``wrk``) at 16 connections
when it is installed, else from an async httpx generator (slower: it
measures the client too, so ratios then understate the gap). The large
tensor round trip is timed from the Python client, encoding and decoding
included, against the engine's in-process time for the same call.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import orjson

import engine
from app.allocator import keep_freed_memory
from bench.report import step
from bench.servers import serve
from bench.timing import fmt_time, median_time, table
from bench.transport import FUNCTION, json_trip
from engine.codec import encode_tensor
from tests.support import SEED, SEED_ARGS

CONNECTIONS = 16
DURATION = 5.0
ROUNDS = 3
SEED_REQUEST = {"function": SEED, "args": SEED_ARGS}


def _wrk(url: str, body: bytes) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "post.lua")
        script.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = [[{body.decode()}]]\n"
        )
        out = subprocess.run(
            ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{int(DURATION)}s", "--latency", "-s", str(script), url],
            capture_output=True, text=True, check=True,
        ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": _wrk_latency(out, "50%"),
        "p99": _wrk_latency(out, "99%"),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def _wrk_latency(out: str, pct: str) -> float:
    value, unit = re.search(rf"{pct}\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


def _httpx_load(url: str, body: bytes) -> dict[str, float]:
    async def worker(client: httpx.AsyncClient, stop: float, lat: list[float], errs: list[int]) -> None:
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            r = await client.post(url, content=body, headers={"Content-Type": "application/json"})
            lat.append(time.perf_counter() - t0)
            errs.append(r.status_code >= 300)

    async def main() -> dict[str, float]:
        lat: list[float] = []
        errs: list[int] = []
        limits = httpx.Limits(max_connections=CONNECTIONS)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            start = time.perf_counter()
            stop = start + DURATION
            await asyncio.gather(*(worker(client, stop, lat, errs) for _ in range(CONNECTIONS)))
            elapsed = time.perf_counter() - start
        q = statistics.quantiles(lat, n=100)
        return {"rps": len(lat) / elapsed, "p50": q[49], "p99": q[98], "errors": float(sum(errs))}

    return asyncio.run(main())


def load(url: str, body: bytes) -> dict[str, float]:
    return _wrk(url, body) if shutil.which("wrk") else _httpx_load(url, body)


def _transfer_floor(base_url: str, x: np.ndarray) -> float:
    """Time to move the base64 round trip's bytes through bare FastAPI and httpx: what transport alone costs."""
    enc = encode_tensor(x, "base64")
    body = orjson.dumps({"function": FUNCTION, "args": [enc], "encoding": "base64"})
    size = len(orjson.dumps({"value": 0.0, "gradients": [enc], "params": ["x"]}))
    with httpx.Client(timeout=60) as client:
        return median_time(lambda: client.post(f"{base_url}/transfer?size={size}", content=body,
                                               headers={"Content-Type": "application/json"}).raise_for_status(),
                           repeats=5)


def _median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def run() -> str:
    keep_freed_memory()  # the server tunes its allocator so; the in-process baseline gets the same
    x = np.random.default_rng(0).standard_normal(1_000_000)
    with serve("bench.baseline_app:app") as base_url, serve("app.main:create_app", factory=True) as url:
        fid = httpx.post(url + "/v1/functions", json={"function": SEED}).json()["id"]
        targets = {
            "bare FastAPI constant (baseline)": (base_url + "/baseline", orjson.dumps(SEED_REQUEST)),
            "seed, one-shot": (url + "/v1/value-and-gradients", orjson.dumps(SEED_REQUEST)),
            "seed, registered": (f"{url}/v1/functions/{fid}/value-and-gradients",
                                 orjson.dumps({"args": SEED_ARGS})),
        }
        # Rounds interleave the three, so drift on a shared machine hits each alike; medians per metric.
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        for _ in range(ROUNDS):
            for name, (target, body) in targets.items():
                with step(f"http: {name}, {DURATION:.0f} s of load"):
                    runs[name].append(load(target, body))
        rows = [[name, _median_of(r)] for name, r in runs.items()]
        base = rows[0][1]
        transfer = _transfer_floor(base_url, x)
        graph = engine.load_function(FUNCTION)
        in_process = median_time(lambda: engine.value_and_gradients(graph, [x]), repeats=5)
        with httpx.Client(timeout=60) as client:
            trips = {enc: median_time(lambda enc=enc: json_trip(client, url + "/v1/value-and-gradients", x, enc),
                                      repeats=5) for enc in ("base64", "list")}
    tool = "wrk" if shutil.which("wrk") else "httpx (async)"
    lines = [
        f"## Service on loopback: {CONNECTIONS} connections, load from {tool}, median of {ROUNDS} interleaved "
        f"{DURATION:.0f} s runs", "",
        table(["request", "req/s", "vs baseline", "p50", "p99", "p99 vs baseline", "non-2xx"],
              [[name, f"{m['rps']:.0f}", f"{m['rps'] / base['rps']:.0%}", fmt_time(m["p50"]), fmt_time(m["p99"]),
                f"{m['p99'] / base['p99']:.2f}×", f"{m['errors']:.0f}"] for name, m in rows]),
        "", "Targets: registered ≥ 50% of baseline req/s, one-shot ≥ 30%, registered p99 ≤ 1.5× baseline p99.", "",
        "## 1e6-element round trip (client encode + HTTP + server + client decode) vs the engine in-process", "",
        table(["request", "round trip", "engine in-process", "ratio"],
              [[f"valgrad, {enc}", fmt_time(t), fmt_time(in_process), f"{t / in_process:.2f}×"]
               for enc, t in trips.items()]
              + [["bare FastAPI, the base64 request's bytes up and its response's bytes down (no JSON, no work)",
                  fmt_time(transfer), fmt_time(in_process), f"{transfer / in_process:.2f}×"]]),
        "", "Target: base64 ≤ 1.5× the in-process time.",
    ]
    return "\n".join(lines)
