"""Batch benchmark (issue 12): the registered seed in batches of 1,000 vs single registered requests.

Both load the same live server at ``http_bench.CONNECTIONS`` connections with the
same generator (wrk when installed, else async httpx), interleaved; the batch's
evaluations per second are its requests per second times the batch size.
"""

from __future__ import annotations

import orjson

from bench.http_bench import CONNECTIONS, load
from bench.report import step
from bench.servers import serve
from bench.timing import table
from tests.support import SEED, SEED_ARGS, SEED_GRADIENTS

BATCH = 1000
ROUNDS = 2


def run() -> str:
    import httpx

    with serve("app.main:create_app", factory=True) as url:
        fid = httpx.post(url + "/v1/functions", json={"function": SEED}).json()["id"]
        base = f"{url}/v1/functions/{fid}"
        x, y = SEED_ARGS
        single = orjson.dumps({"args": SEED_ARGS})
        batch = orjson.dumps({"requests": [{"args": [x + i / BATCH, y]} for i in range(BATCH)]})
        check = httpx.post(base + "/batch/value-and-gradients", content=batch,
                           headers={"Content-Type": "application/json"}).json()["results"]
        assert len(check) == BATCH and check[0]["gradients"] == SEED_GRADIENTS
        singles, batches = [], []
        for _ in range(ROUNDS):  # interleaved, so drift on a shared machine hits both alike
            with step("batch: a round of single requests, then batches"):
                singles.append(load(base + "/value-and-gradients", single))
                batches.append(load(base + "/batch/value-and-gradients", batch))
    s = max(r["rps"] for r in singles)
    b = max(r["rps"] for r in batches) * BATCH
    errors = sum(r["errors"] for r in singles + batches)
    return "\n".join([
        f"## Batches: registered seed, {CONNECTIONS} connections, best of {ROUNDS} interleaved runs", "",
        table(["request", "evaluations/s", "ratio"],
              [["single registered requests", f"{s:.0f}", "1.0×"],
               [f"batches of {BATCH:,} (POST .../batch/value-and-gradients)", f"{b:.0f}", f"{b / s:.1f}×"]]),
        "", f"Target: ≥ 10×. Non-2xx responses: {errors:.0f}.",
    ])
