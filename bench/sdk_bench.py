"""SDK benchmark (issue 4): per-call cost of a remote function against a raw httpx post of the same body.

Both run against one live server in the same run; the SDK call includes
argument encoding, the request, and decoding into arrays.
"""

from __future__ import annotations

import httpx
import orjson

import valgrad
from bench.servers import serve
from bench.timing import fmt_time, median_times, table
from tests.support import SEED, SEED_ARGS, SEED_GRADIENTS, SEED_VALUE, seed


def run() -> str:
    with (serve("app.main:create_app", factory=True) as url, valgrad.Client(url) as client,
          httpx.Client(base_url=url) as raw):
        g = client.value_and_gradients_function(seed)
        value, grads = g(*SEED_ARGS)
        assert float(value) == SEED_VALUE and [float(d) for d in grads] == SEED_GRADIENTS
        fid = client.register(SEED).id
        body = orjson.dumps({"args": SEED_ARGS, "params": [0, 1]})
        path = f"/v1/functions/{fid}/value-and-gradients"
        headers = {"Content-Type": "application/json"}
        t_raw, t_sdk = median_times([lambda: raw.post(path, content=body, headers=headers).raise_for_status(),
                                     lambda: g(*SEED_ARGS)], repeats=9)
    return "\n".join([
        "## SDK: registered seed call vs a raw httpx.Client.post of the same request (one live server)", "",
        table(["call", "median", "ratio"],
              [["raw httpx.Client.post", fmt_time(t_raw), "1.00×"],
               ["valgrad.Client remote function", fmt_time(t_sdk), f"{t_sdk / t_raw:.2f}×"]]),
        "", "Target: ≤ 1.2×.",
    ])
