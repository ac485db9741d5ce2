"""Two replicas behind round-robin nginx, sharing registrations through Redis (deploy/compose.yaml).

A function registered once through the load balancer lands on one replica; the other reads it from
the shared store, so plain HTTP calls by id succeed on every replica. A function only one replica
holds (evaluated one-shot, which is never shared) still gets 404 unknown_function on the other, and
the client completes that call in one shot with the whole function. Skipped where no Docker daemon
answers or no compose CLI is installed (scripts/docker_smoke.sh runs it with a daemon it starts,
and sets VALGRAD_COMPOSE_REQUIRE=1 so that it cannot skip there).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from engine import load_function
from tests.support import ROOT, SEED, SEED_ANSWER, SEED_ARGS, SEED_GRADIENTS, SEED_VALUE, free_port, seed, wait_ready

pytestmark = pytest.mark.slow  # builds images and runs compose (skipped without a Docker daemon)

COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
CALLS = 40
# Functions of their own, so that each test's outcome does not depend on what the others registered.
SHARED: dict[str, Any] = {"inputs": ["x", "y"], "expression": "2*(x*x*x*y - x*y*y)"}
SHARED_ANSWER = {"value": 2 * SEED_VALUE, "gradients": [2 * g for g in SEED_GRADIENTS], "params": ["x", "y"]}
# Only ever evaluated one-shot, never registered: so never in the store.
ONE_SHOT: dict[str, Any] = {"inputs": ["x", "y"], "expression": "x*y*y - x*x*x*y"}
ONE_SHOT_ANSWER = {"value": -SEED_VALUE, "gradients": [-g for g in SEED_GRADIENTS], "params": ["x", "y"]}


def unavailable(reason: str) -> None:
    if os.environ.get("VALGRAD_COMPOSE_REQUIRE") == "1":
        pytest.fail(f"the compose demo is required here but {reason}")
    pytest.skip(reason)


def compose_command() -> list[str]:
    if shutil.which("docker") is None:
        unavailable("no docker CLI")
    if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode != 0:
        unavailable("no Docker daemon answers (scripts/docker_smoke.sh starts one)")
    if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    unavailable("neither `docker compose` nor docker-compose is installed")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def lb_url() -> Iterator[str]:
    """The load balancer's URL, with both replicas healthy behind it; torn down afterwards."""
    base_cmd = compose_command()
    if os.environ.get("VALGRAD_COMPOSE_SKIP_BUILD") != "1":
        build = subprocess.run(["bash", str(ROOT / "scripts" / "docker_smoke.sh"), "build"],
                               capture_output=True, text=True, timeout=1800)
        assert build.returncode == 0, build.stderr[-3000:]
    port = free_port()
    env = {**os.environ, "VALGRAD_LB_PORT": str(port)}
    cmd = [*base_cmd, "--project-name", f"valgrad-demo-{os.getpid()}", "--file", str(COMPOSE_FILE)]
    try:
        up = subprocess.run([*cmd, "up", "--detach", "--no-build"], capture_output=True, text=True,
                            env=env, timeout=300)
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, "/healthz", timeout=120)  # the load balancer's answer: one of the replicas is healthy
        yield url
    finally:
        logs = subprocess.run([*cmd, "logs", "--tail", "20"], capture_output=True, text=True, env=env, timeout=60)
        print(logs.stdout[-4000:])
        subprocess.run([*cmd, "down", "--volumes", "--remove-orphans", "--timeout", "10"],
                       capture_output=True, env=env, timeout=180)


def evaluate(client: httpx.Client, function: dict[str, Any], function_id: str) -> list[httpx.Response]:
    """One call on a function by id, falling back to one shot on unknown_function; every reply."""
    reply = client.post(f"/v1/functions/{function_id}/value-and-gradients", json={"args": SEED_ARGS})
    if reply.status_code == 404 and reply.json().get("code") == "unknown_function":
        return [reply, client.post("/v1/value-and-gradients", json={"function": function, "args": SEED_ARGS})]
    return [reply]


def store_hits(client: httpx.Client) -> dict[str, float]:
    """Each replica's count of functions it read from the shared store, by upstream address."""
    hits: dict[str, float] = {}
    for _ in range(10):  # round-robin: a few scrapes reach both replicas
        reply = client.get("/metrics")
        assert reply.status_code == 200, reply.text
        assert re.search(r"^valgrad_function_store_up 1\.0$", reply.text, re.M), "the store should be up"
        found = re.search(r'^valgrad_function_store_operations_total\{operation="get",result="hit"\} (\S+)$',
                          reply.text, re.M)
        hits[reply.headers["x-valgrad-upstream"]] = float(found.group(1)) if found else 0.0
        if len(hits) == 2:
            break
    return hits


def test_function_registered_on_one_replica_is_served_by_every_replica(lb_url: str) -> None:
    # Plain HTTP, no SDK and no resend: the replica that did not take the registration reads the store.
    with httpx.Client(base_url=lb_url, timeout=30) as client:
        registered = client.post("/v1/functions", json={"function": SHARED})
        assert registered.status_code == 201, registered.text
        registrar = registered.headers["x-valgrad-upstream"]
        function_id = registered.json()["id"]
        upstreams: set[str] = set()
        for _ in range(CALLS):
            reply = client.post(f"/v1/functions/{function_id}/value-and-gradients", json={"args": SEED_ARGS})
            assert reply.status_code == 200, reply.text
            assert reply.json() == SHARED_ANSWER
            upstreams.add(reply.headers["x-valgrad-upstream"])
        assert len(upstreams) == 2, f"both replicas should have been reached: {upstreams}"
        hits = store_hits(client)
    (other,) = upstreams - {registrar}
    assert hits.get(other, 0.0) >= 1, f"the other replica should have read the function from Redis: {hits}"


def test_function_held_by_one_replica_only_is_completed_by_the_one_shot_fallback(lb_url: str) -> None:
    # A one-shot evaluation caches the function on the replica that ran it and shares it with no one.
    function_id = load_function(ONE_SHOT).id
    with httpx.Client(base_url=lb_url, timeout=30) as client:
        first = client.post("/v1/value-and-gradients", json={"function": ONE_SHOT, "args": SEED_ARGS})
        assert first.status_code == 200, first.text
        upstreams: set[str] = set()
        fallbacks = 0
        for _ in range(CALLS):
            replies = evaluate(client, ONE_SHOT, function_id)
            answer = replies[-1]
            assert answer.status_code == 200, answer.text
            assert answer.json() == ONE_SHOT_ANSWER
            upstreams.update(r.headers["x-valgrad-upstream"] for r in replies)
            fallbacks += len(replies) - 1
    print(f"{CALLS} calls through the load balancer, {fallbacks} completed by the one-shot fallback")
    assert len(upstreams) == 2, f"both replicas should have been reached: {upstreams}"
    # Round-robin sends calls by id to the replica that lacks the function, and the store has no copy.
    assert fallbacks >= 1


def test_function_id_is_the_same_on_both_replicas(lb_url: str) -> None:
    # Content addressing: whichever replica registers it, the id is the same, and names the same function.
    with httpx.Client(base_url=lb_url, timeout=30) as client:
        registered = [client.post("/v1/functions", json={"function": SEED}) for _ in range(4)]
        assert len({r.headers["x-valgrad-upstream"] for r in registered}) == 2
        (function_id,) = {r.json()["id"] for r in registered}
        answers = [client.post(f"/v1/functions/{function_id}/value-and-gradients", json={"args": SEED_ARGS})
                   for _ in range(2)]
    assert [a.json() for a in answers] == [SEED_ANSWER, SEED_ANSWER]


def test_sdk_client_evaluates_through_the_load_balancer(lb_url: str) -> None:
    valgrad = pytest.importorskip("valgrad")
    if not hasattr(valgrad, "Client"):
        pytest.skip("valgrad.Client is not available")
    with valgrad.Client(lb_url) as client:
        g = client.value_and_gradients_function(seed)
        for _ in range(CALLS):
            value, grads = g(*SEED_ARGS)
            assert float(value) == SEED_VALUE and [float(d) for d in grads] == SEED_GRADIENTS
