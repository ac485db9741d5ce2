"""The 1e6-element round trip by wire encoding (issue 13), against the engine in-process and the transfer floor.

One run, one machine: the engine's in-process time for the call; the round
trip (client encode + HTTP + server + client decode) in MessagePack (raw
httpx and the SDK), base64 JSON and list JSON; and, for each encoding, the
floor: a bare FastAPI endpoint that reads the same request bytes and answers
the same number of response bytes, served alike (uvicorn, uvloop, httptools),
so what the transport itself costs is visible.
Timings interleave (``median_times``) so drift on a shared machine hits all
alike. ``python -m bench.transport``.
"""

from __future__ import annotations

from typing import Any

import httpx
import msgpack
import numpy as np
import orjson

import engine
import valgrad
from app.allocator import keep_freed_memory
from bench.servers import serve
from bench.timing import fmt_time, median_times, table
from engine.codec import decode_tensor, encode_tensor

N = 1_000_000
FUNCTION = {"inputs": ["x"], "expression": "sum(tanh(x)*exp(-x*x) + sin(x)**2)"}
MP = "application/msgpack"


def _binary(x: np.ndarray) -> dict[str, Any]:
    return {"dtype": "float64", "shape": list(x.shape), "data": x.data}


def _unbinary(obj: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(obj["data"], np.float64).reshape(obj["shape"])


def _msgpack_trip(http: httpx.Client, url: str, x: np.ndarray) -> Any:
    body = msgpack.packb({"function": FUNCTION, "args": [_binary(x)]})
    r = http.post(url, content=body, headers={"content-type": MP})
    r.raise_for_status()
    data = msgpack.unpackb(r.content)
    return _unbinary(data["value"]), _unbinary(data["gradients"][0])


def json_trip(http: httpx.Client, url: str, x: np.ndarray, encoding: str) -> Any:
    body = orjson.dumps({"function": FUNCTION, "args": [encode_tensor(x, encoding)], "encoding": encoding})
    r = http.post(url, content=body, headers={"content-type": "application/json"})
    r.raise_for_status()
    data = orjson.loads(r.content)
    return decode_tensor(data["value"]), decode_tensor(data["gradients"][0])


def _sizes(http: httpx.Client, url: str, x: np.ndarray) -> dict[str, tuple[bytes, int, str]]:
    """Per encoding: the request body, the response's size, and the request's media type."""
    out = {}
    body = msgpack.packb({"function": FUNCTION, "args": [_binary(x)]})
    out["msgpack"] = (body, len(http.post(url, content=body, headers={"content-type": MP}).content), MP)
    for enc in ("base64", "list"):
        body = orjson.dumps({"function": FUNCTION, "args": [encode_tensor(x, enc)], "encoding": enc})
        r = http.post(url, content=body, headers={"content-type": "application/json"})
        out[enc] = (body, len(r.content), "application/json")
    return out


def _mover(http: httpx.Client, base: str, body: bytes, size: int, media: str) -> Any:
    def move() -> None:
        http.post(f"{base}/transfer?size={size}", content=body, headers={"content-type": media}).raise_for_status()
    return move


def run() -> str:
    keep_freed_memory()
    x = np.random.default_rng(0).standard_normal(N)
    graph = engine.load_function(FUNCTION)
    # The compiled tier off: it would compile this function in the background mid-run (CPU the round trips
    # compete for), then run it faster than the in-process NumPy engine it is compared with.
    app_env = {"VALGRAD_COMPILED_ENABLED": "false"}
    with (serve("app.main:create_app", factory=True, env=app_env) as url, serve("bench.baseline_app:app") as base,
          httpx.Client(timeout=120) as http, valgrad.Client(url) as sdk, valgrad.Client(url, encoding="json") as sdk_j):
        one_shot = url + "/v1/value-and-gradients"
        handle = sdk.register(FUNCTION)
        sizes = _sizes(http, one_shot, x)
        calls = {
            "in-process": lambda: engine.value_and_gradients(graph, [x]),
            "msgpack (httpx)": lambda: _msgpack_trip(http, one_shot, x),
            "msgpack (SDK, registered)": lambda: sdk.value_and_gradients(handle, [x]),
            "base64 JSON (SDK, registered)": lambda: sdk_j.value_and_gradients(handle, [x]),
            "base64 JSON (httpx)": lambda: json_trip(http, one_shot, x, "base64"),
            "list JSON (httpx)": lambda: json_trip(http, one_shot, x, "list"),
            **{f"floor {enc}": _mover(http, base, *sizes[enc]) for enc in sizes},
        }
        # Every call interleaved with every other, the engine's too: a shared machine's drift hits all alike.
        times = dict(zip(calls, median_times(list(calls.values()), repeats=7), strict=True))
    in_process = times.pop("in-process")
    floors = {enc: times.pop(f"floor {enc}") for enc in sizes}
    trips = times
    rows = []
    for name, t in trips.items():
        enc = "msgpack" if name.startswith("msgpack") else "base64" if name.startswith("base64") else "list"
        body, size, _ = sizes[enc]
        rows.append([name, fmt_time(t), f"{len(body) / 1e6:.1f} / {size / 1e6:.1f} MB", f"{t / in_process:.2f}×",
                     fmt_time(floors[enc]), f"{t / (floors[enc] + in_process):.2f}×"])
    return "\n".join([
        f"## 1e6-element round trip by encoding vs the engine in-process ({fmt_time(in_process)}) and the transfer "
        "floor, one run", "",
        table(["round trip", "median", "request / response", "vs in-process", "floor (bare FastAPI, httptools)",
               "vs floor + engine"], rows),
        "",
        "Target: MessagePack ≤ 1.5× the in-process time, or within 10% of floor + engine (≤ 1.10×).",
    ])


if __name__ == "__main__":
    print(run())
